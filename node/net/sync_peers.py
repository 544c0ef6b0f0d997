"""The sync side of each connected peer: its budget, its outbox, its bans.

Theory of operation
-------------------
`SyncPeers` applies guard.py's rules with libp2p's streams and trio's clock.
It keeps, per connected peer, a `PeerBudget`, an `Outbox` (outbox.py) and a
count of the inbound streams the peer holds; all three are dropped when the
peer disconnects, so these tables never hold more than the connected peers.
Bans outlive connections (`BanList`, bounded).

Every inbound stream a peer opens goes through `inbound()`: refused if the
peer is banned or already holds `streams_per_peer_max` streams, else wrapped
in an `InboundSyncStream` whose gate charges each frame to the peer's budget
(weighed against its outbox: the backlog). An offence — refusals over
`refused_max_units`, a stall in the middle of a frame, a write to the peer that
does not finish — is counted, bans the peer and disconnects it, in a task of
the node's nursery (never from inside the libp2p callback that noticed it).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio
from libp2p.abc import INetStream

from wire.frames import is_tokens_frame

from .errors import (
    FrameTimeout,
    P2PError,
    PeerBanned,
    RequestRateExceeded,
    TooManyStreams,
    TruncatedFrame,
    WriteTimeout,
)
from .guard import (
    Admission,
    BanList,
    PeerBudget,
    PeerSyncInfo,
    SyncDefenceStats,
    SyncLimits,
    frame_cost,
)
from .outbox import Outbox
from .sync import InboundSyncStream, SyncStream

__all__ = ["SyncPeers"]

logger = logging.getLogger(__name__)


class _PeerGate:
    """The `FrameGate` of one peer's inbound streams."""

    __slots__ = ("_peers", "_peer")

    def __init__(self, peers: SyncPeers, peer: str) -> None:
        self._peers = peers
        self._peer = peer

    def admit(self, data: bytes) -> bool:
        return self._peers.admit(self._peer, data)

    def offended(self, error: P2PError) -> None:
        self._peers.offence(self._peer, error)


class SyncPeers:
    """Budgets, outboxes and bans of the sync peers of one node."""

    def __init__(self, limits: SyncLimits, *,
                 open_stream: Callable[[str], Awaitable[SyncStream]],
                 disconnect: Callable[[str], Awaitable[None]]) -> None:
        self.limits = limits
        self._open_stream = open_stream
        self._disconnect = disconnect
        self._bans = BanList()
        self._stats = SyncDefenceStats()
        self._budgets: dict[str, PeerBudget] = {}
        self._outboxes: dict[str, Outbox] = {}
        self._inbound: dict[str, int] = {}
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery | None) -> None:
        """The nursery of outbox tasks and disconnects (None: the node stopped)."""
        self._nursery = nursery

    # -- peers come and go --

    def banned(self, peer: str) -> bool:
        return self._bans.banned(peer, trio.current_time())

    def refuse_if_banned(self, peer: str) -> bool:
        """A banned peer connected: disconnect it (True) or let it be (False)."""
        if not self.banned(peer):
            return False
        self._stats.banned_refusals += 1
        self._spawn_disconnect(peer)
        return True

    def disconnected(self, peer: str) -> None:
        self._budgets.pop(peer, None)
        outbox = self._outboxes.pop(peer, None)
        if outbox is not None:
            outbox.close()

    # -- outbound --

    def send_refused(self) -> bool:
        """A frame for a peer we are not connected to: dropped, counted."""
        self._stats.outbox_drops += 1
        return False

    def send(self, peer: str, data: bytes) -> bool:
        """Queue a frame for `peer`, charged to its budget; False if dropped."""
        outbox = self._outboxes.get(peer)
        if outbox is None:
            if self._nursery is None or self.banned(peer):
                self._stats.outbox_drops += 1
                return False
            outbox = self._outboxes[peer] = Outbox(peer, self.limits)
            self._nursery.start_soon(self._run_outbox, outbox)
        self._budget(peer).charge(frame_cost(data), trio.current_time())
        if not outbox.put(data):
            self._stats.outbox_drops += 1
            return False
        return True

    async def _run_outbox(self, outbox: Outbox) -> None:
        try:
            await outbox.run(lambda: self._open_stream(outbox.peer_id),
                             lambda exc: self.offence(outbox.peer_id, exc))
        finally:
            if self._outboxes.get(outbox.peer_id) is outbox:
                del self._outboxes[outbox.peer_id]

    # -- inbound --

    @asynccontextmanager
    async def inbound(self, stream: INetStream, peer: str) -> AsyncIterator[InboundSyncStream]:
        """The peer's stream, gated; `P2PError` (the stream is reset) if refused."""
        sync = InboundSyncStream(stream, peer, _PeerGate(self, peer),
                                 frame_timeout_s=self.limits.frame_timeout_s)
        if self.banned(peer):
            self._stats.banned_refusals += 1
            await sync.reset()
            raise PeerBanned("", peer_id=peer)
        held = self._inbound.get(peer, 0)
        if held >= self.limits.streams_per_peer_max:
            self._stats.streams_refused += 1
            await sync.reset()
            raise TooManyStreams("", peer_id=peer, limit=self.limits.streams_per_peer_max)
        self._inbound[peer] = held + 1
        try:
            yield sync
        finally:
            left = self._inbound[peer] - 1
            if left:
                self._inbound[peer] = left
            else:
                del self._inbound[peer]

    def admit(self, peer: str, data: bytes) -> bool:
        """The gate of `peer`'s inbound frames (see guard.py)."""
        if self.banned(peer):  # frames still in flight as it is disconnected
            raise PeerBanned("", peer_id=peer)
        if is_tokens_frame(data):
            return True
        outbox = self._outboxes.get(peer)
        backlog = outbox.queued_bytes if outbox is not None else 0
        budget = self._budget(peer)
        verdict = budget.admit(frame_cost(data), backlog, trio.current_time())
        if verdict is Admission.ADMITTED:
            return True
        if verdict is Admission.THROTTLED:
            self._stats.throttled_frames += 1
            return False
        if verdict is Admission.BACKLOGGED:
            self._stats.backlogged_frames += 1
            return False
        error = RequestRateExceeded(budget.refused_units)
        self.offence(peer, error)
        raise error

    def _budget(self, peer: str) -> PeerBudget:
        budget = self._budgets.get(peer)
        if budget is None:
            budget = self._budgets[peer] = PeerBudget(self.limits, trio.current_time())
        return budget

    # -- offences --

    def offence(self, peer: str, error: P2PError) -> None:
        """Count `error` against `peer`; ban and disconnect it if it is an offence."""
        if isinstance(error, TruncatedFrame):
            self._stats.truncated_frames += 1
            return
        if isinstance(error, RequestRateExceeded):
            self._stats.rate_exceeded += 1
        elif isinstance(error, WriteTimeout):
            self._stats.slow_readers += 1
        elif isinstance(error, FrameTimeout):
            self._stats.frame_timeouts += 1
        else:
            raise ValueError(f"not a sync offence: {error!r}")
        if self.banned(peer):
            return  # a second offence on another of its streams, as it is cut off
        logger.info("sync peer %s banned for %.0f s: %s", peer, self.limits.ban_s, error)
        self._stats.bans += 1
        self._bans.ban(peer, trio.current_time() + self.limits.ban_s)
        self.disconnected(peer)
        self._spawn_disconnect(peer)

    def _spawn_disconnect(self, peer: str) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._disconnect_quietly, peer)

    async def _disconnect_quietly(self, peer: str) -> None:
        try:
            await self._disconnect(peer)
        except P2PError as exc:  # a task of the node's nursery must not fail it
            logger.debug("disconnecting banned peer %s: %s", peer, exc)

    # -- what the counters and tables hold --

    @property
    def stats(self) -> SyncDefenceStats:
        return dataclasses.replace(self._stats, banned_now=self._bans.count(trio.current_time()))

    def info(self, peer: str) -> PeerSyncInfo:
        budget = self._budgets.get(peer)
        if budget is not None:
            budget.refill(trio.current_time())
        outbox = self._outboxes.get(peer)
        return PeerSyncInfo(
            budget_units=budget.units if budget else self.limits.budget_burst_units,
            refused_units=budget.refused_units if budget else 0.0,
            inbound_streams=self._inbound.get(peer, 0),
            outbox_frames=outbox.queued_frames if outbox else 0,
            outbox_bytes=outbox.queued_bytes if outbox else 0,
            banned=self.banned(peer))

    def table_sizes(self) -> dict[str, int]:
        """How many entries each per-peer table holds (bounded by the connected peers)."""
        return {"budgets": len(self._budgets), "outboxes": len(self._outboxes),
                "inbound": len(self._inbound), "bans": self._bans.count(trio.current_time())}
