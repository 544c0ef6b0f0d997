"""Weighing evidence: the query half of the observer (verdicts and trust).

Theory of operation (formulas and sources: docs/trust.md, "Verdicts by kind of
evidence" and "Trust"). `Weighing` answers `verdict`, `trust` and `referral`
at a given `now` from the indexes and counters the `Observer`
(trust/observer.py) keeps up to date as tokens arrive; it never changes them,
except the memo of electorate weights. Float results are built only here, at
query time, from integer counters or with math.fsum (correctly rounded, hence
order-free), so answers are bit-identical across arrival orders.

A claim (a promiser's unchecked fulfil) is weighed against the promisee's and
witnesses' reports (`_claim_verdict`); elsewhere hearsay decides only past
`hearsay_margin` (`_hearsay_verdict`); trust fuses first-hand verdicts with
discounted hearsay (`trust`, `_trust_slow`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping

import wire

from .conflicts import ConflictSets
from .evidence import Hearsay, Promise, Promiser, Referee, at_or_after, verdict_of
from .opinion import FLOOR, Opinion, discount, from_evidence, to_evidence
from .params import Params
from .values import Verdict

__all__ = ["Weighing"]


class Weighing:
    """Verdicts and trust over the observer's state (see the module docstring).

    The state is the `Observer`'s: it is declared here for the type checker and
    set up by `Observer.__init__`.
    """

    agent_id: str
    params: Params
    _tokens: dict[str, wire.Token]
    _equivocators: set[str]
    _agents: set[str]
    _promises: dict[str, Promise]
    _promises_of: dict[str, list[str]]
    _assessed_by: dict[str, set[str]]
    _promisers: dict[str, Promiser]
    _referees: dict[str, Referee]
    _hearsay: dict[str, dict[str, Hearsay]]
    _conflicts: ConflictSets
    _version: int
    _weights_memo: tuple[tuple[float, int], dict[str, float]] | None

    def verdict(self, cid: str, now: float) -> Verdict:
        """kept / broken / pending for promise `cid` on this observer's clock `now`."""
        p = self._promises.get(cid)
        if p is None:
            why = "not a promise" if cid in self._tokens else "promise not seen"
            return Verdict(cid=cid, state="pending", confidence=0.0, evidence=(), reason=why)
        d = p.static
        if d is not None:
            return Verdict(cid=cid, state=d.state, confidence=d.confidence, evidence=d.evidence,
                           reason=d.reason, basis=d.basis)
        if p.claim is not None:
            return self._claim_verdict(p, now)
        if p.deadline is not None and now > p.deadline:
            late_s = now - (p.deadline - self.params.skew_allowance_s)
            skew = self.params.skew_allowance_s
            # Suspicion, not certainty: a fulfilment may still be in flight;
            # 1/2 at due + skew, approaching 1 as the silence grows.
            conf = late_s / (late_s + skew) if skew > 0 else 1.0
            return Verdict(cid=cid, state="broken", confidence=conf, evidence=(cid,),
                           reason=f"due {p.token.body['due']} passed with no fulfilment "
                                  f"(skew allowance {skew:g} s)", basis="deadline")
        return self._hearsay_verdict(p, now)

    def trust(self, agent_id: str, now: float) -> Opinion:
        """This observer's opinion that `agent_id` keeps its promises."""
        prm = self.params
        if agent_id in self._equivocators:
            return self._floor()
        if prm.forgetting_factor != 1.0:
            return self._trust_slow(agent_id, now)
        rs: list[float] = []
        ss: list[float] = []
        c = self._promisers.get(agent_id)
        if c is not None:
            # Claims: an undisputed one is kept, a disputed one is weighed now
            # (docs/trust.md, Trust).
            kept, broken = _first_hand_counts(c, now)
            for pc in c.disputed:
                state = self._claim_verdict(self._promises[pc], now).state
                kept += state == "kept"
                broken += state == "broken"
            rs.append(kept)
            ss.append(broken)
        for x, h in self._hearsay.get(agent_id, {}).items():
            hk = h.kept + at_or_after(h.kept_due, now)
            hb = h.broken + at_or_after(h.broken_due, now)
            if hk or hb:
                self._add_advice(x, hk, hb, now, rs, ss)
        return from_evidence(math.fsum(rs), math.fsum(ss), prior_weight=prm.prior_weight,
                             base_rate=prm.base_rate)

    def referral(self, agent_id: str, now: float) -> Opinion:
        """Trust in `agent_id` as an assessor: agreement with this observer's evidence."""
        prm = self.params
        if agent_id in self._equivocators:
            return self._floor()
        if prm.forgetting_factor != 1.0:
            r, s = self._referral_evidence_slow(agent_id, now)
        else:
            c = self._referees.get(agent_id)
            if c is None:
                r = s = 0
            else:
                r = c.agree + len(c.confirmed) + bisect_left(c.said_broken, now)
                s = c.disagree + bisect_left(c.said_kept, now)
        return from_evidence(r, s, prior_weight=prm.prior_weight, base_rate=prm.base_rate)

    # -- query internals ------------------------------------------------------------

    def _floor(self) -> Opinion:
        """An equivocator's opinion, as trust and as referral: certain disbelief."""
        return Opinion(belief=FLOOR.belief, disbelief=FLOOR.disbelief,
                       uncertainty=FLOOR.uncertainty, base_rate=self.params.base_rate)

    def _hearsay_verdict(self, p: Promise, now: float) -> Verdict:
        prm = self.params
        kept: list[float] = []
        broken: list[float] = []
        kept_ev: list[str] = []
        broken_ev: list[str] = []
        for x, t in p.assessments.items():
            w = self.referral(x, now).belief
            if w <= 0:
                continue
            if verdict_of(t) == "kept":
                kept.append(w)
                kept_ev.append(t.cid)
            else:
                broken.append(w)
                broken_ev.append(t.cid)
        k, b = math.fsum(kept), math.fsum(broken)
        margin = k - b
        conf = abs(margin) / (k + b + prm.prior_weight)
        cid = p.token.cid
        if margin >= prm.hearsay_margin:
            return Verdict(cid=cid, state="kept", confidence=conf, evidence=tuple(sorted(kept_ev)),
                           reason=f"trusted assessors say kept ({k:.3g} against {b:.3g})",
                           basis="witnessed")
        if -margin >= prm.hearsay_margin:
            return Verdict(cid=cid, state="broken", confidence=conf,
                           evidence=tuple(sorted(broken_ev)),
                           reason=f"trusted assessors say broken ({b:.3g} against {k:.3g})",
                           basis="witnessed")
        if kept or broken:
            why = f"hearsay inconclusive ({k:.3g} kept, {b:.3g} broken)"
        elif p.deadline is not None:
            why = f"awaiting fulfilment, due {p.token.body['due']}"
        else:
            why = "awaiting evidence"
        return Verdict(cid=cid, state="pending", confidence=0.0,
                       evidence=tuple(sorted(kept_ev + broken_ev)), reason=why)

    def _claim_verdict(self, p: Promise, now: float) -> Verdict:
        """Fuse the promiser's claim with the promisee's and witnesses' reports.

        Each report is one observation (kept or broken), discounted by this
        observer's trust in its source, and the discounted opinions are fused
        cumulatively (docs/trust.md, Verdicts: claimed / witnessed). The claim
        weighs by the projected probability of the promiser's first-hand trust,
        the promisee by that of its referral trust (their standing comes from
        the promise itself); other witnesses by referral belief, so fresh
        identities weigh nothing. Ties go against the claim: a bare claim never
        outweighs an equal denial (the promiser can deliver checkable evidence).
        """
        prm = self.params
        claim = p.claim
        assert claim is not None
        promiser = p.token.issuer
        w_claim = (0.0 if promiser in self._equivocators
                   else self._first_hand(promiser, now, without=p).expectation)
        kept = [_report_evidence(w_claim, prm.prior_weight)]
        kept_ev = [claim.cid] if w_claim > 0 else []
        broken: list[float] = []
        broken_ev: list[str] = []
        by_promisee = False
        for x, t in p.assessments.items():
            ref = self.referral(x, now)
            w = ref.expectation if x == p.promisee else ref.belief
            if w <= 0:
                continue
            if verdict_of(t) == "kept":
                kept.append(_report_evidence(w, prm.prior_weight))
                kept_ev.append(t.cid)
            else:
                broken.append(_report_evidence(w, prm.prior_weight))
                broken_ev.append(t.cid)
                by_promisee = by_promisee or x == p.promisee
        r, s = math.fsum(kept), math.fsum(broken)
        fused = from_evidence(r, s, prior_weight=prm.prior_weight, base_rate=prm.base_rate)
        cid = p.token.cid
        if r > s:
            alone = len(kept_ev) == 1 and not s
            return Verdict(cid=cid, state="kept", confidence=fused.belief,
                           evidence=tuple(sorted(kept_ev)),
                           reason="claimed by the promiser; no weighed report contradicts it"
                           if alone
                           else f"claim and reports say kept ({r:.3g} against {s:.3g})",
                           basis="claimed" if alone else "witnessed")
        if s > 0 and (by_promisee or s - r >= prm.claim_margin):
            who = "the promisee" if by_promisee else "witnesses"
            return Verdict(cid=cid, state="broken", confidence=fused.disbelief,
                           evidence=tuple(sorted(broken_ev)),
                           reason=f"{who} contradict the promiser's claim "
                                  f"({s:.3g} against {r:.3g})", basis="witnessed")
        if s > 0:
            return Verdict(cid=cid, state="pending", confidence=0.0,
                           evidence=tuple(sorted(kept_ev + broken_ev)),
                           reason=f"witnesses contradict the promiser's claim, not by enough "
                                  f"to decide ({s:.3g} against {r:.3g})", basis="none")
        return Verdict(cid=cid, state="pending", confidence=0.0, evidence=(claim.cid,),
                       reason="a claim by a promiser this observer gives no weight",
                       basis="none")

    def _first_hand(self, agent_id: str, now: float, without: Promise) -> Opinion:
        """Trust in `agent_id` from first-hand verdicts only (static ones, undisputed
        claims, lapses), leaving out promise `without`: the claim being weighed
        does not vouch for itself. Disputed claims are not first-hand, so there
        is no cycle (docs/trust.md, Verdicts)."""
        prm = self.params
        if prm.forgetting_factor != 1.0:
            r_dir: list[float] = []
            s_dir: list[float] = []
            for pc in self._promises_of.get(agent_id, ()):
                q = self._promises[pc]
                state, at = self._direct(q, now) if q is not without else (None, 0.0)
                if state is not None:
                    (r_dir if state == "kept" else s_dir).append(self._age_weight(at, now))
            r, s = math.fsum(r_dir), math.fsum(s_dir)
        else:
            c = self._promisers.get(agent_id)
            r, s = (0.0, 0.0) if c is None else _first_hand_counts(c, now)
            if without.first is not None:  # an undisputed claim counts itself as kept
                r -= 1
        return from_evidence(r, s, prior_weight=prm.prior_weight, base_rate=prm.base_rate)

    def _add_advice(self, x: str, kept: float, broken: float, now: float,
                    rs: list[float], ss: list[float]) -> None:
        """Discount assessor x's evidence on an agent and add it to rs/ss."""
        prm = self.params
        ref = self.referral(x, now)
        if ref.belief <= 0:
            return
        advice = from_evidence(kept, broken, prior_weight=prm.prior_weight,
                               base_rate=prm.base_rate)
        r, s = to_evidence(discount(ref, advice), prior_weight=prm.prior_weight)
        rs.append(r)
        ss.append(s)

    def _age_weight(self, at: float, now: float) -> float:
        prm = self.params
        if prm.forgetting_factor == 1.0:
            return 1.0
        return float(prm.forgetting_factor ** (max(0.0, now - at) / prm.forgetting_period_s))

    def _direct(self, p: Promise, now: float) -> tuple[str | None, float]:
        """The first-hand verdict (static, undisputed claim, or lapse) and its date."""
        d = p.first
        if d is not None:
            return d.state, d.at
        if p.claim is None and p.deadline is not None and now > p.deadline:
            return "broken", p.deadline
        return None, 0.0

    def _referral_evidence_slow(self, x: str, now: float) -> tuple[float, float]:
        agree: list[float] = []
        disagree: list[float] = []
        confirmed: dict[str, float] = {}  # promiser -> its freshest confirmed claim's weight
        for pc in self._assessed_by.get(x, ()):
            p = self._promises[pc]
            state, _ = self._direct(p, now)
            if state is None:
                continue
            t = p.assessments[x]
            w = self._age_weight(t.iat, now)
            if p.first is not None and p.first.basis == "claimed" and verdict_of(t) == "kept":
                # one credit per promiser (see _contribute_assessment)
                promiser = p.token.issuer
                confirmed[promiser] = max(w, confirmed.get(promiser, 0.0))
                continue
            (agree if verdict_of(t) == state else disagree).append(w)
        return math.fsum(agree) + math.fsum(confirmed.values()), math.fsum(disagree)

    def _trust_slow(self, agent_id: str, now: float) -> Opinion:
        """Reference evaluation by iteration: used with forgetting, and by tests."""
        prm = self.params
        if agent_id in self._equivocators:
            return self._floor()
        r_dir: list[float] = []
        s_dir: list[float] = []
        said: dict[str, tuple[list[float], list[float]]] = {}
        for pc in self._promises_of.get(agent_id, ()):
            p = self._promises[pc]
            if p.claim is not None and p.disputed:
                claimed = self._claim_verdict(p, now).state
                if claimed != "pending":
                    (r_dir if claimed == "kept" else s_dir).append(
                        self._age_weight(p.claim.iat, now))
                continue
            state, at = self._direct(p, now)
            if state is not None:
                (r_dir if state == "kept" else s_dir).append(self._age_weight(at, now))
                continue
            for x, t in p.assessments.items():
                k, b = said.setdefault(x, ([], []))
                (k if verdict_of(t) == "kept" else b).append(self._age_weight(t.iat, now))
        rs = [math.fsum(r_dir)]
        ss = [math.fsum(s_dir)]
        for x, (k, b) in said.items():
            if x in self._equivocators:
                continue
            ref = from_evidence(*self._referral_evidence_slow(x, now),
                                prior_weight=prm.prior_weight, base_rate=prm.base_rate)
            if ref.belief <= 0:
                continue
            advice = from_evidence(math.fsum(k), math.fsum(b), prior_weight=prm.prior_weight,
                                   base_rate=prm.base_rate)
            r, s = to_evidence(discount(ref, advice), prior_weight=prm.prior_weight)
            rs.append(r)
            ss.append(s)
        return from_evidence(math.fsum(rs), math.fsum(ss), prior_weight=prm.prior_weight,
                             base_rate=prm.base_rate)

    def _electorate(self, scope: str | None, now: float) -> Mapping[str, float]:
        """Voting weights: a scope's charter members (1 each), else belief in each agent."""
        charters = self._conflicts.charters
        if scope is not None and scope in charters:
            return {m: 1.0 for m in charters[scope]}
        memo_key = (now, self._version)
        if self._weights_memo is not None and self._weights_memo[0] == memo_key:
            return self._weights_memo[1]
        weights = {a: self.trust(a, now).belief for a in self._agents if a != self.agent_id}
        weights[self.agent_id] = self.params.self_weight
        self._weights_memo = (memo_key, weights)
        return weights


def _first_hand_counts(c: Promiser, now: float) -> tuple[int, int]:
    """(kept, broken) first-hand, without forgetting: static verdicts, undisputed
    claims (kept), and promises whose deadline passed with neither (broken)."""
    return c.kept + c.claims_first, c.broken + bisect_left(c.open, now)


def _report_evidence(weight: float, prior_weight: float) -> float:
    """Evidence left of one report (one observation) after discounting by `weight`.

    A report is the opinion from_evidence(1, 0): b = 1/(1+W), u = W/(1+W).
    Discounted by weight w (b' = w·b, u' = 1 - w·b) it maps back to
    r' = W·b'/u' = W·w / (1 + W - w): 1 at w = 1, 0 at w = 0 (docs/trust.md).
    """
    return prior_weight * weight / (1 + prior_weight - weight)
