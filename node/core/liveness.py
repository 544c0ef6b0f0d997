"""Peer liveness as knowledge, not a bit: alive / suspected / unreachable / failed.

Theory of operation (docs/design.md, Liveness: suspicion instead of false
certainty): a phi-accrual failure detector (Hayashibara et al., SRDS 2004) per
neighbour. Every time we hear from a neighbour (a sync frame, or gossip it
relayed: evidence is the connection's traffic, never a gossip originator's,
who may be hops away) we record the gap since the last time; phi(now) =
-log10 P(next gap > now - last) under an exponential model with the observed
mean gap, i.e. phi = (now - last) / (mean * ln 10). The state is then

    unreachable  the transport says there is no connection right now
    failed       unreachable for longer than `failed_after_s`
    suspected    connected, but phi >= `suspect_phi` (silent for ~phi/... means)
    alive        connected and heard from recently enough

Only peers whose connection we saw (`connected`) are tracked: `heard` about
any other peer is ignored, so the report lists neighbours, present or past.

Pure: every call takes `now`; no clock is read here.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Liveness", "PeerLiveness", "LivenessState"]

LivenessState = Literal["alive", "suspected", "unreachable", "failed"]

# Gaps remembered per peer: enough for a stable mean, small enough to adapt.
_WINDOW = 32
_LN10 = math.log(10.0)


@dataclass(slots=True)
class PeerLiveness:
    connected: bool = False
    last_heard: float | None = None
    since: float = 0.0  # when `connected` last changed
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))

    def phi(self, now: float, min_mean_s: float) -> float:
        if self.last_heard is None:
            return 0.0
        mean = max(min_mean_s, sum(self.gaps) / len(self.gaps)) if self.gaps else min_mean_s
        return max(0.0, now - self.last_heard) / (mean * _LN10)


class Liveness:
    def __init__(self, *, suspect_phi: float = 3.0, failed_after_s: float = 120.0,
                 min_mean_s: float = 5.0) -> None:
        # phi 3: the silence had a 1-in-1000 chance under the peer's own rhythm.
        self.suspect_phi = suspect_phi
        # Two minutes without a connection: give up on the peer until it returns.
        self.failed_after_s = failed_after_s
        # Never expect traffic more often than the sync interval.
        self.min_mean_s = min_mean_s
        self.peers: dict[str, PeerLiveness] = {}

    def connected(self, peer: str, now: float) -> None:
        p = self.peers.setdefault(peer, PeerLiveness())
        if not p.connected:
            p.connected = True
            p.since = now
        self.heard(peer, now)

    def disconnected(self, peer: str, now: float) -> None:
        p = self.peers.setdefault(peer, PeerLiveness())
        if p.connected:
            p.connected = False
            p.since = now

    def heard(self, peer: str, now: float) -> None:
        """Traffic from a neighbour; ignored for a peer never seen connected."""
        p = self.peers.get(peer)
        if p is None:
            return
        if p.last_heard is not None and now > p.last_heard:
            p.gaps.append(now - p.last_heard)
        p.last_heard = now

    def state(self, peer: str, now: float) -> LivenessState:
        p = self.peers.get(peer)
        if p is None:
            return "failed"
        if not p.connected:
            return "failed" if now - p.since > self.failed_after_s else "unreachable"
        return "suspected" if p.phi(now, self.min_mean_s) >= self.suspect_phi else "alive"

    def report(self, now: float) -> list[dict[str, object]]:
        return [{"peer": peer, "state": self.state(peer, now),
                 "phi": round(p.phi(now, self.min_mean_s), 3),
                 "last_heard_s_ago": None if p.last_heard is None else round(now - p.last_heard, 3)}
                for peer, p in sorted(self.peers.items())]
