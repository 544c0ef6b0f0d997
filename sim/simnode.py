"""One simulated node's state: identity, core, durable log, clock, router state.

Theory of operation. A `SimNode` is a plain record that the world's
components share: the network reads its links and uplink, the routers its
seen cache, mcache and rumors, the agents its parameters and recent tokens,
the faults its durable log. What survives a crash is exactly `log` and
`log_seen` (the durable log) and the identity and clock; sim/faults.py
rebuilds or empties everything else. Its local clock is
`EPOCH_S + t * (1 + drift) + skew_s`: a core only ever sees local time.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import wire
from node.core import Core

from .behaviours import Behaviour
from .rng import Random
from .seen import SeenCache

__all__ = ["SimNode", "EPOCH_S", "RECENT_MAX"]

# Local clocks start here (a 2027 Unix time), so token iat values look real.
EPOCH_S = 1_800_000_000.0
# Gossip tokens each node remembers as "recent" (what its next promise builds on).
RECENT_MAX = 16


@dataclass(slots=True, eq=False)
class SimNode:
    """One simulated node: its identity, its core, its durable log, its router state."""

    index: int
    agent: str
    identity: wire.Identity
    group: str
    behaviour: Behaviour
    params: dict[str, Any]
    rng: Random  # agent decisions
    net_rng: Random  # router choices (lazy peers, rumor partners)
    send_rng: Random  # loss, latency, reordering, duplication of what it sends (sim/network.py)
    skew_s: float = 0.0
    drift: float = 0.0
    observes: bool = False
    core: Core | None = None
    up: bool = True
    # The durable log: token bytes per Persist, and beside them (8 bytes each,
    # nan = unknown) its seen_at, like the store's rows, so a restarted core
    # keeps when each token arrived here. `durable()` pairs them.
    log: list[bytes] = field(default_factory=list)
    log_seen: array[float] = field(default_factory=lambda: array("d"))
    # The router's seen cache of message ids (sim/codec.py), in bounded memory.
    seen: SeenCache = field(default_factory=SeenCache)
    mcache: deque[list[int]] = field(default_factory=deque)  # message ids per heartbeat
    rumors: list[tuple[int, int]] = field(default_factory=list)  # (round first seen, mid)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_MAX))
    conns: list[int] = field(default_factory=list)
    mesh: list[int] = field(default_factory=list)
    lazy_peers: list[int] = field(default_factory=list)  # conns outside the mesh (IHAVE targets)
    links: dict[int, float] = field(default_factory=dict)  # dst -> the link's latency factor
    # (mesh peer, its SimNode, the link's latency factor), made on the first mesh push
    mesh_links: list[tuple[int, SimNode, float]] | None = None
    # Gossip copies sent to this node while it had already seen them, and not
    # yet arrived: (arrival time, src, message id). Only kept when the node can crash
    # (a crash forgets `seen`, so an in-flight copy may then count after all).
    ghosts: list[tuple[float, int, int]] = field(default_factory=list)
    # mid -> arrival time of the earliest copy in flight to this node (not yet seen)
    inflight: dict[int, float] = field(default_factory=dict)
    tick_at: float | None = None
    heart_phase: float = 0.0  # gossipsub heartbeats fall at heart_phase + k * heartbeat_s
    heart_at: float | None = None  # the next one scheduled; None while the mcache is empty
    uplink_free_s: float = 0.0
    crash_armed: bool = False
    incarnation: int = 0
    msgs_out: int = 0
    bytes_out: int = 0
    msgs_in: int = 0
    bytes_in: int = 0
    crashes: int = 0
    crash_down_s: float = 10.0  # how long the armed crash keeps it down
    last_own: str = ""  # cid of its last own token made durable (Persist executed)
    keeps_recent: bool = True  # tokens of others go to `recent` (deps, forgeries)
    assesses: bool = True  # the agent may assess promises it receives

    def durable(self) -> list[tuple[bytes, float | None]]:
        """The log as (token bytes, seen_at) pairs, for `Core.restore`."""
        return [(raw, None if at != at else at)  # (nan != nan: unknown)
                for raw, at in zip(self.log, self.log_seen, strict=True)]

    def local(self, t: float) -> float:
        return EPOCH_S + t * (1.0 + self.drift) + self.skew_s

    def virtual(self, local: float) -> float:
        return (local - EPOCH_S - self.skew_s) / (1.0 + self.drift)
