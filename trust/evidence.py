"""Per-promise evidence records and the counters they feed.

Theory of operation. The observer keeps one `Promise` record per promise seen
(its followups: fulfils, retractions, this observer's own assessment, others'
latest assessments) and derives its *static* direct verdict (`Decision`: one
fixed by the tokens alone, whatever the clock) with `static_decision`. The
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
           "verdict_of", "newer", "static_decision"]

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
    __slots__ = ("token", "deadline", "fulfils", "retracts", "own", "assessments", "static")

    def __init__(self, token: wire.Token, deadline: float | None) -> None:
        self.token = token
        self.deadline = deadline
        self.fulfils: list[wire.Token] = []
        self.retracts: list[wire.Token] = []
        self.own: wire.Token | None = None
        self.assessments: dict[str, wire.Token] = {}  # assessor -> latest assess
        self.static: Decision | None = None


class Promiser:
    """Direct evidence counters for one agent's promises."""

    __slots__ = ("kept", "broken", "open")

    def __init__(self) -> None:
        self.kept = 0
        self.broken = 0
        self.open: list[float] = []  # deadlines of promises with no static verdict


class Referee:
    """Agreement counters for one assessor against this observer's direct verdicts."""

    __slots__ = ("agree", "disagree", "said_kept", "said_broken")

    def __init__(self) -> None:
        self.agree = 0
        self.disagree = 0
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



def static_decision(p: Promise, rivals_at: Callable[[str, int], Sequence[str]]) -> Decision | None:
    """The direct verdict of `p` that does not depend on the clock, if any.

    `rivals_at(issuer, seq)`: every token at that chain position when its
    issuer equivocated there (as the observer was told), else empty.
    """
    tok = p.token
    if p.own is not None:
        v: Literal["kept", "broken"] = (
            "kept" if verdict_of(p.own) == "kept" else "broken")
        return Decision(v, 1.0, (p.own.cid,), f"own assessment: {v}", p.own.iat,
                        "own")
    rivals = rivals_at(tok.issuer, tok.seq)
    if rivals:
        return Decision("broken", 1.0, tuple(rivals), f"promiser equivocated at seq {tok.seq}",
                        tok.iat, "equivocation")
    if not p.retracts and not p.fulfils:
        return None  # (every new promise: no sorting of nothing)
    retracts = sorted((t for t in p.retracts if not rivals_at(t.issuer, t.seq)),
                      key=lambda t: (t.seq, t.cid))
    cutoff = retracts[0].seq if retracts else math.inf
    fulfils = sorted((t for t in p.fulfils if not rivals_at(t.issuer, t.seq) and t.seq < cutoff),
                     key=lambda t: (t.seq, t.cid))
    due = p.deadline
    on_time = [t for t in fulfils if due is None or t.iat <= due]
    if on_time:
        f = on_time[0]
        return Decision("kept", 1.0, (f.cid,), "fulfilled by the promiser"
                        + ("" if due is None else " on time"), f.iat, "claimed")
    if retracts:
        r = retracts[0]
        return Decision("broken", 1.0, (r.cid,), "retracted by the promiser", r.iat,
                        "retracted")
    if fulfils:
        f = fulfils[0]
        return Decision("broken", 1.0, (f.cid,),
                        f"fulfilled late: dated {f.iat}, due {tok.body['due']}", f.iat,
                        "deadline")
    return None
