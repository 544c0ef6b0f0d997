"""Invariant checkers that run *during* a simulation (TigerBeetle VOPR style).

Theory of operation: the world calls these hooks as it executes each core's
outputs and at each sample. A broken invariant raises `InvariantViolation`
carrying the master seed, the index and description of the event being
handled, and what broke; the run stops there, and `troth sim replay --until`
reproduces the state just before it.

Invariants (docs/sim.md, "Checkers"):
1. No forged or tampered token is ever accepted: every token a core accepts
   was produced by `TokenIssued` at the node that holds its key.
2. No honest node equivocates, crashes included: every own token that leaves
   a non-equivocator node (made durable or published) has a unique
   (issuer, seq); and no core ever detects an equivocation by such a node.
3. Convergence: once no partition is active, `converge_within_s` after the
   last disruption (a token issued, a heal, a restart) all faithful live nodes
   hold the same token set (same frontier digest and token count).
4. With `World(..., check_invariants=True)` (off by default: it costs about
   as much as the run), every live core an event ran outputs of passes
   `Core.check_invariants()` after the event ("core-invariants"; sim/world.py
   turns its AssertionError into a violation here, via `fail`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import wire

from .recorder import Recorder
from .simnode import SimNode

if TYPE_CHECKING:
    from node.core import EquivocationDetected

__all__ = ["Checker", "InvariantViolation"]


class InvariantViolation(Exception):
    """A checker failed. `.invariant` names it; the message is self-contained."""

    def __init__(self, invariant: str, message: str, *, seed: int, event_index: int,
                 time_s: float, event: str) -> None:
        super().__init__(f"invariant {invariant!r} violated at event {event_index} "
                         f"(t={time_s:.6f}s, {event}), seed {seed}: {message}")
        self.invariant = invariant
        self.seed = seed
        self.event_index = event_index
        self.time_s = time_s
        self.event = event
        self.detail = message

    def to_dict(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "seed": self.seed, "event_index": self.event_index,
                "time_s": self.time_s, "event": self.event, "message": self.detail}


class Checker:
    """The invariants of one run. `where` names the event being handled (the
    loop's `current_event`); `record` holds the convergence record it keeps."""

    def __init__(self, *, seed: int, nodes: list[SimNode], by_agent: dict[str, int],
                 record: Recorder, converge_within_s: float,
                 where: Callable[[], tuple[int, float, str, int, Any]]) -> None:
        self.seed = seed
        self.nodes = nodes
        self.by_agent = by_agent
        self.record = record
        self.converge_within_s = converge_within_s
        self.where = where
        self.signed_cids: set[str] = set()
        self._own: dict[tuple[str, int], str] = {}

    def fail(self, invariant: str, message: str) -> None:
        idx, t, kind, node, arg = self.where()
        what = (kind if node < 0 else f"{kind} at node {node}") + (
            f" ({arg})" if arg is not None else "")
        raise InvariantViolation(invariant, message, seed=self.seed, event_index=idx,
                                 time_s=t, event=what)

    # -- 1. no forgery -------------------------------------------------------------
    def signed(self, node: SimNode, tok: wire.Token) -> None:
        if tok.issuer != node.agent:
            self.fail("no-forgery", f"node {node.index} issued a token of {tok.issuer}")
        self.signed_cids.add(tok.cid)

    def accepted(self, node: SimNode, tok: wire.Token) -> None:
        if tok.cid not in self.signed_cids:
            self.fail("no-forgery", f"node {node.index} accepted {tok.cid} (issuer "
                      f"{tok.issuer}, seq {tok.seq}), which its issuer never signed")

    # -- 2. no honest equivocation -------------------------------------------------
    def own_token(self, node: SimNode, tok: wire.Token, how: str) -> None:
        if node.behaviour.name == "equivocator":
            return
        key = (tok.issuer, tok.seq)
        prior = self._own.setdefault(key, tok.cid)
        if prior != tok.cid:
            self.fail("no-honest-equivocation",
                      f"node {node.index} ({node.behaviour.name}) {how} seq {tok.seq} as "
                      f"{tok.cid}, but seq {tok.seq} already left it as {prior} "
                      f"(crashes so far: {node.crashes})")

    def equivocation(self, node: SimNode, ev: EquivocationDetected) -> None:
        culprit = self.by_agent.get(ev.issuer)
        if culprit is None or self.nodes[culprit].behaviour.name != "equivocator":
            self.fail("no-honest-equivocation",
                      f"node {node.index} detected node {culprit} equivocating at seq "
                      f"{ev.seq}: {', '.join(ev.cids)}")

    def restarted(self, node: SimNode) -> None:
        """After restore, the core continues from its last durable own seq."""
        core = node.core
        assert core is not None
        durable = [s for (a, s) in self._own if a == node.agent]
        if node.behaviour.name != "equivocator" and durable and core.own_seq() < max(durable):
            self.fail("no-honest-equivocation",
                      f"node {node.index} restarted at seq {core.own_seq()} but seq "
                      f"{max(durable)} already left it (published before it was durable?)")

    # -- 3. convergence ------------------------------------------------------------
    def converged(self) -> bool:
        """Whether every faithful live node holds the same token set. Token counts
        are compared first: they cost nothing, while a digest brings every issuer
        that changed since the last one up to date (so while tokens are still in
        flight, the usual case at a sample, no digest is computed)."""
        cores = [node.core for node in self.nodes
                 if node.up and node.behaviour.faithful and node.core is not None]
        if len({len(core.tokens) for core in cores}) > 1:
            return False
        return len({core.digest() for core in cores}) <= 1

    def convergence(self, t: float) -> None:
        w = self.record
        if w.partitioned:
            w.converged_at = None
            return
        if self.converged():
            if w.converged_at is None or w.converged_at < w.last_disruption_s:
                w.converged_at = t
            if w.last_heal_s is not None and w.converged_after_heal_at is None:
                w.converged_after_heal_at = t
            return
        w.converged_at = None
        bound = self.converge_within_s
        if t - w.last_disruption_s > bound:
            faithful = [n for n in self.nodes if n.up and n.behaviour.faithful and n.core]
            counts = sorted({len(n.core.tokens) for n in faithful if n.core})
            self.fail("convergence",
                      f"{t - w.last_disruption_s:.1f}s after the last disruption "
                      f"(t={w.last_disruption_s:.3f}s) the {len(faithful)} faithful live "
                      f"nodes still differ (token counts {counts[:5]}…{counts[-3:]}); "
                      f"bound {bound:g}s")

    def at_end(self, t: float) -> None:
        self.convergence(t)
