"""Admission: whose tokens a node stores and forwards (its horizon).

Theory of operation (docs/decisions/0006-admission.md; docs/design.md,
Admission). Identities cost nothing, so a node cannot store and relay every
valid token of everyone. `Admission` sorts issuers in two:

- **inside the horizon**, at a hop distance: the node's own agent is at 0; a
  token of an issuer at distance d < `hops_max`, once applied, puts every agent
  it *names* at d + 1 or nearer. A token names the issuers of its `deps` (it
  builds on them) and of its `about` target if held (it assesses, fulfils or
  retracts about them), the promisee `to` of a promise, the `members` of a
  charter and the `membership.add` of a proposal. Members so named by an
  inside issuer's charter or proposal are inside even at d = `hops_max` (they
  are members of a community the node follows; they just name nobody further).
  The horizon only grows, and an issuer inside is never refused anything;
- **strangers**: everyone else. A stranger's token is taken only if its seq is
  at most `stranger_quota` (the start of its chain), the stranger holds fewer
  than `stranger_quota` tokens here (forks count), and fewer than
  `stranger_budget` strangers' tokens were taken in the last
  `stranger_budget_window_s` (the budget refills as its charges age, so
  strangers' tokens are stored at a bounded rate, and a newcomer is heard
  again a window after a flood). Past that it is *ignored*: not stored, not
  forwarded, nobody penalised (an honest relay forwarded a valid token).

One exception keeps "never refuse the inside" true: the causal past of an
admitted token. A token awaited as a parent by an admitted token that is not
a stranger's is *needed*: taken free of charge, and its issuer's chain up to
that seq with it (`needed_seq`), so the awaited token can apply.

A stranger who enters the horizon has its charges refunded; what was ignored
of it comes by anti-entropy sync, which asks only for what `pull_limit`
allows (everything of an issuer inside, a stranger's quota while the budget
lasts) so it neither pulls a flood back in nor skips a newcomer.

Pure and deterministic: the distances are minima over the applied tokens
(the same set in any order gives the same horizon); the charges are
first-come, in the order the core is driven, each stamped with the `now` it
was taken at. A restart replays the log with each token's stored `seen_at`
as that stamp (the same instant, or for a token that waited for its parents
the later one it applied at), so the window is rebuilt from the store.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trust.governance.bodies import agents
from wire import Token

__all__ = ["AdmissionParams", "Admission", "ADMIT_REASONS", "IGNORE_REASONS"]

# Why a token was taken: its issuer is inside; it is the causal past of an
# admitted token; a stranger's, within quota and budget.
ADMIT_REASONS = ("inside", "needed", "stranger")
# Why a token was ignored: past its issuer's quota; past the shared budget.
IGNORE_REASONS = ("stranger-quota", "stranger-budget")


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionParams:
    # Hops from the own agent along "names" edges (Secure Scuttlebutt
    # replicates 2 hops of follows by default: friends and friends of friends).
    hops_max: int = 2
    # A stranger's first this-many seqs may be stored: enough to introduce
    # itself (a few promises, a charter, a vote) before anyone vouches for it.
    stranger_quota: int = 64
    # Stranger tokens taken per window: ~10,000 x ~0.5 KiB is ~5 MiB of store
    # (and a little more of memory) a day, whatever a flood of fresh
    # identities sends; a node's disk outlasts years of that.
    stranger_budget: int = 10_000
    # A stranger token counts against the budget this long after it was
    # taken. A day: a flood shuts newcomers out for a day at most, while an
    # attacker gets no more than the budget stored a day.
    stranger_budget_window_s: float = 86_400.0

    def __post_init__(self) -> None:
        if not 0 <= self.hops_max <= 16:
            raise ValueError(f"hops_max must be in 0..16, got {self.hops_max}")
        if self.stranger_quota < 0 or self.stranger_budget < 0:
            raise ValueError(f"quota and budget must be >= 0, got {self.stranger_quota}, "
                             f"{self.stranger_budget}")
        if not self.stranger_budget_window_s > 0:
            raise ValueError(f"stranger_budget_window_s must be > 0, got "
                             f"{self.stranger_budget_window_s}")


def _named(tok: Token, tokens: Mapping[str, Token]) -> tuple[set[str], set[str]]:
    """The agents `tok` names: (by building on, assessing or promising to
    them; as members of a community). Its own issuer is left out."""
    named: set[str] = set()
    for d in tok.deps:
        dep = tokens.get(d)
        if dep is not None:
            named.add(dep.issuer)
    if tok.about is not None:
        target = tokens.get(tok.about)
        if target is not None:
            named.add(target.issuer)
    body = tok.body
    members: frozenset[str] | None = None
    if tok.kind == "promise":
        to = body.get("to")
        if isinstance(to, str) and to:
            named.add(to)
    elif tok.kind == "charter":
        members = agents(body.get("members"))
    elif tok.kind == "proposal":
        change = body.get("membership")
        members = agents(change.get("add", ())) if isinstance(change, Mapping) else None
    named.discard(tok.issuer)
    if not members:  # most tokens: no set of members to build
        return named, set()
    member_set = set(members)
    member_set.discard(tok.issuer)
    named -= member_set
    return named, member_set


class Admission:
    """The horizon, the strangers' charges, and the counts of every decision."""

    __slots__ = ("params", "dist", "needed_seq", "charged", "budget_used", "counts",
                 "_edges", "_window", "_in_window")

    def __init__(self, own: str | None, params: AdmissionParams) -> None:
        self.params = params
        # Issuers inside the horizon -> hop distance (the own agent at 0).
        self.dist: dict[str, int] = {own: 0} if own is not None else {}
        # Per issuer, the highest seq some admitted token needs as a parent.
        self.needed_seq: dict[str, int] = {}
        # Per stranger, how many of its tokens were taken on the budget (its
        # quota: these never age, the tokens stay stored).
        self.charged: dict[str, int] = {}
        # Strangers' tokens taken within the window (the budget spent).
        self.budget_used = 0
        # (taken at, issuer) of the charges not yet aged out, a min-heap; a
        # refunded issuer's entries stay until they age, and count for nothing.
        self._window: list[tuple[float, str]] = []
        # Per stranger, its charges in `_window` (what a refund gives back).
        self._in_window: dict[str, int] = {}
        # Decisions by reason (ADMIT_REASONS and IGNORE_REASONS), each token
        # counted once per arrival, whether the core or the gossip validator
        # (`Core.judge_gossip`) decided.
        self.counts: dict[str, int] = {}
        # Per issuer, who its applied tokens name: (plain, as members).
        self._edges: dict[str, tuple[set[str], set[str]]] = {}

    # -- queries ------------------------------------------------------------
    def inside(self, agent: str) -> bool:
        return agent in self.dist

    def covers(self, tok: Token) -> bool:
        """Is `tok` taken free of charge (its issuer inside, or needed)?"""
        return tok.issuer in self.dist or tok.seq <= self.needed_seq.get(tok.issuer, 0)

    def judge(self, issuer: str, seq: int, now: float,
              awaited_by: Iterable[Token] = ()) -> str:
        """Why a token of `issuer` at `seq` would be taken (an ADMIT_REASON)
        or ignored (an IGNORE_REASON) at `now`. `awaited_by`: admitted tokens
        waiting for it. Needs no more of the token than these, so that a
        token can be refused before its signature is checked."""
        if issuer in self.dist:
            return "inside"
        if seq <= self.needed_seq.get(issuer, 0) or any(self.covers(w) for w in awaited_by):
            return "needed"
        p = self.params
        if seq > p.stranger_quota or self.charged.get(issuer, 0) >= p.stranger_quota:
            return "stranger-quota"
        if self.budget_left(now) == 0:
            return "stranger-budget"
        return "stranger"

    def budget_left(self, now: float) -> int:
        """Strangers' tokens that may still be taken at `now`."""
        self._age(now)
        return max(0, self.params.stranger_budget - self.budget_used)

    def budget_refills_at(self, now: float) -> float | None:
        """When the oldest charge in the window ages out (None: none in it)."""
        self._age(now)
        return self._window[0][0] + self.params.stranger_budget_window_s if self._window \
            else None

    def pull_limit(self, agent: str, their_seq: int, have: int, now: float) -> int:
        """Up to which seq sync should ask a peer for `agent`'s chain (<= have: none)."""
        if agent in self.dist:
            return their_seq
        limit = self.needed_seq.get(agent, 0)
        if self.budget_left(now) and self.charged.get(agent, 0) < self.params.stranger_quota:
            limit = max(limit, min(their_seq, self.params.stranger_quota))
        return min(limit, their_seq) if limit > have else have

    def report(self, now: float) -> dict[str, object]:
        """The decisions so far and the budget at `now`, as plain values (for stats)."""
        p = self.params
        refills_at = self.budget_refills_at(now)
        return {
            "admitted": {r: self.counts.get(r, 0) for r in ADMIT_REASONS},
            "ignored": {r: n for r, n in sorted(self.counts.items()) if r not in ADMIT_REASONS},
            "horizon": len(self.dist),
            "hops_max": p.hops_max,
            "stranger_quota": p.stranger_quota,
            "stranger_budget": p.stranger_budget,
            "stranger_budget_window_s": p.stranger_budget_window_s,
            "stranger_budget_used": self.budget_used,
            "stranger_budget_left": self.budget_left(now),
            "stranger_budget_refill_in_s": None if refills_at is None
            else max(0.0, refills_at - now),
            "strangers_held": len(self.charged),
        }

    # -- decisions ----------------------------------------------------------
    def admit(self, tok: Token, now: float, awaited_by: Iterable[Token] = ()) -> bool:
        """Judge `tok` at `now`, charge it if it is a stranger's, count the decision."""
        reason = self.judge(tok.issuer, tok.seq, now, awaited_by)
        self.count(reason)
        if reason == "needed":
            self.needed_seq[tok.issuer] = max(tok.seq, self.needed_seq.get(tok.issuer, 0))
        elif reason == "stranger":
            self._charge(tok.issuer, now)
        return reason in ADMIT_REASONS

    def restored(self, tok: Token, seen_at: float | None) -> None:
        """`tok` was admitted before a restart, and applied at `seen_at`:
        charge it again if it is a stranger's (never refused: it is on disk
        already). Unknown `seen_at` (a log older than the column): it counts
        for its issuer's quota, not in the window."""
        if not self.covers(tok):
            self._charge(tok.issuer, seen_at)

    def count(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1

    def _charge(self, issuer: str, at: float | None) -> None:
        self.charged[issuer] = self.charged.get(issuer, 0) + 1
        if at is None:
            return
        heapq.heappush(self._window, (at, issuer))
        self._in_window[issuer] = self._in_window.get(issuer, 0) + 1
        self.budget_used += 1

    def _age(self, now: float) -> None:
        """Drop the charges taken a whole window before `now`."""
        window, horizon = self._window, now - self.params.stranger_budget_window_s
        while window and window[0][0] <= horizon:
            _, issuer = heapq.heappop(window)
            if issuer in self.dist:
                continue  # refunded when it came inside
            left = self._in_window[issuer] - 1
            if left:
                self._in_window[issuer] = left
            else:
                del self._in_window[issuer]
            self.budget_used -= 1
        while window and window[0][1] in self.dist:
            heapq.heappop(window)  # refunded: the next one is when it refills

    def applied(self, tok: Token, tokens: Mapping[str, Token]) -> None:
        """`tok` was applied (its parents are in `tokens`): grow the horizon
        by what it names, and the causal past its admission needed."""
        if self.covers(tok):
            for parent_cid in (tok.prev, *tok.deps):
                parent = tokens.get(parent_cid) if parent_cid is not None else None
                if parent is not None and parent.issuer not in self.dist and \
                        parent.seq > self.needed_seq.get(parent.issuer, 0):
                    self.needed_seq[parent.issuer] = parent.seq
        plain, members = _named(tok, tokens)
        edges = self._edges.get(tok.issuer)
        if edges is not None:
            # Only new edges can move a distance: the known ones were relaxed
            # when added, and again whenever their source came nearer (_reach).
            plain -= edges[0]
            members -= edges[1]
        if not plain and not members:
            return
        if edges is None:
            edges = self._edges[tok.issuer] = (set(), set())
        edges[0].update(plain)
        edges[1].update(members)
        d = self.dist.get(tok.issuer)
        if d is not None:
            self._reach(tok.issuer, d, plain, members)

    def _reach(self, source: str, d: int, plain: Iterable[str], members: Iterable[str]) -> None:
        """Relax the distances of what `source` (at `d`) names, transitively."""
        hops_max = self.params.hops_max
        work: list[tuple[int, str]] = []
        if d < hops_max:
            work.extend((d + 1, a) for a in plain)
        work.extend((min(d + 1, hops_max), a) for a in members)
        while work:
            nd, agent = work.pop()
            old = self.dist.get(agent)
            if old is not None and old <= nd:
                continue
            self.dist[agent] = nd
            # Inside now: its tokens are no stranger's; their charges go.
            self.charged.pop(agent, None)
            self.budget_used -= self._in_window.pop(agent, 0)
            out = self._edges.get(agent)
            if out is not None:
                if nd < hops_max:
                    work.extend((nd + 1, a) for a in out[0])
                work.extend((min(nd + 1, hops_max), a) for a in out[1])

    # -- invariants ---------------------------------------------------------
    def check_invariants(self, held: Iterable[Token]) -> None:
        """Assert the module docstring's promises over every token `held`
        (applied or waiting); O(held + edges)."""
        assert self.budget_used == sum(self._in_window.values()), \
            "the budget differs from the charges in the window"
        assert all(0 < n <= self.charged.get(i, 0) for i, n in self._in_window.items()), \
            "more charges in the window than the issuer's"
        assert not (self.charged.keys() & self.dist.keys()), "an issuer inside is charged"
        assert all(0 <= d <= self.params.hops_max for d in self.dist.values()), \
            "a distance beyond hops_max"
        uncovered: dict[str, int] = {}
        for tok in held:
            if not self.covers(tok):
                uncovered[tok.issuer] = uncovered.get(tok.issuer, 0) + 1
        for issuer, n in uncovered.items():
            assert n <= self.charged.get(issuer, 0), \
                f"{issuer}: {n} stranger tokens held, {self.charged.get(issuer, 0)} charged"
        for source, (plain, members) in self._edges.items():
            d = self.dist.get(source)
            if d is None:
                continue
            for a in members:
                assert self.dist.get(a, 99) <= min(d + 1, self.params.hops_max), \
                    f"{a}: a member named by {source} at {d} is not inside"
            if d < self.params.hops_max:
                for a in plain:
                    assert self.dist.get(a, 99) <= d + 1, f"{a}: named by {source} at {d}"
