"""A small deterministic network for driving bare cores in tests.

Not the simulator (sim/ is): just enough to shuttle outputs between cores with
seeded loss, duplication and reordering, in virtual time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import wire
from node.core import Core, CoreParams, Output, Publish, Send


def ident(i: int) -> wire.Identity:
    return wire.Identity.from_seed(bytes([i % 256, i // 256]) + bytes(30))


@dataclass
class Net:
    cores: dict[str, Core]
    seed: int = 0
    loss: float = 0.0
    dup: float = 0.0
    reorder: bool = False
    now: float = 0.0
    links: set[tuple[str, str]] = field(default_factory=set)
    queue: list[tuple[str, str, bytes, bool]] = field(default_factory=list)
    bytes_moved: int = 0
    frames_moved: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @classmethod
    def of(cls, n: int, params: CoreParams | None = None, **kw: object) -> Net:
        cores = {}
        for i in range(n):
            c = Core(ident(i + 1), params)
            assert c.agent_id is not None
            cores[c.agent_id] = c
        return cls(cores=cores, **kw)  # type: ignore[arg-type]

    def connect(self, a: str, b: str) -> None:
        self.links.add((a, b))
        self.links.add((b, a))
        self.route(a, self.cores[a].peer_up(b, self.now))
        self.route(b, self.cores[b].peer_up(a, self.now))

    def connect_all(self) -> None:
        ids = sorted(self.cores)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                self.connect(a, b)

    def route(self, src: str, outs: list[Output]) -> None:
        for o in outs:
            if isinstance(o, Send):
                self._enqueue(src, o.peer, o.data, gossip=False)
            elif isinstance(o, Publish):
                for (x, y) in sorted(self.links):
                    if x == src:
                        self._enqueue(src, y, o.data, gossip=True)

    def _enqueue(self, src: str, dst: str, data: bytes, *, gossip: bool) -> None:
        if (src, dst) not in self.links:
            return
        if self.loss and self.rng.random() < self.loss:
            return
        self.queue.append((src, dst, data, gossip))
        if self.dup and self.rng.random() < self.dup:
            self.queue.append((src, dst, data, gossip))

    def deliver_all(self, limit: int = 1_000_000) -> None:
        n = 0
        while self.queue:
            if self.reorder:
                i = self.rng.randrange(len(self.queue))
                src, dst, data, gossip = self.queue.pop(i)
            else:
                src, dst, data, gossip = self.queue.pop(0)
            self.bytes_moved += len(data)
            self.frames_moved += 1
            core = self.cores[dst]
            receive = core.receive_gossip if gossip else core.receive_frame
            self.route(dst, receive(src, data, self.now))
            core.check_invariants()
            n += 1
            assert n < limit, "message storm"

    def step(self, dt: float = 1.0) -> None:
        self.now += dt
        for cid in sorted(self.cores):
            self.route(cid, self.cores[cid].tick(self.now))
        self.deliver_all()

    def issue(self, agent: str, **kw: object) -> wire.Token:
        outs = self.cores[agent].issue(now=self.now, **kw)  # type: ignore[arg-type]
        self.route(agent, outs)
        return next(o.token for o in outs if type(o).__name__ == "TokenIssued")  # type: ignore[attr-defined]

    def converged(self) -> bool:
        sets = {frozenset(c.tokens) for c in self.cores.values()}
        return len(sets) == 1

    def run_until_converged(self, max_steps: int = 200, dt: float = 1.0) -> int:
        self.deliver_all()
        for i in range(max_steps):
            if self.converged() and not any(c.pending_count() for c in self.cores.values()):
                return i
            self.step(dt)
        raise AssertionError(f"no convergence after {max_steps} steps")
