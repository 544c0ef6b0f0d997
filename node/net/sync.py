"""The `/troth/sync/1` stream protocol: length-prefixed frames with deadlines.

Theory of operation
-------------------
A sync stream carries frames `unsigned-varint(length) || bytes` (minimal
varint, libp2p's usual framing), at most `FRAME_SIZE_MAX_BYTES` each; what the
bytes mean is wire/frames.py's business, not this module's. Reading is
defensive because the length comes from a peer: it is checked before any byte
of the body is read, and the body is read in the chunks that arrive, never
allocated up front. Two deadlines bound a read: the wait for a frame's
first byte (`idle_timeout_s`: a quiet stream is fine, for a while), and,
once it came, the wait for the rest (`timeout_s`: a peer that sends a length
and stalls holds the task only this long). Every write finishes within its
deadline too (`WriteTimeout`: the peer does not read). After any failure the
stream is reset and stays unusable: a framed byte stream cannot be
resynchronised. py-libp2p's stream exceptions end here, as `P2PError`s.

`InboundSyncStream` is what a sync handler is given: each frame it reads is
first passed to a gate (the peer's budget: sync_peers.py, guard.py), which drops it
or raises instead of returning it; offences on the stream (a stall in the
middle of a frame) are reported to the gate before they are raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio
from libp2p.abc import INetStream
from libp2p.network.stream.exceptions import StreamEOF, StreamReset

from wire.limits import FRAME_SIZE_MAX_BYTES

from .errors import (
    FrameTimeout,
    FrameTooLarge,
    MalformedFrame,
    P2PError,
    StreamClosed,
    StreamFailed,
    TruncatedFrame,
    WriteTimeout,
)

__all__ = [
    "SyncStream", "InboundSyncStream", "FrameGate", "SyncHandler", "encode_frame_prefix",
    "SYNC_PROTOCOL", "FRAME_SIZE_MAX_BYTES", "FRAME_READ_TIMEOUT_S", "FRAME_WRITE_TIMEOUT_S",
    "SYNC_STREAMS_INBOUND_MAX", "STREAM_OPEN_TIMEOUT_S", "STREAM_IDLE_S", "CLOSE_TIMEOUT_S",
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
# peer; more is a peer misbehaving, and each costs a task and up to 1 MiB
# (one peer may hold at most `SyncLimits.streams_per_peer_max` of them).
SYNC_STREAMS_INBOUND_MAX = 64
# A sync stream with no frame for this long is closed by its writer (the next
# frame reopens one); its reader waits a little longer before giving up.
STREAM_IDLE_S = 30.0
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

    async def receive_frame(self, *, timeout_s: float = FRAME_READ_TIMEOUT_S,
                            idle_timeout_s: float | None = None) -> bytes:
        """The next frame; `StreamClosed` if the peer finished cleanly instead.

        The first byte must come within `idle_timeout_s` (default: `timeout_s`),
        the rest of the frame within `timeout_s` after it; else `FrameTimeout`.
        """
        self._check_usable()
        body = bytearray()
        progress = [0]  # bytes of this frame consumed so far (prefix + body)
        if self._eof:
            raise StreamClosed()
        idle_s = timeout_s if idle_timeout_s is None else idle_timeout_s
        with trio.move_on_after(idle_s) as idle:
            first = await self._read_some(1, progress)
        if idle.cancelled_caught:
            await self._fail("timeout")
            raise FrameTimeout(idle_s, 0)
        with trio.move_on_after(timeout_s) as scope:
            length = await self._read_prefix(progress, first)
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
            raise WriteTimeout(timeout_s, len(data))

    async def _read_prefix(self, progress: list[int], first: bytes) -> int:
        value = 0
        for index in range(_VARINT_BYTES_MAX):
            byte = (first if index == 0 else await self._read_some(1, progress))[0]
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
            raise TruncatedFrame("EOF in the middle of a frame", received_bytes=progress[0])
        return chunk

    async def _fail(self, why: str) -> None:
        if self._broken is None:
            self._broken = why
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
            try:
                await self._stream.reset()
            except Exception as exc:
                logger.debug("resetting sync stream to %s: %r", self.peer_id, exc)


class FrameGate(Protocol):
    """What an inbound stream asks of its peer's guard (sync_peers.py)."""

    def admit(self, data: bytes) -> bool:
        """True: hand the frame over; False: drop it. May raise a `P2PError`."""

    def offended(self, error: P2PError) -> None:
        """The stream failed by the peer's fault (a stall in a frame, ...)."""


class InboundSyncStream(SyncStream):
    """A stream a peer opened to us: frames pass its gate; frames time out per limits."""

    __slots__ = ("_gate", "_frame_timeout_s")

    def __init__(self, stream: INetStream, peer_id: str, gate: FrameGate, *,
                 frame_timeout_s: float = FRAME_READ_TIMEOUT_S) -> None:
        super().__init__(stream, peer_id)
        self._gate = gate
        self._frame_timeout_s = frame_timeout_s

    async def receive_frame(self, *, timeout_s: float | None = None,
                            idle_timeout_s: float | None = None) -> bytes:
        """The next frame the gate admits (`timeout_s` defaults to the peer limits')."""
        frame_timeout_s = self._frame_timeout_s if timeout_s is None else timeout_s
        while True:
            try:
                data = await super().receive_frame(timeout_s=frame_timeout_s,
                                                   idle_timeout_s=idle_timeout_s)
            except (FrameTimeout, TruncatedFrame) as exc:
                if not isinstance(exc, FrameTimeout) or exc.received_bytes:
                    self._gate.offended(exc)
                raise
            try:
                admitted = self._gate.admit(data)
            except P2PError:
                await self._fail("refused")
                raise
            if admitted:
                return data


SyncHandler = Callable[[str, SyncStream], Awaitable[None]]
