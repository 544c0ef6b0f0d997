"""`troth demo`: a small promise network, end to end, on this machine.

Theory of operation: several nodes, each a real Engine (sans-IO core + its own
SQLite store), exchange signed tokens through an in-process loopback: gossip
publishes go to every neighbour, sync frames to their peer, all delivered in a
fixed order under a scripted clock, so the demo prints the same story every
time. Then every node's own view is printed.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wire

from .core import Output, Publish, Send, TokenAccepted, TokenIssued
from .engine import Engine
from .store import Store

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
         "yara"]


class LoopbackNetwork:
    """Delivers the outputs of engines to each other, in order, in-process."""

    def __init__(self, engines: dict[str, Engine]) -> None:
        self.engines = engines
        self.by_agent = {e.core.agent_id: name for name, e in engines.items()}
        self.links: dict[str, set[str]] = {name: set() for name in engines}
        self.queue: deque[tuple[str, str, bytes]] = deque()
        self.now = 1_800_000_000.0

    def connect(self, a: str, b: str) -> None:
        self.links[a].add(b)
        self.links[b].add(a)
        self.route(a, self.engines[a].peer_up(self._agent(b), self.now))
        self.route(b, self.engines[b].peer_up(self._agent(a), self.now))

    def _agent(self, name: str) -> str:
        agent = self.engines[name].core.agent_id
        assert agent is not None
        return agent

    def route(self, src: str, outs: list[Output]) -> None:
        for o in outs:
            if isinstance(o, Send):
                self.queue.append((src, self.by_agent[o.peer], o.data))
            elif isinstance(o, Publish):
                for dst in sorted(self.links[src]):
                    self.queue.append((src, dst, o.data))
            elif isinstance(o, TokenAccepted) and o.peer is not None:
                # Gossip forwards what a node accepted, as gossipsub does.
                came_from = self.by_agent[o.peer]
                for dst in sorted(self.links[src] - {came_from}):
                    self.queue.append((src, dst, o.token.raw))

    def settle(self) -> int:
        n = 0
        while self.queue:
            src, dst, data = self.queue.popleft()
            self.route(dst, self.engines[dst].receive(self._agent(src), data, self.now))
            n += 1
        return n

    def issue(self, name: str, **kw: Any) -> wire.Token:
        token, outs = self.engines[name].issue(now=self.now, **kw)
        self.route(name, outs)
        assert any(isinstance(o, TokenIssued) for o in outs)
        return token


def run_demo(nodes: int = 3, workdir: Path | None = None,
             echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    say = echo or (lambda _s: None)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="troth-demo-")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    names = NAMES[:nodes]
    engines = {}
    for name in names:
        ident = wire.Identity.from_seed(name.encode().ljust(32, b"\0"))
        engines[name] = Engine(Store(workdir / f"{name}.sqlite"), ident)
    net = LoopbackNetwork(engines)
    try:
        say(f"{nodes} nodes, each with its own key and SQLite store in {workdir}")
        for name in names:
            say(f"  {name:<7} {engines[name].core.agent_id}")
        # A line topology: tokens must hop through the middle nodes.
        for a, b in zip(names, names[1:], strict=False):
            net.connect(a, b)
        net.settle()
        story: list[str] = []
        water = net.issue(names[0], kind="promise",
                          body={"text": "I will water the community garden on Saturday",
                                "due": int(net.now) + 86_400})
        story.append(f"{names[0]} promises to water the garden ({water.cid[:16]}…)")
        bread = net.issue(names[1], kind="promise", body={"text": "I will bring bread",
                                                          "due": int(net.now) + 3_600})
        story.append(f"{names[1]} promises to bring bread ({bread.cid[:16]}…)")
        net.settle()
        plan = net.issue(names[-1], kind="promise", deps=(water.cid,),
                         body={"text": "I will plant seedlings after the watering"})
        story.append(f"{names[-1]} builds on {names[0]}'s promise (accepting it): {plan.cid[:16]}…")
        net.settle()
        net.now += 3_600 * 30
        done = net.issue(names[0], kind="fulfil", about=water.cid, deps=(water.cid,),
                         body={"evidence": "photo sha256:5d41402abc4b2a76b9719d911017c592"})
        story.append(f"{names[0]} publishes evidence that the garden was watered: {done.cid[:16]}…")
        net.settle()
        say("")
        for line in story:
            say("* " + line)
        say("")
        say("What each node now holds:")
        views: dict[str, Any] = {}
        for name in names:
            core = engines[name].core
            chains = {net.by_agent[a]: s for a, (s, _h) in sorted(core.heads.items())}
            builders = sorted({net.by_agent[t.issuer] for t in core.tokens.values()
                               if water.cid in t.deps})
            views[name] = {"tokens": len(core.tokens), "chains": chains,
                           "built_on_water_promise": builders,
                           "store_ok": engines[name].store.check().ok}
            chain_txt = ", ".join(f"{k}#{v}" for k, v in chains.items())
            say(f"  {name:<7} {len(core.tokens)} tokens  chains [{chain_txt}]  "
                f"built on the watering promise: {', '.join(builders) or 'nobody'}")
        same = len({frozenset(e.core.tokens) for e in engines.values()}) == 1
        say("")
        say("all nodes hold the same token set: " + ("yes" if same else "NO"))
        return {"nodes": views, "converged": same, "story": story}
    finally:
        for e in engines.values():
            e.close()
        if tmp is not None:
            tmp.cleanup()
