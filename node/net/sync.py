"""The `/troth/sync/1` stream protocol: length-prefixed frames with deadlines.

Theory of operation
-------------------
A sync stream carries frames `unsigned-varint(length) || bytes` (minimal
varint, libp2p's usual framing), at most `FRAME_SIZE_MAX_BYTES` each; what the
bytes mean is wire/frames.py's business, not this module's. Reading is
defensive because the length comes from a peer: it is checked before any byte
of the body is read, and the body is read in the chunks that arrive, never
allocated up front. Every frame must arrive, and every write finish, within
its deadline, so a slow or silent peer cannot hold a task. After any failure
the stream is reset and stays unusable: a framed byte stream cannot be
resynchronised. py-libp2p's stream exceptions end here, as `P2PError`s.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio
from libp2p.abc import INetStream
from libp2p.network.stream.exceptions import StreamEOF, StreamReset

from wire.limits import FRAME_SIZE_MAX_BYTES

from .errors import FrameTimeout, FrameTooLarge, MalformedFrame, StreamClosed, StreamFailed

__all__ = [
    "SyncStream", "SyncHandler", "encode_frame_prefix",
    "SYNC_PROTOCOL", "FRAME_SIZE_MAX_BYTES", "FRAME_READ_TIMEOUT_S", "FRAME_WRITE_TIMEOUT_S",
    "SYNC_STREAMS_INBOUND_MAX", "STREAM_OPEN_TIMEOUT_S", "CLOSE_TIMEOUT_S",
]

logger = logging.getLogger(__name__)

SYNC_PROTOCOL = "/troth/sync/1"

# FRAME_SIZE_MAX_BYTES, the largest frame, is wire/limits.py's (pure constants,
# not the codec): one number for the transport and wire/frames.py alike.
# A varint of 5 bytes carries 35 bits: more than enough to *report* an oversize
# length; a sixth continuation byte is garbage, not a length.
_VARINT_BYTES_MAX = 5
# A frame (prefix and body) must arrive within this; a slow or silent peer
# cannot hold a sync task longer. 1 MiB on loopback takes ~10 ms.
FRAME_READ_TIMEOUT_S = 10.0
FRAME_WRITE_TIMEOUT_S = 10.0
# Concurrent inbound sync streams per node: anti-entropy needs one or two per
# peer; more is a peer misbehaving, and each costs a task and up to 1 MiB.
SYNC_STREAMS_INBOUND_MAX = 64
STREAM_OPEN_TIMEOUT_S = 10.0
# Closing the host: connections get 1 s each in py-libp2p; bound the whole.
CLOSE_TIMEOUT_S = 5.0


def encode_frame_prefix(length: int) -> bytes:
    """Minimal unsigned-varint encoding of a frame length."""
    if length < 0:
        raise ValueError(f"negative frame length {length}")
    out = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class SyncStream:
    """One `/troth/sync/1` stream: length-prefixed frames with deadlines.

    After a `FrameTooLarge`, `MalformedFrame`, `FrameTimeout` or `StreamFailed`
    the stream is reset and every later call raises `StreamFailed`: a framed
    byte stream cannot be resynchronised. A reset sent by the peer may surface
    as `StreamClosed` (py-libp2p's yamux forgets a reset stream and then reports
    EOF), so `StreamClosed` where a reply was due is a failure too.
    """

    __slots__ = ("peer_id", "_stream", "_frame_size_max_bytes", "_broken", "_eof")

    def __init__(self, stream: INetStream, peer_id: str,
                 frame_size_max_bytes: int = FRAME_SIZE_MAX_BYTES) -> None:
        self.peer_id = peer_id
        self._stream = stream
        self._frame_size_max_bytes = frame_size_max_bytes
        self._broken: str | None = None
        self._eof = False  # the peer half-closed: no more frames to read, we may still write

    async def send_frame(self, data: bytes, *, timeout_s: float = FRAME_WRITE_TIMEOUT_S) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"frame must be bytes, got {type(data).__name__}")
        if len(data) > self._frame_size_max_bytes:
            raise ValueError(
                f"frame of {len(data)} bytes > limit {self._frame_size_max_bytes}")
        await self._write(encode_frame_prefix(len(data)) + bytes(data), timeout_s)

    async def receive_frame(self, *, timeout_s: float = FRAME_READ_TIMEOUT_S) -> bytes:
        """The next frame; `StreamClosed` if the peer finished cleanly instead."""
        self._check_usable()
        body = bytearray()
        progress = [0]  # bytes of this frame consumed so far (prefix + body)
        if self._eof:
            raise StreamClosed()
        with trio.move_on_after(timeout_s) as scope:
            length = await self._read_prefix(progress)
            if length > self._frame_size_max_bytes:
                await self._fail("frame-too-large")
                raise FrameTooLarge(length, self._frame_size_max_bytes)
            # Grows only as bytes arrive: a lying length costs us nothing.
            while len(body) < length:
                chunk = await self._read_some(length - len(body), progress)
                body += chunk
                progress[0] += len(chunk)
        if scope.cancelled_caught:
            await self._fail("timeout")
            raise FrameTimeout(timeout_s, progress[0])
        assert len(body) == length
        return bytes(body)

    async def close(self) -> None:
        """Half-close: we send no more frames; the peer sees `StreamClosed`."""
        if self._broken is not None:
            return
        try:
            with trio.move_on_after(CLOSE_TIMEOUT_S):
                await self._stream.close()
        except Exception as exc:  # the stream is done either way
            logger.debug("closing sync stream to %s: %r", self.peer_id, exc)

    async def reset(self) -> None:
        await self._fail("reset-by-us")

    async def _write_raw(self, data: bytes, *, timeout_s: float = FRAME_WRITE_TIMEOUT_S) -> None:
        """Bytes without framing. Only for tests that play a misbehaving peer."""
        await self._write(data, timeout_s)

    # -- internals --

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise StreamFailed("stream unusable", after=self._broken)

    async def _write(self, data: bytes, timeout_s: float) -> None:
        self._check_usable()
        with trio.move_on_after(timeout_s) as scope:
            try:
                await self._stream.write(data)
            except Exception as exc:  # libp2p: StreamClosed/Reset/Error, muxer errors
                await self._fail("write-error")
                raise StreamFailed("write failed", error=repr(exc)) from None
        if scope.cancelled_caught:
            await self._fail("write-timeout")
            raise StreamFailed("write timed out", timeout_s=timeout_s)

    async def _read_prefix(self, progress: list[int]) -> int:
        value = 0
        for index in range(_VARINT_BYTES_MAX):
            byte = (await self._read_some(1, progress))[0]
            progress[0] += 1
            value |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                if byte == 0 and index > 0:
                    await self._fail("malformed")
                    raise MalformedFrame("non-minimal varint length")
                return value
        await self._fail("malformed")
        raise MalformedFrame("varint length longer than 5 bytes")

    async def _read_some(self, max_bytes: int, progress: list[int]) -> bytes:
        try:
            chunk = await self._stream.read(max_bytes)
        except StreamEOF:
            chunk = b""
        except StreamReset:
            await self._fail("reset-by-peer")
            raise StreamFailed("reset by peer", received_bytes=progress[0]) from None
        except Exception as exc:  # IOException and muxer errors: never leak them
            await self._fail("read-error")
            raise StreamFailed("read failed", error=repr(exc)) from None
        if not chunk:
            if progress[0] == 0:
                self._eof = True
                raise StreamClosed()
            await self._fail("eof-mid-frame")
            raise StreamFailed("EOF in the middle of a frame", received_bytes=progress[0])
        return chunk

    async def _fail(self, why: str) -> None:
        if self._broken is None:
            self._broken = why
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
            try:
                await self._stream.reset()
            except Exception as exc:
                logger.debug("resetting sync stream to %s: %r", self.peer_id, exc)


SyncHandler = Callable[[str, SyncStream], Awaitable[None]]
