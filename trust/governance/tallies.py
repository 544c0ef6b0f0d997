"""Tallies: judging each member's published count, and planning this node's own.

Theory of operation: a tally is one or more `tally` tokens (parts) that name
a result and the exact cut (counted ballot cids) it was counted from, and
build on those ballots (docs/decisions/0003-tally-cuts.md). Per issuer and
proposal, `TallyBook` keeps the parts in chain order, groups them by cut
digest, and judges the latest complete group: `counted` when a recount of
its cut (`count` over the named ballots) gives exactly the claimed result,
else `false`, `unverified` (ballots missing here), `premature`, `non-member`,
`equivocation` or `incomplete`. Counted tallies add to the support of their
(quorum met, result); `support` and `state` turn that support into a
proposal's state against the threshold. `split_parts` cuts this node's own
count into parts small enough for a token.

Invariants: judging is incremental (only issuers whose parts or forks moved
are re-judged) yet equal to judging from scratch; a recount is memoised per
(proposal, cut digest), since a view's members are a function of its cid;
the threshold is compared exactly (rules.needed).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable, Mapping

import wire

from .bodies import parse_tally_body, tally_body
from .counting import cut_digest
from .rules import needed as needed_for
from .types import (
    TALLY_PART_BALLOTS_MAX,
    TALLY_PARTS_MAX,
    Frac,
    OutcomeState,
    Proposal,
    Support,
    TallyClaim,
    TallyInfo,
    TallyPart,
    TallyResult,
    TallyStatus,
)

__all__ = ["TallyBook", "Book", "parse_tally", "split_parts", "support", "state"]

Recount = Callable[[str, frozenset[str]], "TallyResult | None"]


def parse_tally(p: Proposal, t: wire.Token) -> TallyClaim | None:
    """What tally token `t` claims about proposal `p`, or None if it is malformed."""
    if t.scope != p.scope or p.cid not in t.deps:
        return None
    return parse_tally_body(t.body, p.options)


def split_parts(p: Proposal, res: TallyResult) -> tuple[TallyPart, ...]:
    """Split a cut over tally tokens of at most TALLY_PART_BALLOTS_MAX ballots each."""
    ordered = sorted(res.cut)
    chunks = [ordered[i:i + TALLY_PART_BALLOTS_MAX]
              for i in range(0, len(ordered), TALLY_PART_BALLOTS_MAX)] or [[]]
    n = len(chunks)
    if n > TALLY_PARTS_MAX:
        raise ValueError(f"cut of {len(ordered)} ballots needs {n} parts > {TALLY_PARTS_MAX}")
    return tuple(TallyPart(scope=p.scope, about=p.cid, deps=tuple(chunk) + (p.cid,),
                           body=tally_body(res, i, n))
                 for i, chunk in enumerate(chunks, 1))


def support(tally: Mapping[tuple[bool, str | None], int], electorate: int,
             threshold: Frac) -> tuple[tuple[Support, ...], int]:
    ranked = tuple(Support(quorum_met=q, result=r, members=n)
                    for (q, r), n in sorted(tally.items(),
                                            key=lambda kv: (-kv[1], not kv[0][0],
                                                            kv[0][1] or "")))
    return ranked, needed_for(threshold, electorate)


def state(p: Proposal, support: tuple[Support, ...], needed: int,
           now: float | None) -> tuple[OutcomeState | None, str | None, str]:
    """From tally support (and, when given, the clock): state, result, reason."""
    if len(support) > 1 and support[1].members >= needed:
        # Only with a threshold at or below 1/2: two results each have the
        # support needed. No tie rule picks one; the proposal is contested.
        return "contested", None, (f"two results each have >= {needed} supporting tallies "
                                   f"({support[0].members} and {support[1].members}); a "
                                   "threshold at or below 1/2 cannot decide between them")
    if support and support[0].members >= needed:
        top = support[0]
        if not top.quorum_met:
            return "failed-quorum", None, (f"{top.members} of {needed} needed tallies "
                                           "report the quorum not met")
        return "decided", top.result, f"{top.members} tallies (>= {needed} needed) agree"
    if len(support) > 1:
        return "contested", None, (f"tallies disagree ({len(support)} results); none has "
                                   f"{needed} supporters")
    if now is None:
        return None, None, "not decided"
    if now <= p.closes:
        return "open", None, f"closes at {p.closes}"
    have = support[0].members if support else 0
    return "counting", None, f"closed; {have} of {needed} needed agreeing tallies"


class Book:
    """One proposal's judged tallies for one (parse, electorate): see TallyBook.book."""

    __slots__ = ("proposal", "electorate", "infos", "issuers", "support", "unverified", "view")

    def __init__(self, proposal: Proposal, electorate: frozenset[str] | None) -> None:
        self.proposal = proposal
        self.electorate = electorate
        self.infos: dict[str, TallyInfo] = {}
        self.issuers: list[str] = []  # sorted
        self.support: dict[tuple[bool, str | None], int] = {}  # counted tallies per result
        self.unverified: set[str] = set()
        self.view: tuple[TallyInfo, ...] = ()


class TallyBook:
    """Every tally token seen, per proposal and issuer, and their judgements.

    `fork_at` (issuer -> lowest forked seq) is the engine's, shared and kept
    up to date by it; `recount(proposal cid, cut)` is the engine's count of a
    cut, or None when some of its ballots (or the electorate) are missing.
    """

    def __init__(self, fork_at: Mapping[str, int], recount: Recount) -> None:
        self._fork_at = fork_at
        self._recount = recount
        self._tallies: dict[str, dict[str, list[wire.Token]]] = {}  # proposal -> issuer -> parts
        self._books: dict[str, Book] = {}  # proposal -> judged tallies and support
        self._tally_dirty: dict[str, set[str]] = {}  # proposal -> issuers to re-judge
        # (proposal, cut digest) -> recount: a view's members are a function of
        # its cid once established, so the electorate needs no place in the key.
        self._verified: dict[tuple[str, bytes], TallyResult] = {}
        self._complete: dict[tuple[str, ...], bool] = {}  # part cids -> cut adds up
        self._cuts: dict[tuple[str, bytes], frozenset[str]] = {}  # checked digests

    def add(self, token: wire.Token) -> None:
        """Take in one tally part (about a proposal); its issuer is re-judged when asked."""
        assert token.about is not None
        per_t = self._tallies.setdefault(token.about, {})
        insort(per_t.setdefault(token.issuer, []), token, key=lambda t: (t.seq, t.cid))
        self.mark(token.about, token.issuer)

    def mark(self, proposal_cid: str, issuer: str) -> None:
        """Re-judge the issuer's tally of the proposal when next asked (e.g. it forked)."""
        self._tally_dirty.setdefault(proposal_cid, set()).add(issuer)

    def infos(self, p: Proposal, el: frozenset[str] | None) -> tuple[TallyInfo, ...]:
        """Every issuer's latest complete tally (or its best incomplete one), judged."""
        return self.book(p, el).view

    def cut_of(self, p: Proposal, info: TallyInfo,
               tokens: Mapping[str, wire.Token]) -> frozenset[str]:
        """The ballot cids a judged tally names."""
        return self._assemble(p, (tokens[c] for c in info.cids))

    def book(self, p: Proposal, el: frozenset[str] | None) -> Book:
        """The proposal's judged tallies, brought up to date incrementally.

        Rebuilt when the proposal's parse or electorate object changes;
        otherwise only issuers whose parts or forks moved since the last call
        (`mark`) and tallies still waiting for ballots are re-judged.
        """
        book = self._books.get(p.cid)
        dirty = self._tally_dirty.pop(p.cid, set())
        per = self._tallies.get(p.cid, {})
        if book is None or book.proposal is not p or book.electorate is not el:
            book = self._books[p.cid] = Book(p, el)
            redo: Iterable[str] = per
        else:
            redo = dirty | book.unverified
        changed = False
        for issuer in sorted(redo):
            parts = per.get(issuer)
            if parts is None:
                # Marked dirty for a fork (e.g. an equivocating voter) but it
                # has no tally on this proposal: nothing to re-judge.
                continue
            old = book.infos.get(issuer)
            info = self._latest_tally(p, el, issuer, parts)
            if old == info:
                continue
            changed = True
            if old is not None and old.status == "counted":
                k = (old.quorum_met, old.result)
                book.support[k] -= 1
                if not book.support[k]:
                    del book.support[k]
            if info.status == "counted":
                k = (info.quorum_met, info.result)
                book.support[k] = book.support.get(k, 0) + 1
            if old is None:
                insort(book.issuers, issuer)
            book.infos[issuer] = info
            if info.status == "unverified":
                book.unverified.add(issuer)
            else:
                book.unverified.discard(issuer)
        if changed or len(book.view) != len(book.issuers):
            book.view = tuple(book.infos[i] for i in book.issuers)
        return book

    def _latest_tally(self, p: Proposal, el: frozenset[str] | None, issuer: str,
                      parts: list[wire.Token]) -> TallyInfo:
        groups: dict[bytes, dict[int, wire.Token]] = {}
        claims: dict[bytes, TallyClaim] = {}
        malformed: list[wire.Token] = []
        for t in parts:  # chain order: for a duplicated part the lowest seq wins
            c = parse_tally(p, t)
            if c is None:
                malformed.append(t)
                continue
            first = claims.setdefault(c.digest, c)
            if (first.result, first.quorum_met, first.counts, first.ballots, first.parts) != (
                    c.result, c.quorum_met, c.counts, c.ballots, c.parts):
                malformed.append(t)
                continue
            groups.setdefault(c.digest, {}).setdefault(c.part, t)
        complete: list[tuple[int, bytes]] = []
        for digest, g in groups.items():
            if len(g) == claims[digest].parts and self._cut_matches(p, g.values(),
                                                                    claims[digest]):
                complete.append((max(t.seq for t in g.values()), digest))
        if not complete:
            if groups:
                digest = max(groups, key=lambda d: (max(t.seq for t in groups[d].values()), d))
                return self._info(p, issuer, groups[digest], claims[digest], "incomplete",
                                  f"{len(groups[digest])} of {claims[digest].parts} parts, "
                                  "or parts do not add up to the cut")
            t = malformed[-1]
            return TallyInfo(issuer=issuer, cids=(t.cid,), seq=t.seq, result=None,
                             quorum_met=False, counts=(), ballots=0, digest=b"",
                             status="malformed", reason="tally body does not parse")
        _, digest = max(complete)
        g, c = groups[digest], claims[digest]
        seq = max(t.seq for t in g.values())
        if el is None:
            return self._info(p, issuer, g, c, "unverified", "no electorate here")
        if min(t.iat for t in g.values()) < p.closes:
            return self._info(p, issuer, g, c, "premature", f"dated before closes {p.closes}")
        fork = self._fork_at.get(issuer)
        if fork is not None and fork <= seq:
            return self._info(p, issuer, g, c, "equivocation", f"chain forks at seq {fork}")
        if issuer not in el:
            return self._info(p, issuer, g, c, "non-member", "issuer not in the electorate")
        res = self._verify(p, el, g.values(), c)
        if res is None:
            return self._info(p, issuer, g, c, "unverified", "ballots of the cut missing here")
        if (res.result, res.quorum_met, res.counts, res.ballots) != (
                c.result, c.quorum_met, c.counts, c.ballots):
            return self._info(p, issuer, g, c, "false",
                              f"recount gives {res.result!r} (quorum {res.quorum_met}) "
                              f"from {res.ballots} ballots")
        return self._info(p, issuer, g, c, "counted", "verified by recount")

    def _info(self, p: Proposal, issuer: str, g: Mapping[int, wire.Token], c: TallyClaim,
              status: TallyStatus, reason: str) -> TallyInfo:
        ts = sorted(g.values(), key=lambda t: (t.seq, t.cid))
        return TallyInfo(issuer=issuer, cids=tuple(t.cid for t in ts), seq=ts[-1].seq,
                         result=c.result, quorum_met=c.quorum_met, counts=c.counts,
                         ballots=c.ballots, digest=c.digest, status=status, reason=reason)

    def _cut_matches(self, p: Proposal, parts: Iterable[wire.Token], c: TallyClaim) -> bool:
        ts = tuple(parts)
        key = tuple(sorted(t.cid for t in ts))
        ok = self._complete.get(key)
        if ok is None:
            cut = self._assemble(p, ts)
            if len(cut) != c.ballots:
                ok = False
            else:
                # most tallies name a cut seen before: set equality (hashes of
                # the cid strings are cached) is ~10x cheaper than sort + sha256
                known = self._cuts.get((p.cid, c.digest))
                ok = cut == known if known is not None else cut_digest(cut) == c.digest
                if ok and known is None:
                    self._cuts[(p.cid, c.digest)] = cut
            self._complete[key] = ok
        return ok

    def _assemble(self, p: Proposal, parts: Iterable[wire.Token]) -> frozenset[str]:
        cut: set[str] = set()
        for t in parts:
            cut.update(d for d in t.deps if d != p.cid)
        return frozenset(cut)

    def _verify(self, p: Proposal, el: frozenset[str], parts: Iterable[wire.Token],
                c: TallyClaim) -> TallyResult | None:
        key = (p.cid, c.digest)
        hit = self._verified.get(key)
        if hit is not None:
            return hit
        res = self._recount(p.cid, self._assemble(p, parts))
        if res is not None:
            self._verified[key] = res
        return res
