"""Pure counting: what a set of ballots says, by the proposal's method.

Theory of operation: `count(proposal, electorate, ballots)` is the one
definition of a result: per voter in the electorate the well-filed, on-time
ballot highest in the voter's chain counts (two at that seq void the voter), a
spoiled choice counts for nothing, and the `Counter` sums the rest (votes per
option for single/approval; the Schulze pairwise matrix for ranked). The
engine keeps a `Counter` per proposal up to date ballot by ballot; a tally is
verified by running `count` over the cut it names (docs/governance.md,
Counting; docs/decisions/0003-tally-cuts.md).

Invariants: every answer depends on the set of ballots only, never their
order; quorum and pass share compare by integer cross-multiplication; zero
counted ballots give no result (ranked included); `tied` lists the options
tied for the most votes even when the pass share leaves no winner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import wire

from .bodies import choice
from .types import Count, Proposal, Rules, TallyResult

__all__ = ["count", "cut_digest", "schulze", "Counter", "count_of", "result_of", "misfiled",
           "late"]


def cut_digest(cut: Iterable[str]) -> bytes:
    """sha256 of the cut's cid strings, sorted, each followed by a newline.

    Text cids (base32, `bafkrei...`) rather than their bytes: no decoding, so
    a 10,000-ballot cut digests in milliseconds. Duplicates count once.
    """
    return hashlib.sha256("".join(c + "\n" for c in sorted(set(cut))).encode()).digest()


def schulze(d: Sequence[Sequence[int]]) -> tuple[list[list[int]], list[int]]:
    """Strongest paths p and the potential winners (Schulze 2011, s2.2).

    d[i][j] = voters preferring i to j. p is the widest-path closure over the
    links d[i][j] > d[j][i] (Floyd-Warshall variant); the winners are every i
    with p[i][j] >= p[j][i] for all j. M. Schulze, "A new monotonic,
    clone-independent, reversal symmetric, and Condorcet-consistent
    single-winner election method", Social Choice and Welfare 36 (2011).
    """
    k = len(d)
    p = [[d[i][j] if i != j and d[i][j] > d[j][i] else 0 for j in range(k)] for i in range(k)]
    for m in range(k):
        pm = p[m]
        for i in range(k):
            if i == m:
                continue
            pim = p[i][m]
            if not pim:
                continue
            pi = p[i]
            for j in range(k):
                if j != i and j != m:
                    w = pim if pim < pm[j] else pm[j]
                    if w > pi[j]:
                        pi[j] = w
    winners = [i for i in range(k) if all(p[i][j] >= p[j][i] for j in range(k) if j != i)]
    return p, winners


class Counter:
    """Running counts of one proposal's counted ballots (order-free sums)."""

    __slots__ = ("k", "method", "votes", "pairwise", "ballots")

    def __init__(self, k: int, method: str) -> None:
        self.k = k
        self.method = method
        self.votes = [0] * k
        self.pairwise = [[0] * k for _ in range(k)] if method == "ranked" else []
        self.ballots = 0

    def add(self, choice: tuple[int, ...], sign: int) -> None:
        self.ballots += sign
        if self.method != "ranked":
            for i in choice:
                self.votes[i] += sign
            return
        self.votes[choice[0]] += sign  # first preferences, for display
        ranked = set(choice)
        rest = [j for j in range(self.k) if j not in ranked]
        for pos, i in enumerate(choice):
            row = self.pairwise[i]
            for j in choice[pos + 1:]:
                row[j] += sign
            for j in rest:
                row[j] += sign

    def counts(self) -> tuple[int, ...]:
        if self.method == "ranked":
            return tuple(x for row in self.pairwise for x in row)
        return tuple(self.votes)

    def decide(self, rules: Rules, electorate: int) -> tuple[bool, int | None, tuple[int, ...]]:
        """(quorum met, winner index or None, indexes tied for the win)."""
        qn, qd = rules.quorum
        quorum_met = self.ballots * qd >= qn * electorate
        if self.ballots == 0:
            return quorum_met, None, ()
        if self.method == "ranked":
            _, winners = schulze(self.pairwise)
            return quorum_met, winners[0], tuple(winners) if len(winners) > 1 else ()
        top = max(self.votes)
        tied = tuple(i for i, v in enumerate(self.votes) if v == top)
        pn, pd = rules.pass_share
        if top * pd <= pn * self.ballots:
            return quorum_met, None, tied if len(tied) > 1 else ()
        return quorum_met, tied[0], tied if len(tied) > 1 else ()



def misfiled(proposal: Proposal, b: wire.Token) -> str | None:
    if b.kind != "ballot" or b.about != proposal.cid:
        return "not a ballot on this proposal"
    if b.scope != proposal.scope:
        return "ballot scope is not the proposal's"
    if proposal.cid not in b.deps:
        return "ballot does not build on the proposal"
    return None


def late(proposal: Proposal, b: wire.Token, skew_s: float) -> bool:
    return b.iat > proposal.closes + skew_s


def count(proposal: Proposal, electorate: frozenset[str], ballots: Iterable[wire.Token], *,
          skew_allowance_s: float) -> TallyResult:
    """Count a cut: the same answer for the same set of ballots, in any order.

    Per voter in the electorate, among on-time, well-filed ballots of the cut,
    the highest seq counts; two at that seq void the voter (equivocation). A
    spoiled choice counts nothing. Everything else is listed in `excluded`.
    """
    excluded: list[tuple[str, str]] = []
    per_voter: dict[str, list[wire.Token]] = {}
    for b in ballots:
        why = misfiled(proposal, b)
        if why is None and b.issuer not in electorate:
            why = "voter not in the electorate"
        if why is None and late(proposal, b, skew_allowance_s):
            why = "late"
        if why is not None:
            excluded.append((b.cid, why))
            continue
        per_voter.setdefault(b.issuer, []).append(b)
    counter = Counter(len(proposal.options), proposal.method)
    cut: list[str] = []
    for bs in per_voter.values():
        bs.sort(key=lambda t: (t.seq, t.cid))
        top = bs[-1]
        if len(bs) > 1 and bs[-2].seq == top.seq:
            excluded.extend((b.cid, "equivocation") for b in bs)
            continue
        excluded.extend((b.cid, "superseded") for b in bs[:-1])
        picked = choice(proposal, top.body)
        if picked is None:
            excluded.append((top.cid, "spoiled"))
            continue
        counter.add(picked, +1)
        cut.append(top.cid)
    return result_of(proposal, counter, len(electorate), tuple(sorted(cut)),
                   tuple(sorted(excluded)))


def count_of(proposal: Proposal, counter: Counter, electorate: int) -> Count:
    quorum_met, winner, tied = counter.decide(proposal.rules, electorate)
    return Count(
        proposal=proposal.cid, method=proposal.method, options=proposal.options,
        counts=counter.counts(), ballots=counter.ballots, electorate=electorate,
        quorum_met=quorum_met, result=None if winner is None else proposal.options[winner],
        tied=tuple(proposal.options[i] for i in tied))


def result_of(proposal: Proposal, counter: Counter, electorate: int, cut: tuple[str, ...],
            excluded: tuple[tuple[str, str], ...] = ()) -> TallyResult:
    quorum_met, winner, tied = counter.decide(proposal.rules, electorate)
    return TallyResult(
        proposal=proposal.cid, method=proposal.method, options=proposal.options,
        counts=counter.counts(), ballots=counter.ballots, electorate=electorate,
        quorum_met=quorum_met, result=None if winner is None else proposal.options[winner],
        tied=tuple(proposal.options[i] for i in tied), cut=cut, digest=cut_digest(cut),
        excluded=excluded)
