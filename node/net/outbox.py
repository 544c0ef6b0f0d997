"""Frames queued for one sync peer, and the task that writes them.

Theory of operation
-------------------
What the core sends a peer goes into that peer's `Outbox` at once (never
waiting: the core's caller must not block on a slow peer) and is written by
the outbox's own task on one outbound `/troth/sync/1` stream, opened on the
first frame and closed after `STREAM_IDLE_S` without one. The queue is
bounded in frames and bytes (`SyncLimits.outbox_max_*`): a peer that does not
read pins at most that much, and what does not fit is dropped (sync repairs
it). Its size is the *backlog* that guard.py weighs against the peer's
requests.

A write that does not finish within `SyncLimits.write_timeout_s` means the
peer stopped reading: the task reports a `WriteTimeout` (p2p.py disconnects
and bans the peer) and ends. Any other failure (the peer reset the stream)
drops the stream; the next frame opens a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from .errors import P2PError, WriteTimeout
from .guard import SyncLimits
from .sync import STREAM_IDLE_S, SyncStream

__all__ = ["Outbox"]

logger = logging.getLogger(__name__)


class Outbox:
    """One peer's queue of outbound sync frames (see the module docstring)."""

    def __init__(self, peer_id: str, limits: SyncLimits) -> None:
        self.peer_id = peer_id
        self._limits = limits
        self._send, self._recv = trio.open_memory_channel[bytes](limits.outbox_max_frames)
        self.queued_bytes = 0

    @property
    def queued_frames(self) -> int:
        return self._send.statistics().current_buffer_used

    def put(self, data: bytes) -> bool:
        """Queue a frame; False if it does not fit (or the outbox is closed)."""
        if self.queued_bytes + len(data) > self._limits.outbox_max_bytes:
            return False
        try:
            self._send.send_nowait(data)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        self.queued_bytes += len(data)
        return True

    def close(self) -> None:
        """No more frames: the task ends (what is queued is dropped)."""
        self._send.close()

    async def run(self, open_stream: Callable[[], Awaitable[SyncStream]],
                  on_slow_reader: Callable[[WriteTimeout], None]) -> None:
        """Write queued frames until `close()`, or until the peer stops reading."""
        stream: SyncStream | None = None
        try:
            while True:
                with trio.move_on_after(STREAM_IDLE_S) as idle:
                    try:
                        data = await self._recv.receive()
                    except (trio.EndOfChannel, trio.ClosedResourceError):
                        return
                if idle.cancelled_caught:
                    if stream is not None:  # idle: let the stream go
                        await stream.close()
                        stream = None
                    continue
                self.queued_bytes -= len(data)
                try:
                    if stream is None:
                        stream = await open_stream()
                    await stream.send_frame(data, timeout_s=self._limits.write_timeout_s)
                except WriteTimeout as exc:
                    stream = None  # reset by send_frame
                    on_slow_reader(exc)
                    return
                except P2PError as exc:
                    logger.debug("sync send to %s failed: %s", self.peer_id, exc)
                    if stream is not None:
                        await stream.reset()
                    stream = None
        finally:
            self._recv.close()
            self.queued_bytes = 0
            if stream is not None:
                with trio.CancelScope(shield=True):
                    await stream.reset()
