"""Defences against hostile sync peers: per-peer budgets, bans, counters.

Theory of operation
-------------------
A frame of `/troth/sync/1` is bounded (sync.py, wire/frames.py), but a peer
can send legal frames in hostile sequences: endless `Hello`s, `WantRange`
storms, frontiers it keeps re-sending, half-sent frames, or it can stop
reading what we answer. What one peer may make us do is bounded here, per
peer, and every refusal is counted by reason (`SyncDefenceStats`).

- **Budget.** Each connected peer has a token bucket of work units
  (`PeerBudget`): `frame_cost(data)` is one unit per frame plus one per KiB.
  Every frame the peer sends us except `Tokens` (whose cost, verification,
  is the admission policy's concern, and which verify themselves) is charged
  on arrival; every frame we send it is charged too, so a small request that
  makes us answer megabytes costs the peer those megabytes. The bucket
  refills at `budget_rate_units_per_s` up to `budget_burst_units`.
- **Throttle.** A charged frame that arrives with the bucket empty, or while
  `backlog_max_bytes` of our frames to that peer are still queued (it has
  not read our earlier answers), is refused: dropped before it is decoded,
  and counted. Sync is repair: an honest peer that was throttled asks again
  next round.
- **Disconnect and ban.** A peer that keeps sending while throttled (the
  units of its refused frames, paid back at the refill rate, exceed
  `refused_max_units`: it sends faster than the rate, for long), stops
  reading our frames for
  `write_timeout_s`, or stalls in the middle of a frame for
  `frame_timeout_s`, is disconnected and banned for `ban_s` (its
  connections, streams and dials are refused meanwhile).

Pure: no clock, no I/O; `now` (a monotonic time in seconds) is an argument.
The libp2p side (p2p.py, outbox.py) applies the verdicts. The bucket itself
(`TokenBucket`) is also gossip.py's, for its per-neighbour message rate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "SyncLimits", "SyncDefenceStats", "PeerSyncInfo", "TokenBucket", "PeerBudget", "Admission",
    "BanList", "frame_cost", "BANS_MAX",
]

_KIB = 1024
# Bans remembered at once. A ban is per peer id, and ids are free to mint, so
# the table must not grow with an attacker's identities: past this many the
# ban that ends first is forgotten first.
BANS_MAX = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncLimits:
    """What one sync peer may cost us; `P2PNode.start(sync_limits=...)` sets them.

    The defaults leave honest sync alone: a round is one `Hello`, a frontier
    (about 80 bytes per issuer) and at most one `Want*` per differing issuer,
    answered with at most 8 MiB (`CoreParams.response_max_bytes`).
    """

    # Refill of the work budget: ~1 MiB/s of frames (both ways together) per
    # peer, or a thousand small requests a second, after the burst. It bounds
    # the CPU one peer can make us spend: the dearest frame to decode, a full
    # frontier chunk, costs ~0.23 ms of CPU per KiB here, so a peer sending
    # nothing else costs at most ~25% of a core. A peer catching up on a
    # store larger than the burst pulls the rest at this rate (from each peer).
    budget_rate_units_per_s: float = 1024.0
    # A full answer (8 MiB) and a pull of two full frontier chunks (2 x 8,192
    # wants) fit in a burst several times over.
    budget_burst_units: float = 65_536.0
    # Units of refused frames (budget or backlog), paid back at the refill
    # rate, beyond which the peer is disconnected: above an honest pull burst
    # refused whole (one WantRange and one WantForks per issuer of two full
    # frontier chunks), so only a peer that keeps ignoring the throttle gets
    # there; one that sends at k times the rate does in
    # refused_max_units / ((k - 1) * rate) seconds.
    refused_max_units: int = 32_768
    # Requests are refused while this much of our answers to the peer is
    # still queued: it has not read what it asked for (one full answer fits).
    backlog_max_bytes: int = 8 * 1024 * 1024
    # Our queue of frames to one peer (outbox.py): a peer that does not read
    # pins at most this much; beyond it frames are dropped (sync repairs).
    outbox_max_frames: int = 1024
    outbox_max_bytes: int = 16 * 1024 * 1024
    # A frame write must finish within this. Below py-libp2p 0.8.1's yamux,
    # which fails a write itself after 5 s without window (with a generic
    # error we could not tell from a reset): ours fires first and names it.
    write_timeout_s: float = 4.0
    # Once a frame's first byte has arrived the rest must follow within this:
    # 1 MiB takes ~10-30 ms on loopback. (Waiting *between* frames is the idle
    # timeout of whoever reads the stream.)
    frame_timeout_s: float = 10.0
    # Inbound sync streams one peer may hold open at once. The runtime uses
    # one per direction; a reopened stream may overlap its predecessor briefly.
    streams_per_peer_max: int = 4
    # How long a peer that broke the limits stays disconnected: long enough
    # to stop a loop of attacks, short enough that a peer with a transient
    # fault comes back on its own.
    ban_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("budget_rate_units_per_s", "budget_burst_units", "write_timeout_s",
                     "frame_timeout_s", "ban_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("refused_max_units", "backlog_max_bytes", "outbox_max_frames",
                     "outbox_max_bytes", "streams_per_peer_max"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")


@dataclass(slots=True)
class SyncDefenceStats:
    """Counters of the sync defences, one per reason (`P2PNode.sync_defence`).

    Monotonic, except `banned_now`. Read as a copy: changing it changes nothing.
    """

    # Frames refused because the peer's budget was empty (the throttle).
    throttled_frames: int = 0
    # Frames refused because our answers to the peer were still queued.
    backlogged_frames: int = 0
    # Our frames to a peer dropped: its outbox was full, or it was not connected.
    outbox_drops: int = 0
    # Inbound streams refused: the peer already held `streams_per_peer_max`.
    streams_refused: int = 0
    # Offences, each of which disconnects and bans the peer:
    rate_exceeded: int = 0  # kept sending while throttled (`RequestRateExceeded`)
    slow_readers: int = 0  # a write to it did not finish in time (`WriteTimeout`)
    frame_timeouts: int = 0  # stalled in the middle of a frame (`FrameTimeout`)
    # A stream that ended in the middle of a frame (counted, not banned: a
    # peer that crashed while sending looks the same).
    truncated_frames: int = 0
    bans: int = 0  # bans issued
    banned_refusals: int = 0  # connections, streams and dials refused for a ban
    banned_now: int = 0  # peers banned at the time of reading


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerSyncInfo:
    """What one sync peer costs us now (`P2PNode.sync_peer_info`)."""

    budget_units: float
    refused_units: float
    inbound_streams: int
    outbox_frames: int
    outbox_bytes: int
    banned: bool


def frame_cost(data: bytes) -> int:
    """Work units of one frame: one per frame, one per KiB."""
    return 1 + len(data) // _KIB


class Admission(enum.Enum):
    ADMITTED = "admitted"
    THROTTLED = "throttled"  # the budget is empty
    BACKLOGGED = "backlogged"  # our answers to the peer are still queued
    EXCEEDED = "exceeded"  # refused over `refused_max_units`: disconnect


class TokenBucket:
    """Tokens refilled at `rate_per_s` up to `burst`, full at first.

    Spending may run the bucket below zero (into debt): what to refuse, and
    how deep a debt may go, is the owner's rule (`PeerBudget`, and gossip.py's
    `PeerRateLimit`).
    """

    __slots__ = ("rate_per_s", "burst", "tokens", "_at")

    def __init__(self, rate_per_s: float, burst: float, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = burst
        self._at = now

    def level(self, now: float) -> float:
        """The tokens there would be at `now` (the bucket is left as it is)."""
        elapsed = now - self._at
        if elapsed > 0:
            return min(self.burst, self.tokens + elapsed * self.rate_per_s)
        return self.tokens

    def refill(self, now: float) -> float:
        """Bring the bucket up to `now`; the tokens the time since paid (before the cap)."""
        elapsed = now - self._at
        if elapsed <= 0:
            return 0.0
        paid = elapsed * self.rate_per_s
        self.tokens = min(self.burst, self.tokens + paid)
        self._at = now
        return paid


class PeerBudget(TokenBucket):
    """One peer's token bucket of work units (see the module docstring)."""

    __slots__ = ("_limits", "refused_units")

    def __init__(self, limits: SyncLimits, now: float) -> None:
        super().__init__(limits.budget_rate_units_per_s, limits.budget_burst_units, now)
        self._limits = limits
        self.refused_units = 0.0  # refused frames' units, not yet paid back

    @property
    def units(self) -> float:
        return self.tokens

    def refill(self, now: float) -> float:
        """Bring the bucket (and the debt of refused frames) up to `now`."""
        paid = super().refill(now)
        if paid:
            self.refused_units = max(0.0, self.refused_units - paid)
        return paid

    def admit(self, cost: int, backlog_bytes: int, now: float) -> Admission:
        """A frame from the peer costing `cost`, with `backlog_bytes` of ours queued to it."""
        self.refill(now)
        if self.tokens <= 0:
            verdict = Admission.THROTTLED
        elif backlog_bytes >= self._limits.backlog_max_bytes:
            verdict = Admission.BACKLOGGED
        else:
            # Admitted on credit: a frame larger than what is left drives the
            # bucket below zero, and the peer waits for the refill.
            self.tokens -= cost
            return Admission.ADMITTED
        self.refused_units += cost
        if self.refused_units > self._limits.refused_max_units:
            return Admission.EXCEEDED
        return verdict

    def charge(self, cost: int, now: float) -> None:
        """A frame we send the peer: what it asked of us is its cost too."""
        self.refill(now)
        self.tokens -= cost


class BanList:
    """Peers banned until a (monotonic) time; bounded by `BANS_MAX`."""

    __slots__ = ("_until",)

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def ban(self, peer: str, until: float) -> None:
        self._until[peer] = max(until, self._until.get(peer, until))
        if len(self._until) > BANS_MAX:
            del self._until[min(self._until, key=self._until.__getitem__)]

    def banned(self, peer: str, now: float) -> bool:
        until = self._until.get(peer)
        if until is None:
            return False
        if now >= until:
            del self._until[peer]
            return False
        return True

    def count(self, now: float) -> int:
        for peer in [p for p, until in self._until.items() if now >= until]:
            del self._until[peer]
        return len(self._until)
