"""The observer: verdicts, trust and consensus over one agent's verified tokens.

Theory of operation (formulas and token conventions: docs/trust.md). Every
answer is a pure function of (set of tokens observed, `now`, Params). The
state below is a set of indexes and counters over that set, each maintained so
that inserting tokens in any order reaches the same value; float results are
built only at query time, from integer counters or with math.fsum (correctly
rounded, hence order-free), so answers are bit-identical across arrival orders.

Layers, evaluated without cycles (docs/trust.md, Verdicts and Trust):

1. Static verdicts (a function of the tokens alone, cached per promise:
   trust/evidence.py `classify`): own `assess` > the promiser's equivocation
   at the promise's seq > delivered artifacts checked against the promised
   `out` (verified) > retraction or late fulfil; or else the promiser's
   unchecked on-time fulfil: a *claim*. `due` passed on this clock beyond the
   skew allowance, with neither, is a lapse (bisecting sorted deadlines).
2. First-hand verdicts: static, lapses, and claims the promisee does not
   dispute. They calibrate referral trust in an assessor X (X's assessments
   agreeing (r) or disagreeing (s)) and give first-hand trust in a promiser.
3. A claim's verdict: the claim weighed by first-hand trust in the promiser,
   the promisee's and witnesses' reports by referral trust, fused. Elsewhere
   hearsay: where layer 1 is silent, X's assessments weigh by the belief of
   the referral opinion; they decide a verdict past `hearsay_margin`, and feed
   trust as X's opinion on the promiser, discounted and fused (cumulative).
4. Trust: the verdicts of layers 1 and 3 on the agent's promises plus
   discounted hearsay.

The query half (`verdict`, `trust`, `referral`: weighing the evidence at a
`now`) is trust/weighing.py, a base class of `Observer`. Consensus over
conflict sets is trust/conflicts.py. Equivocation is not judged
here: the caller that indexes chains (the node core) passes each token's
`rivals`, the tokens observed before at the same issuer and seq.

Per new token the work is O(assessments of the promise it touches) plus the
acceptance-graph update (trust/accept.py); queries are O(log n) per verdict
(O(its reports) for a claim) and O((assessors + contested claims of the
agent) * log n) per trust opinion, with forgetting off.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence

import wire

from .conflicts import ConflictSets, Rival
from .evidence import (
    Hearsay,
    Promise,
    Promiser,
    Referee,
    bag,
    claim_decision,
    classify,
    count_in,
    delivered,
    newer,
    promised_out,
    verdict_of,
)
from .params import Params
from .values import (
    ConflictKey,
    Consensus,
    Effects,
    ObservationEffects,
    PromiseDetail,
    SeqKey,
    SlotKey,
    Verdict,
)
from .weighing import Weighing

__all__ = [
    "Observer",
    "Verdict",
    "Consensus",
    "ObservationEffects",
    "SeqKey",
    "SlotKey",
    "ConflictKey",
]


class Observer(Weighing):
    """One agent's mind over the tokens it has verified. Pure and deterministic.

    Feed tokens with `observe`; ask `verdict`, `trust`, `support`, `consensus`.
    """

    def __init__(self, agent_id: str, params: Params | None = None) -> None:
        self.agent_id = agent_id
        self.params = params if params is not None else Params()
        self._tokens: dict[str, wire.Token] = {}
        self._equivocators: set[str] = set()
        self._agents: set[str] = set()
        self._promises: dict[str, Promise] = {}
        self._promises_of: dict[str, list[str]] = {}
        self._waiting: dict[str, list[wire.Token]] = {}  # about-cid -> tokens about it
        self._assessed_by: dict[str, set[str]] = {}  # assessor -> promise cids
        self._promisers: dict[str, Promiser] = {}
        self._referees: dict[str, Referee] = {}
        self._hearsay: dict[str, dict[str, Hearsay]] = {}  # target -> assessor -> counts
        self._open: list[tuple[float, str]] = []  # (deadline, promise cid), no static verdict
        self._conflicts = ConflictSets()
        self._rivals_at = self._conflicts.rivals_at
        self._horizon = 0
        self._version = 0
        self._weights_memo: tuple[tuple[float, int], dict[str, float]] | None = None

    # -- the input ---------------------------------------------------------------

    def observe(self, token: wire.Token, rivals: Sequence[str] = ()) -> ObservationEffects:
        """Take in one verified token; returns what may have changed.

        `rivals`: the cids of the tokens observed before with the same issuer
        and seq (non-empty: the issuer equivocated there). The caller indexes
        chains and finds them (the node core's TokenIndex.record returns
        them); this observer does not look for equivocation itself.

        Idempotent (a token seen before changes nothing). Tokens may arrive in
        any order; a token about a promise not yet seen waits for it.
        """
        if token.cid in self._tokens:
            return ObservationEffects()
        self._tokens[token.cid] = token
        self._version += 1
        self._horizon = max(self._horizon, token.iat)
        self._agents.add(token.issuer)
        fx = Effects()
        self._conflicts.add(token, fx)
        if rivals:
            self._equivocation(token, rivals, fx)
        kind = token.kind
        if kind == "promise":
            self._add_promise(token, fx)
        elif kind in ("fulfil", "retract", "assess") and token.about is not None:
            p = self._promises.get(token.about)
            if p is not None:
                self._attach(token, p, fx)
            elif token.about not in self._tokens:
                self._waiting.setdefault(token.about, []).append(token)
        elif kind == "charter":
            self._conflicts.add_charter(token, fx)
        return fx.freeze()

    # -- questions ---------------------------------------------------------------

    def support(self, cid: str, now: float | None = None) -> float:
        """Weighted share of the electorate accepting `cid` (0..1).

        Agents that also accept a rival in one of `cid`'s conflict sets count
        for neither. `now` (for the trust weights) defaults to the newest
        `iat` observed, which keeps the answer a function of the tokens.
        """
        t = self._horizon if now is None else now
        tok = self._tokens.get(cid)
        if tok is None:
            return 0.0
        return self._conflicts.support(cid, self._electorate(tok.scope, t))

    def consensus(self, key: ConflictKey, now: float | None = None) -> Consensus:
        """Leader of a conflict set by support; `settled` past the threshold."""
        members = sorted(self._conflicts.members(key))
        if not members:
            return Consensus(key=key, state="empty", leader=None, support=0.0, alternatives=())
        return self._conflicts.consensus(key, members, self._electorate_of(key, now),
                                         self.params.consensus_threshold)

    def rivals(self, key: ConflictKey, now: float | None = None) -> list[Rival]:
        """Each member of a conflict set with its support and who builds on it,
        the leader first (the ranking of `consensus`)."""
        return self._conflicts.rivals(sorted(self._conflicts.members(key)),
                                      self._electorate_of(key, now))

    def _electorate_of(self, key: ConflictKey, now: float | None) -> Mapping[str, float]:
        """Who weighs in a conflict set: its scope's charter members (a slot in a
        chartered scope), else everyone by trust at `now` (default: the horizon)."""
        scope = key.scope if isinstance(key, SlotKey) else None
        return self._electorate(scope, self._horizon if now is None else now)

    def accepters(self, cid: str) -> frozenset[str]:
        """Agents whose tokens build on `cid` through `deps` (its issuer included)."""
        return self._conflicts.graph.accepters(cid)

    def conflict_keys_of(self, cid: str) -> tuple[ConflictKey, ...]:
        """The conflict sets `cid` is a member of."""
        return tuple(self._conflicts.keys_of(cid))

    # -- the hook for the node core ---------------------------------------------

    def expand(self, effects: ObservationEffects) -> ObservationEffects:
        """Close `effects` over second-order changes.

        An assessor's referral trust reweighs its hearsay: the promises it
        assessed that have no static verdict and their promisers join. Agents
        whose trust moved change their weight in the conflict sets where they
        accept a member; those keys join. (Their weight also moves every
        electorate's total by a little; that is not listed: poll all keys on a
        slow timer if exact supports matter.) Cost: those assessors'
        assessments plus those agents' accepted watched tokens.
        """
        promises = set(effects.promises)
        agents = set(effects.agents)
        for x in sorted(effects.referrals):
            for pc in self._assessed_by.get(x, ()):
                p = self._promises[pc]
                if p.static is None:
                    promises.add(pc)
                    agents.add(p.token.issuer)
        # An agent whose first-hand trust moved reweighs its contested claims.
        for a in sorted(agents):
            c = self._promisers.get(a)
            if c is not None:
                promises.update(c.contested)
        conflicts = set(effects.conflicts)
        for a in agents | effects.referrals:
            for m in self._conflicts.graph.accepted_by(a):
                conflicts.update(self._conflicts.keys_of(m))
        return ObservationEffects(promises=frozenset(promises), agents=frozenset(agents),
                                  referrals=effects.referrals, conflicts=frozenset(conflicts))

    def due_between(self, after: float, upto: float) -> ObservationEffects:
        """What turns broken-by-lateness as the clock moves from `after` to `upto`.

        For a core's `tick(now)`: promises whose deadline (due + skew) lies in
        [after, upto) and have no static verdict, their promisers, and their
        assessors (whose referral trust moves).
        """
        lo = bisect_left(self._open, (after, ""))
        hi = bisect_left(self._open, (upto, ""))
        fx = Effects()
        for _, pc in self._open[lo:hi]:
            p = self._promises[pc]
            fx.promises.add(pc)
            fx.agents.add(p.token.issuer)
            fx.referrals.update(p.assessments)
        return fx.freeze()

    def next_deadline(self, now: float) -> float | None:
        """The earliest deadline at or after `now` (for a core's timer), or None."""
        if not self._open:
            return None
        i = bisect_left(self._open, (now, ""))
        return self._open[i][0] if i < len(self._open) else None

    # -- inventory ---------------------------------------------------------------

    def agents(self) -> frozenset[str]:
        return frozenset(self._agents)

    def promises(self) -> frozenset[str]:
        return frozenset(self._promises)

    def promises_of(self, agent_id: str) -> tuple[str, ...]:
        return tuple(sorted(self._promises_of.get(agent_id, ())))

    def followups(self, cid: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The promiser's own fulfils and retractions of promise `cid`, as cids."""
        p = self._promises.get(cid)
        if p is None:
            return (), ()
        return tuple(t.cid for t in p.fulfils), tuple(t.cid for t in p.retracts)

    def promise_detail(self, cid: str) -> PromiseDetail | None:
        """What promise `cid` says it will deliver and what its fulfils delivered.

        For showing promised and delivered side by side (the verdict's basis
        says whether they were checked): the transition tuple (`f1`,
        `in`, `out`, `f2`; docs/design.md, Tokens) as the body carries it, and for each of the
        promiser's fulfils the cids of the artifacts it carries inline.
        None if `cid` is not a promise seen.
        """
        p = self._promises.get(cid)
        if p is None:
            return None
        body = p.token.body
        f1, f2, inp = body.get("f1"), body.get("f2"), body.get("in")
        return PromiseDetail(
            cid=cid, promiser=p.token.issuer, promisee=p.promisee,
            f1=f1 if isinstance(f1, str) else None,
            inputs=tuple(inp) if isinstance(inp, tuple) else (),
            out=promised_out(p.token) or (),
            f2=f2 if isinstance(f2, str) else None,
            delivered=tuple(sorted((t.cid, delivered(t) or ()) for t in p.fulfils)),
            claim=p.claim.cid if p.claim is not None else None)

    def conflict_keys(self) -> frozenset[ConflictKey]:
        return self._conflicts.keys()

    def equivocators(self) -> frozenset[str]:
        return frozenset(self._equivocators)

    def __len__(self) -> int:
        return len(self._tokens)

    # -- ingestion internals -------------------------------------------------------

    def _equivocation(self, token: wire.Token, rivals: Sequence[str], fx: Effects) -> None:
        """The caller says `token` shares its chain position with `rivals`.

        Equivocation: trust to the floor, the promise at that seq broken and
        the fulfilments/retractions at that seq void (reclassify after the
        token itself is indexed: see _add_promise / _attach).
        """
        self._equivocators.add(token.issuer)
        fx.agents.add(token.issuer)
        fx.referrals.add(token.issuer)
        self._conflicts.equivocation(token, rivals, fx)
        for c in rivals:
            other = self._tokens[c]
            target = c if other.kind == "promise" else other.about
            if target is not None and target in self._promises:
                self._reclassify(self._promises[target], fx)

    def _add_promise(self, token: wire.Token, fx: Effects) -> None:
        due = token.body.get("due")
        deadline = (due + self.params.skew_allowance_s
                    if type(due) is int else None)
        p = Promise(token, deadline)
        self._promises[token.cid] = p
        self._promises_of.setdefault(token.issuer, []).append(token.cid)
        self._promisers.setdefault(token.issuer, Promiser())
        self._classify(p)
        self._contribute(p, +1)
        fx.promises.add(token.cid)
        fx.agents.add(token.issuer)
        for t in self._waiting.pop(token.cid, ()):
            self._attach(t, p, fx)

    def _attach(self, t: wire.Token, p: Promise, fx: Effects) -> None:
        promiser = p.token.issuer
        if t.kind in ("fulfil", "retract"):
            if t.issuer != promiser:
                return  # agents only promise about themselves
            (p.fulfils if t.kind == "fulfil" else p.retracts).append(t)
            self._reclassify(p, fx)
            return
        if verdict_of(t) is None:
            return
        if t.issuer == self.agent_id:
            if newer(t, p.own):
                p.own = t
                self._reclassify(p, fx)
            return
        if t.issuer == promiser:
            return  # no one witnesses for their own promise; fulfil says it
        old = p.assessments.get(t.issuer)
        if not newer(t, old):
            return
        first = p.first
        self._assessed_by.setdefault(t.issuer, set()).add(p.token.cid)
        if p.claim is None or (old is not None and verdict_of(old) == "broken") == (
                verdict_of(t) == "broken"):
            # No claim, or the set of assessors saying broken is unchanged: the
            # claim's standing cannot move; only this assessor's share changes.
            if old is not None:
                self._contribute_assessment(p, t.issuer, old, -1)
            p.assessments[t.issuer] = t
            self._contribute_assessment(p, t.issuer, t, +1)
        else:
            # A report may contest or dispute the promiser's claim, which moves
            # the claim's first-hand standing: take the promise out and put it
            # back (O(its assessments)).
            self._contribute(p, -1)
            p.assessments[t.issuer] = t
            self._standing(p)
            self._contribute(p, +1)
        fx.promises.add(p.token.cid)
        fx.agents.update((promiser, t.issuer))
        if p.first is not first:
            fx.referrals.update(p.assessments)
        elif p.first is not None or p.deadline is not None:
            fx.referrals.add(t.issuer)

    def _classify(self, p: Promise) -> None:
        """Recompute p's static verdict or claim and the standing of the claim."""
        p.static, p.claim = classify(p, self._rivals_at)
        self._standing(p)

    def _standing(self, p: Promise) -> None:
        """Whether p's claim is contested (anyone says broken) or disputed (the promisee)."""
        if p.claim is None:  # most promises: nothing to weigh, no set to build
            p.contested = p.disputed = False
            p.first = p.static
            return
        denied = {x for x, t in p.assessments.items() if verdict_of(t) == "broken"}
        p.contested = bool(denied)
        p.disputed = p.promisee in denied
        p.first = claim_decision(p)

    def _reclassify(self, p: Promise, fx: Effects) -> None:
        self._contribute(p, -1)
        self._classify(p)
        self._contribute(p, +1)
        fx.promises.add(p.token.cid)
        fx.agents.add(p.token.issuer)
        fx.referrals.update(p.assessments)

    def _contribute(self, p: Promise, sign: int) -> None:
        """Add (sign=+1) or remove (-1) everything promise p puts in the counters."""
        d = p.static
        c = self._promisers[p.token.issuer]
        if d is not None:
            if d.state == "kept":
                c.kept += sign
            else:
                c.broken += sign
        elif p.claim is not None:
            # Trust counts an undisputed claim as kept; a disputed one by its
            # verdict at query time (docs/trust.md, Trust). Witnesses who only
            # contest it move its verdict, not the count: that keeps a trust
            # query O(disputed claims), not O(every contested claim).
            if not p.disputed:
                c.claims_first += sign
            elif sign > 0:
                c.disputed.add(p.token.cid)
            else:
                c.disputed.discard(p.token.cid)
            if p.contested:
                (c.contested.add if sign > 0 else c.contested.discard)(p.token.cid)
        elif p.deadline is not None:
            bag(c.open, p.deadline, sign)
            bag(self._open, (p.deadline, p.token.cid), sign)
        for x, t in p.assessments.items():
            self._contribute_assessment(p, x, t, sign)

    def _contribute_assessment(self, p: Promise, x: str, t: wire.Token, sign: int) -> None:
        said = verdict_of(t)
        d = p.first
        if d is None and p.claim is not None:
            return  # a disputed claim: the reports weigh in its verdict only
        ref = self._referees.get(x)
        if ref is None:
            ref = self._referees[x] = Referee()
        if d is not None and d.basis == "claimed" and said == "kept":
            # Agreeing with an unchecked claim is free for colluders: one
            # credit per distinct promiser, however many claims.
            count_in(ref.confirmed, p.token.issuer, sign)
            return
        if d is not None:
            if said == d.state:
                ref.agree += sign
            else:
                ref.disagree += sign
            return
        per = self._hearsay.setdefault(p.token.issuer, {})
        h = per.get(x)
        if h is None:
            h = per[x] = Hearsay()
        if p.deadline is None:
            if said == "kept":
                h.kept += sign
            else:
                h.broken += sign
        elif said == "kept":
            bag(ref.said_kept, p.deadline, sign)
            bag(h.kept_due, p.deadline, sign)
        else:
            bag(ref.said_broken, p.deadline, sign)
            bag(h.broken_due, p.deadline, sign)
