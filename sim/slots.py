"""Competing claims on slots: the optional `[slots]` workload and its metrics.

Theory of operation (docs/sim.md, "Slots"). Every `every_s` a new slot opens
(`s0`, `s1`, ...); `claimants` honest agents, drawn from the `slots` stream,
claim it: each issues a promise `{"text", "slot"}` without a scope, so every
claim of a slot falls in one network-wide conflict set
(`SlotKey(NETWORK_SCOPE, slot)`, docs/trust.md, Consensus). The first claims
when the slot opens, the others at uniform times up to `spread_s` later. An
honest agent builds on the first claim of a slot it sees (a promise whose
`deps` name that claim, `build_delay_s` after accepting it), its own claim
included: once it holds one claim of a slot it neither claims nor builds on
another. Claims and builds carry no `due`: nobody assesses them and their
verdicts stay pending (they never count for or against anyone).

Metrics, over the observer nodes (honest, with a trust observer): for each
slot, the consensus each observer reads at its local time at the end (after
the last heal). `slot_agreement`: for each slot that some observer reads
`settled`, the share of those settled readings that name the same leader (the
most named): 1 when no two honest nodes settle on different claims (mean over
slots; `_min`). `slot_leader_agreement`: the same over every reading, settled
or contested. `slot_contested`: slots some observer reads `contested`.
`slot_settle_p50_s`, `_p90_s`: per (observer, slot), the first sample at
which the observer reads it settled, minus the slot's first claim (virtual
seconds; rounded up to `scenario.sample_every_s`). `slot_settled_frac`: share
of (observer, slot) settled at the end.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from trust import NETWORK_SCOPE, SlotKey

from .events import A_BUILD, A_CLAIM, Act
from .metrics import percentile
from .rng import stream

if TYPE_CHECKING:
    import wire

    from .agents import Agents
    from .loop import Loop
    from .scenario import SlotsConfig
    from .simnode import SimNode

__all__ = ["SlotPlay"]


def _top(leaders: list[str | None]) -> tuple[str, int] | None:
    """The leader most readings name (ties: the smaller cid) and how many name it."""
    votes: dict[str, int] = {}
    for leader in leaders:
        if leader is not None:
            votes[leader] = votes.get(leader, 0) + 1
    if not votes:
        return None
    top = min(votes, key=lambda m: (-votes[m], m))
    return top, votes[top]


class SlotPlay:
    """The slot workload of one run: its schedule, the claims, what observers read."""

    def __init__(self, cfg: SlotsConfig, *, seed: int, stop_s: float, nodes: list[SimNode],
                 loop: Loop, agents: Agents) -> None:
        self.cfg = cfg
        self.stop_s = cfg.stop_s or stop_s
        self.nodes = nodes
        self.loop = loop
        self.agents = agents
        self.rng = stream(seed, "slots")
        self.claims: dict[str, list[str]] = {}  # slot -> its claims, in issue order
        self.first_t: dict[str, float] = {}  # slot -> its first claim's issue time
        self.chosen: dict[tuple[int, str], str] = {}  # (node, slot) -> the claim it holds
        self.settle: dict[tuple[int, str], float] = {}  # (observer, slot) -> settle time

    def schedule(self) -> None:
        """Before the run: every slot's claims."""
        cfg = self.cfg
        honest = [n.index for n in self.nodes
                  if n.behaviour.label == "honest" and n.behaviour.issues]
        k = 0
        t = cfg.start_s
        while t < self.stop_s and honest:
            slot = f"s{k}"
            who = self.rng.sample(honest, min(cfg.claimants, len(honest)))
            for j, i in enumerate(who):
                at = t + (self.rng.uniform(0.0, cfg.spread_s) if j else 0.0)
                self.loop.schedule(at, Act(i, A_CLAIM, slot))
            k += 1
            t = cfg.start_s + k * cfg.every_s

    def act(self, node: SimNode, action: int, arg: Any, t: float) -> None:
        if not node.up or node.core is None:
            return
        if action == A_CLAIM:
            slot: str = arg
            if (node.index, slot) in self.chosen:
                return  # it already holds a claim of this slot: it builds on that one
            body = {"text": f"claim {slot}", "slot": slot}
            tok = self.agents.issue(node, t, kind="promise", body=body)
            if tok is not None:
                self.chosen[(node.index, slot)] = tok.cid
                self.claims.setdefault(slot, []).append(tok.cid)
                self.first_t.setdefault(slot, t)
        elif action == A_BUILD and node.core.has(arg):
            self.agents.issue(node, t, kind="promise", body={"text": "builds on"}, deps=(arg,))

    def accepted(self, node: SimNode, tok: wire.Token, t: float) -> None:
        """`node` accepted another agent's token: an honest agent builds on a first claim."""
        slot = tok.body.get("slot")
        if not isinstance(slot, str) or tok.scope is not None or tok.kind != "promise":
            return
        beh = node.behaviour
        if beh.label != "honest" or not beh.issues or (node.index, slot) in self.chosen:
            return
        self.chosen[(node.index, slot)] = tok.cid
        self.loop.schedule(t + self.cfg.build_delay_s, Act(node.index, A_BUILD, tok.cid))

    def _readings(self) -> list[tuple[SimNode, str, str, str | None]]:
        """(observer, slot, state, leader) for every live observer and slot."""
        out: list[tuple[SimNode, str, str, str | None]] = []
        for node in self.nodes:
            if not (node.observes and node.up and node.core is not None):
                continue
            obs = node.core.observer
            for slot in sorted(self.claims):
                c = obs.consensus(SlotKey(NETWORK_SCOPE, slot), node.local(self.loop.now))
                out.append((node, slot, c.state, c.leader))
        return out

    def sample(self, t: float) -> None:
        for node, slot, state, _ in self._readings():
            key = (node.index, slot)
            if state == "settled" and key not in self.settle:
                self.settle[key] = t - self.first_t[slot]

    def metrics(self) -> dict[str, Any]:
        readings = self._readings()
        by_slot: dict[str, list[tuple[str, str | None]]] = {}
        for _, slot, state, leader in readings:
            by_slot.setdefault(slot, []).append((state, leader))
        agreement = []  # per set settled somewhere: among the settled readings
        leaders = []  # per set: among all readings
        contested = 0
        for seen in by_slot.values():
            contested += any(state == "contested" for state, _ in seen)
            settled = _top([leader for state, leader in seen if state == "settled"])
            if settled is not None:
                agreement.append(settled[1] / sum(1 for state, _ in seen if state == "settled"))
            top = _top([leader for _, leader in seen])
            if top is not None:
                leaders.append(top[1] / len(seen))
        settle = sorted(self.settle.values())
        return {
            "slot_sets": len(self.claims),
            "slot_rivalled": sum(1 for c in self.claims.values() if len(c) > 1),
            "slot_contested": contested,
            "slot_agreement": sum(agreement) / len(agreement) if agreement else math.nan,
            "slot_agreement_min": min(agreement) if agreement else math.nan,
            "slot_leader_agreement": sum(leaders) / len(leaders) if leaders else math.nan,
            "slot_leader_agreement_min": min(leaders) if leaders else math.nan,
            "slot_settled_frac": (sum(1 for r in readings if r[2] == "settled") / len(readings)
                                  if readings else math.nan),
            "slot_settle_p50_s": percentile(settle, 50),
            "slot_settle_p90_s": percentile(settle, 90),
        }
