"""Per-promise evidence records and the counters they feed.

Theory of operation. The observer keeps one `Promise` record per promise seen
(its followups: fulfils, retractions, this observer's own assessment, others'
latest assessments) and derives its *static* direct verdict (`Decision`: one
fixed by the tokens alone, whatever the clock) or its unchecked claim with
`classify`. The
counters `Promiser` (direct evidence per agent), `Referee` (an assessor's
agreement with the direct verdicts) and `Hearsay` (an assessor's verdicts on an
agent's undecided promises) are sums over those records, kept exact under
insertion in any order: deadlines in sorted bags (`bag`), counted against
`now` by bisection at query time. Conventions: docs/trust.md.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import wire

from .values import VerdictBasis

__all__ = ["Decision", "Promise", "Promiser", "Referee", "Hearsay", "bag", "at_or_after",
           "verdict_of", "newer", "count_in", "classify", "claim_decision", "promised_out",
           "delivered"]

_VERDICTS = ("kept", "broken")


@dataclass(frozen=True, slots=True)
class Decision:
    """A static direct verdict: fixed by the tokens alone."""

    state: Literal["kept", "broken"]
    confidence: float
    evidence: tuple[str, ...]
    reason: str
    at: float  # when the evidence dates from (for forgetting)
    basis: VerdictBasis


class Promise:
    """One promise and its followups, with its classification (see `classify`).

    `static`: a verdict fixed by the tokens alone (own, equivocation, verified,
    retracted, late). Else `claim`: the promiser's first on-time fulfil without
    checkable evidence, which is weighed with the reports (docs/trust.md,
    Verdicts); `disputed` when the promisee says broken, `contested` when
    anyone does. `first`: the first-hand verdict used to calibrate assessors
    and to weigh the promiser's claims: `static`, or the undisputed claim.
    """

    __slots__ = ("token", "deadline", "promisee", "fulfils", "retracts", "own", "assessments",
                 "static", "claim", "first", "disputed", "contested")

    def __init__(self, token: wire.Token, deadline: float | None) -> None:
        self.token = token
        self.deadline = deadline
        to = token.body.get("to")
        self.promisee: str | None = to if isinstance(to, str) and to != token.issuer else None
        self.fulfils: list[wire.Token] = []
        self.retracts: list[wire.Token] = []
        self.own: wire.Token | None = None
        self.assessments: dict[str, wire.Token] = {}  # assessor -> latest assess
        self.static: Decision | None = None
        self.claim: wire.Token | None = None
        self.first: Decision | None = None
        self.disputed = False
        self.contested = False


class Promiser:
    """Direct evidence counters for one agent's promises."""

    __slots__ = ("kept", "broken", "claims_first", "disputed", "contested", "open")

    def __init__(self) -> None:
        self.kept = 0  # static verdicts (own, equivocation, verified, retracted, late)
        self.broken = 0
        self.claims_first = 0  # claims the promisee does not dispute: kept first-hand
        self.disputed: set[str] = set()  # claims the promisee denies: weighed at query
        self.contested: set[str] = set()  # claims anyone denies (their verdicts reweigh)
        self.open: list[float] = []  # deadlines of promises with no static verdict, no claim


class Referee:
    """Agreement counters for one assessor against this observer's direct verdicts."""

    __slots__ = ("agree", "disagree", "confirmed", "said_kept", "said_broken")

    def __init__(self) -> None:
        self.agree = 0
        self.disagree = 0
        # promiser -> how many of its undisputed claims this assessor called
        # kept. Confirming an unchecked claim earns one credit per distinct
        # promiser, not per claim: a clique vouching for itself earns at most
        # its size (docs/trust.md, Referral trust).
        self.confirmed: dict[str, int] = {}
        # deadlines of open promises this assessor called kept / broken: once
        # a deadline passes, the promise is broken here, so they (dis)agree.
        self.said_kept: list[float] = []
        self.said_broken: list[float] = []


class Hearsay:
    """One assessor's verdicts on one agent's promises that have no static verdict."""

    __slots__ = ("kept", "broken", "kept_due", "broken_due")

    def __init__(self) -> None:
        self.kept = 0  # promises without a due time
        self.broken = 0
        self.kept_due: list[float] = []  # deadlines; still hearsay while >= now
        self.broken_due: list[float] = []


def bag(items: list[Any], value: Any, sign: int) -> None:
    """Add (sign=+1) or remove (-1) one `value` of a sorted multiset."""
    if sign > 0:
        insort(items, value)
    else:
        i = bisect_left(items, value)
        assert i < len(items) and items[i] == value, (value, items[i:i + 1])
        del items[i]


def at_or_after(items: list[float], now: float) -> int:
    return len(items) - bisect_left(items, now)


def verdict_of(token: wire.Token) -> str | None:
    v = token.body.get("verdict")
    return v if isinstance(v, str) and v in _VERDICTS else None


def newer(a: wire.Token, b: wire.Token | None) -> bool:
    return b is None or (a.seq, a.cid) > (b.seq, b.cid)



def promised_out(token: wire.Token) -> tuple[str, ...] | None:
    """The cids a promise names in `out` (docs/design.md, Tokens), if checkable."""
    out = token.body.get("out")
    if isinstance(out, tuple) and out and all(isinstance(c, str) for c in out):
        return out
    return None


def delivered(token: wire.Token) -> tuple[str, ...] | None:
    """The cids of the artifacts a fulfil carries inline, if any (sorted, unique)."""
    arts = token.body.get("artifacts")
    if isinstance(arts, tuple) and arts and all(type(a) is bytes for a in arts):
        return tuple(sorted({wire.cid_of(a) for a in arts}))
    return None


def count_in(counts: dict[str, int], key: str, sign: int) -> None:
    """Add (sign=+1) or remove (-1) one `key` of a multiset kept as counts."""
    n = counts.get(key, 0) + sign
    if n:
        counts[key] = n
    else:
        del counts[key]


def classify(p: Promise, rivals_at: Callable[[str, int], Sequence[str]]
             ) -> tuple[Decision | None, wire.Token | None]:
    """(static verdict, claim) of `p`: what the tokens alone fix, whatever the clock.

    At most one is set. `rivals_at(issuer, seq)`: every token at that chain
    position when its issuer equivocated there (as the observer was told),
    else empty. Order (docs/trust.md, Verdicts): own > equivocation > checked
    artifacts > an on-time fulfil without checkable evidence before any
    retraction (a claim, weighed with the reports by the observer) >
    retraction > a late fulfil.
    """
    tok = p.token
    if p.own is not None:
        v: Literal["kept", "broken"] = (
            "kept" if verdict_of(p.own) == "kept" else "broken")
        return Decision(v, 1.0, (p.own.cid,), f"own assessment: {v}", p.own.iat, "own"), None
    rivals = rivals_at(tok.issuer, tok.seq)
    if rivals:
        return Decision("broken", 1.0, tuple(rivals), f"promiser equivocated at seq {tok.seq}",
                        tok.iat, "equivocation"), None
    if not p.retracts and not p.fulfils:
        return None, None  # (every new promise: no sorting of nothing)
    retracts = sorted((t for t in p.retracts if not rivals_at(t.issuer, t.seq)),
                      key=lambda t: (t.seq, t.cid))
    cutoff = retracts[0].seq if retracts else math.inf
    fulfils = sorted((t for t in p.fulfils if not rivals_at(t.issuer, t.seq) and t.seq < cutoff),
                     key=lambda t: (t.seq, t.cid))
    due = p.deadline
    out = promised_out(tok)
    if out is not None:
        # Machine-checked evidence beats any report: a delivery whose artifacts
        # hash to every promised cid, on time, keeps the promise; one that does
        # not match breaks it (docs/trust.md, Verdicts: verified).
        want = set(out)
        checked = [(t, set(got)) for t in fulfils if (got := delivered(t)) is not None]
        match = [t for t, got in checked if want <= got]
        on_time = [t for t in match if due is None or t.iat <= due]
        if on_time:
            f = on_time[0]
            return Decision("kept", 1.0, (f.cid,), "delivered artifacts match the promised out"
                            + ("" if due is None else ", on time"), f.iat, "verified"), None
        wrong = [t for t, got in checked if not want <= got]
        if wrong:
            f = wrong[0]
            return Decision("broken", 1.0, (f.cid,), "evidence contradicts the promise: "
                            "delivered artifacts do not match the promised out", f.iat,
                            "verified"), None
        if match:
            f = match[0]
            return Decision("broken", 1.0, (f.cid,),
                            f"delivered late: dated {f.iat}, due {tok.body['due']}", f.iat,
                            "deadline"), None
    on_time = [t for t in fulfils if due is None or t.iat <= due]
    if on_time:
        return None, on_time[0]  # before any retraction: a retraction cannot unkeep
    if retracts:
        r = retracts[0]
        return Decision("broken", 1.0, (r.cid,), "retracted by the promiser", r.iat,
                        "retracted"), None
    if fulfils:
        f = fulfils[0]
        return Decision("broken", 1.0, (f.cid,),
                        f"fulfilled late: dated {f.iat}, due {tok.body['due']}", f.iat,
                        "deadline"), None
    return None, None


def claim_decision(p: Promise) -> Decision | None:
    """The first-hand reading of an undisputed claim: kept, dated by the claim."""
    c = p.claim
    if c is None or p.disputed:
        return None
    return Decision("kept", 1.0, (c.cid,), "claimed by the promiser", c.iat, "claimed")
