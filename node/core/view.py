"""The view differ: observer and governance effects in, change events out.

Theory of operation. Each applied token (and each clock step) returns effects
from the observer (`trust.ObservationEffects`: promises, agents, conflict sets
that may have changed) and from governance (`trust.GovernanceEffects`:
proposals). The core collects them in `fx` / `gov_fx` during an entry point
and calls `emit` once at its end: the effects are merged (a union per token
would be quadratic), closed over second-order changes (`Observer.expand`), and
each listed item is asked again; only an answer that differs from the last
one emitted becomes an output (`VerdictChanged`, `TrustChanged` past rounding,
`ConsensusChanged`, `OutcomeChanged`). Iteration is sorted, so outputs do not
depend on set order.
"""

from __future__ import annotations

import trust

from .outputs import ConsensusChanged, OutcomeChanged, Output, TrustChanged, VerdictChanged

__all__ = ["ViewDiffer"]


class ViewDiffer:
    """The last answers emitted, and the effects collected since."""

    __slots__ = ("fx", "gov_fx", "_observer", "_governance", "_events", "_last_verdict",
                 "_last_trust", "_last_consensus", "_last_outcome")

    def __init__(self, observer: trust.Observer, governance: trust.Governance, *,
                 events: bool) -> None:
        # Appended to by the core; the lists themselves are never replaced.
        self.fx: list[trust.ObservationEffects] = []
        self.gov_fx: list[trust.GovernanceEffects] = []
        self._observer = observer
        self._governance = governance
        self._events = events  # CoreParams.view_events
        self._last_verdict: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._last_trust: dict[str, tuple[float, float, float]] = {}
        self._last_consensus: dict[trust.ConflictKey, tuple[str, str | None]] = {}
        self._last_outcome: dict[str, tuple[str, str | None]] = {}

    def emit(self, now: float, outs: list[Output]) -> None:
        """Ask again about what may have changed; append what did to `outs`."""
        if self.gov_fx:
            gparts = list(self.gov_fx)
            self.gov_fx.clear()
            gov = self._governance
            for cid in sorted(frozenset().union(*(g.proposals for g in gparts))):
                oc = gov.outcome(cid, now)
                okey = (oc.state, oc.result)
                if self._last_outcome.get(cid) != okey and self._events:
                    self._last_outcome[cid] = okey
                    outs.append(OutcomeChanged(outcome=oc))
        if not self.fx:
            return
        parts = list(self.fx)
        self.fx.clear()
        fx = parts[0] if len(parts) == 1 else trust.ObservationEffects(
            promises=frozenset().union(*(p.promises for p in parts)),
            agents=frozenset().union(*(p.agents for p in parts)),
            referrals=frozenset().union(*(p.referrals for p in parts)),
            conflicts=frozenset().union(*(p.conflicts for p in parts)))
        obs = self._observer
        fx = obs.expand(fx)
        for cid in sorted(fx.promises):
            v = obs.verdict(cid, now)
            key = (v.state, v.evidence)
            if self._last_verdict.get(cid) != key:
                self._last_verdict[cid] = key
                outs.append(VerdictChanged(verdict=v))
        for agent in sorted(fx.agents):
            o = obs.trust(agent, now)
            rounded = (round(o.belief, 3), round(o.disbelief, 3), round(o.uncertainty, 3))
            if self._last_trust.get(agent) != rounded:
                self._last_trust[agent] = rounded
                outs.append(TrustChanged(agent=agent, opinion=o))
        for k in sorted(fx.conflicts, key=repr):
            c = obs.consensus(k, now)
            ckey = (c.state, c.leader)
            if self._last_consensus.get(k) != ckey:
                self._last_consensus[k] = ckey
                outs.append(ConsensusChanged(consensus=c))
