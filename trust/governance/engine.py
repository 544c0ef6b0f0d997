"""The governance engine: one observer's state over the tokens it has verified.

Theory of operation (token conventions and rules: docs/governance.md; cut
splitting: docs/decisions/0003-tally-cuts.md). Governance is an application of
the generic machinery, not a separate system: every fact is a signed token,
every reference is a cid in `deps`/`about`, every answer is a pure function of
(tokens observed, `now`, Params), in any arrival order.

- A `charter`'s cid is a community (scope); its body names the founding members
  and the rules. The charter opens view (epoch) 0.
- A `proposal` builds on exactly one view: the charter, or a decided membership
  proposal (which opened epoch e+1 by applying its add/remove to its own view).
  Its electorate is that view's members (views.py).
- A `ballot` is about and builds on the proposal. Per voter the on-time ballot
  highest in the voter's chain counts (chain order, not clocks); a voter whose
  chain forks (two tokens at one seq) at or below its ballots is an equivocator
  and all its ballots on that proposal are void. A ballot dated after
  closes + skew allowance is late: kept, never counted. A ballot that arrived
  here after closes + skew allowance (this observer's clock, `observe(...,
  seen_at=)`) is late-on-arrival: left out of this observer's own count and
  tally, though a tally that counts it still verifies (docs/decisions/0004).
- A `tally` names a result and the exact cut (counted ballot cids) and builds
  on those ballots; `count(proposal, electorate, ballots)` recomputes any tally
  from its cut, so a tally either verifies or is false (tallies.py).

This class holds the state and answers questions; the rules live in the
modules it delegates to: bodies.py (reading token bodies), rules.py (shares
and the tighten rule), views.py (a proposal in its community's context),
counting.py (what ballots say), tallies.py (judging tallies).

Equivocation has one owner, the caller: the node core tracks every chain and
tells `observe` whether a token is a rival of an earlier one (`rival=`);
this engine keeps no (issuer, seq) map of its own.

State: per-proposal counters (`_Tallier`) over the voters' current ballots,
kept up to date ballot by ballot (single/approval: votes per option; ranked:
the Schulze pairwise matrix), so a new ballot costs O(k^2) at most and a query
O(k^3) for ranked (k = options, <= OPTIONS_MAX), never O(ballots). Counters
are rebuilt only when a proposal's electorate changes (a view decided or
undone). Tally verification is memoised per (proposal, cut digest).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import wire

from ..params import Params
from .bodies import choice, parse_charter
from .counting import Counter, count, count_of, late, misfiled, result_of
from .tallies import TallyBook, split_parts, state, support
from .types import (
    GOVERNANCE_KINDS,
    BallotState,
    BallotStatus,
    Charter,
    Count,
    CutDifference,
    Explanation,
    GovernanceEffects,
    Outcome,
    OutcomeState,
    Proposal,
    ProposalInfo,
    TallyInfo,
    TallyPlan,
    TallyResult,
    View,
)
from .views import current, is_membership_token, next_members, proposal_in_context

__all__ = ["Governance"]

_NO_EFFECTS = GovernanceEffects()


class _Tallier:
    """Incremental counters of one proposal for one electorate."""

    __slots__ = ("proposal", "electorate", "counter", "current")

    def __init__(self, proposal: Proposal, electorate: frozenset[str]) -> None:
        self.proposal = proposal
        self.electorate = electorate
        self.counter = Counter(len(proposal.options), proposal.method)
        self.current: dict[str, tuple[str, tuple[int, ...]]] = {}  # voter -> (cid, choice)




@dataclass(slots=True)
class _Memo:
    version: int = -1
    views: dict[str, View | None] = field(default_factory=dict)
    outcomes: dict[str, tuple[OutcomeState | None, str | None, str]] = field(default_factory=dict)


class Governance:
    """One observer's governance view over the tokens it has verified. Pure.

    Feed every verified token with `observe` (non-governance tokens matter
    too: a fork anywhere in a voter's chain voids its ballots). Ask
    `outcome`, `explain`, `proposals`, `cut_for`, `tally_plan`.
    """

    def __init__(self, agent_id: str, params: Params | None = None) -> None:
        self.agent_id = agent_id
        self.params = params if params is not None else Params()
        self._skew = self.params.skew_allowance_s
        self._tokens: dict[str, wire.Token] = {}  # governance tokens by cid
        self._fork_at: dict[str, int] = {}  # issuer -> lowest forked seq
        self._charters: dict[str, Charter | None] = {}
        self._proposal_tokens: dict[str, wire.Token] = {}
        self._proposals_in: dict[str | None, set[str]] = {}  # scope -> proposal cids
        self._ballots: dict[str, dict[str, list[wire.Token]]] = {}  # proposal -> voter -> sorted
        self._involved: dict[str, set[str]] = {}  # agent -> proposals it balloted/tallied
        self._talliers: dict[str, _Tallier] = {}
        self._tally_book = TallyBook(self._fork_at, self.recount)
        self._view_members: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._deadlines: list[tuple[float, str]] = []  # (closes, cid), (closes + skew, cid)
        self._version = 0
        self._memo = _Memo()
        # a proposal's parse depends on charters and proposals only: re-parse
        # when one of those arrives, not on every ballot
        self._structure = 0
        self._parsed: dict[str, tuple[int, Proposal]] = {}
        # When this observer first applied each proposal and ballot, on its own
        # clock (None: not known, e.g. a store written before arrival times
        # were kept). Judges lateness for this observer's own count only.
        self._seen_at: dict[str, float] = {}

    # -- input -----------------------------------------------------------------------

    def observe(self, token: wire.Token, *, rival: bool,
                seen_at: float | None = None) -> GovernanceEffects:
        """Take in one verified token (any kind); returns what may have changed.

        `rival` says whether another token of the same issuer and seq came
        before this one (a fork of its chain). The caller owns that judgement
        (the node core tracks every chain); the engine keeps no map of its own.
        `seen_at` is when this observer first applied the token, on its own
        clock (None: unknown). A ballot that arrived after closes + skew
        allowance is late *for this observer*: its own count (`cut_for`,
        `count_now`, `tally_plan`, `Outcome.own`) leaves it out and `explain`
        shows it as `late-on-arrival`; judging others' tallies (`recount`)
        ignores arrival times (docs/decisions/0004-arrival-lateness.md).
        """
        kind = token.kind
        if not rival and kind not in GOVERNANCE_KINDS:
            return _NO_EFFECTS  # the common case: a promise, fulfil or assess
        equivocators: frozenset[str] = frozenset()
        affected: set[str] = set()
        if rival:
            old = self._fork_at.get(token.issuer)
            if old is None or token.seq < old:
                self._fork_at[token.issuer] = token.seq
                equivocators = frozenset((token.issuer,))
                self._version += 1
                for p in sorted(self._involved.get(token.issuer, ())):
                    self._rejudge(p, token.issuer)
                    self._tally_book.mark(p, token.issuer)
                    affected.add(p)
        if kind not in GOVERNANCE_KINDS or token.cid in self._tokens:
            return GovernanceEffects(proposals=frozenset(affected), equivocators=equivocators)
        self._tokens[token.cid] = token
        if seen_at is not None and kind in ("proposal", "ballot"):
            self._seen_at[token.cid] = seen_at
        self._version += 1
        if kind in ("charter", "proposal"):
            self._structure += 1
        if kind == "charter":
            self._charters[token.cid] = parse_charter(token.body, cid=token.cid,
                                                     issuer=token.issuer)
            affected |= self._proposals_in.get(token.cid, set())
        elif kind == "proposal":
            self._proposal_tokens[token.cid] = token
            self._proposals_in.setdefault(token.scope, set()).add(token.cid)
            closes = token.body.get("closes")
            if type(closes) is int:
                insort(self._deadlines, (float(closes), token.cid))
                insort(self._deadlines, (closes + self._skew, token.cid))
            affected.add(token.cid)
            affected |= self._dependents(token.cid)
        elif kind == "ballot" and token.about is not None:
            per = self._ballots.setdefault(token.about, {})
            insort(per.setdefault(token.issuer, []), token, key=lambda t: (t.seq, t.cid))
            self._involved.setdefault(token.issuer, set()).add(token.about)
            self._rejudge(token.about, token.issuer)
            affected.add(token.about)
            # a tally waiting for this ballot may now verify: its proposal's
            # dependents (views) follow through the version bump
            if self._proposal_tokens.get(token.about) is not None:
                affected |= self._dependents(token.about)
        elif kind == "tally" and token.about is not None:
            self._tally_book.add(token)
            self._involved.setdefault(token.issuer, set()).add(token.about)
            affected.add(token.about)
            affected |= self._dependents(token.about)
        return GovernanceEffects(proposals=frozenset(affected), equivocators=equivocators)

    # -- questions -------------------------------------------------------------------

    def charter(self, scope: str) -> Charter | None:
        return self._charters.get(scope)

    def charters(self) -> tuple[Charter, ...]:
        """Every valid charter seen: the communities, by cid."""
        return tuple(c for _, c in sorted(self._charters.items()) if c is not None)

    def proposal(self, cid: str) -> Proposal | None:
        """The parsed proposal (with `problem` set if it is not valid here)."""
        hit = self._parsed.get(cid)
        if hit is not None and hit[0] == self._structure:
            return hit[1]
        tok = self._proposal_tokens.get(cid)
        if tok is None:
            return None
        p = self._parse_proposal(tok)
        self._parsed[cid] = (self._structure, p)
        return p

    def view(self, cid: str) -> View | None:
        """The view opened by a charter or a decided membership proposal, if established."""
        self._refresh()
        memo = self._memo.views
        if cid in memo:
            return memo[cid]
        memo[cid] = None  # deps form a DAG; this guards against malformed input anyway
        v = self._compute_view(cid)
        memo[cid] = v
        return v

    def views(self, scope: str) -> tuple[View, ...]:
        """Every established view of a community, by (epoch, cid)."""
        found = (self.view(c) for c in [scope, *sorted(self._proposals_in.get(scope, ()))])
        return tuple(sorted((v for v in found if v is not None), key=lambda v: (v.epoch, v.cid)))

    def current_view(self, scope: str) -> View | None:
        """The view a new proposal should build on: highest epoch, then smallest cid."""
        return current(self.views(scope))

    def electorate(self, proposal_cid: str) -> frozenset[str] | None:
        """Members of the proposal's view, or None if it is not valid here (yet)."""
        p = self.proposal(proposal_cid)
        if p is None or p.view is None or p.problem is not None:
            return None
        v = self.view(p.view)
        if v is None or p.issuer not in v.members:
            return None
        return v.members

    def problem(self, proposal_cid: str) -> str | None:
        """Why a proposal is `invalid` here, or None."""
        p = self.proposal(proposal_cid)
        if p is None:
            return "proposal not seen"
        if p.problem is not None:
            return p.problem
        assert p.view is not None
        v = self.view(p.view)
        if v is None:
            return f"its membership view {p.view} is not established here"
        if p.issuer not in v.members:
            return "the proposer is not a member of its view"
        return None

    def count_now(self, proposal_cid: str) -> TallyResult | None:
        """This observer's count from its incremental counters (cut included)."""
        t = self._tallier(proposal_cid)
        if t is None:
            return None
        return result_of(t.proposal, t.counter, len(t.electorate),
                       tuple(sorted(c for c, _ in t.current.values())))

    def _running(self, proposal_cid: str) -> Count | None:
        """The running count without the cut: O(k) (O(k^3) ranked), not O(ballots)."""
        t = self._tallier(proposal_cid)
        if t is None:
            return None
        return count_of(t.proposal, t.counter, len(t.electorate))

    def cut_for(self, proposal_cid: str) -> tuple[str, ...]:
        """The ballots this observer counts (its consistent cut), sorted."""
        t = self._tallier(proposal_cid)
        return () if t is None else tuple(sorted(c for c, _ in t.current.values()))

    def recount(self, proposal_cid: str, cut: Iterable[str]) -> TallyResult | None:
        """`count` of a given cut, or None if the proposal/electorate/ballots are missing."""
        p = self.proposal(proposal_cid)
        el = self.electorate(proposal_cid)
        if p is None or el is None or p.problem is not None:
            return None
        toks = [self._tokens.get(c) for c in set(cut)]
        if any(t is None for t in toks):
            return None
        return count(p, el, (t for t in toks if t is not None), skew_allowance_s=self._skew)

    def outcome(self, proposal_cid: str, now: float) -> Outcome:
        """open / counting / decided(result) / contested / failed-quorum (/ invalid)."""
        p = self.proposal(proposal_cid)
        if p is None:
            return Outcome(proposal=proposal_cid, state="invalid", result=None,
                           reason="proposal not seen", electorate=0, needed=0, support=(),
                           own=None, tallies=())
        el = self.electorate(proposal_cid)
        if el is None:
            why = self.problem(proposal_cid) or "no electorate"
            return Outcome(proposal=p.cid, state="invalid", result=None, reason=why,
                           electorate=0, needed=0, support=(), own=None,
                           tallies=self._tally_book.infos(p, None))
        book = self._tally_book.book(p, el)
        infos = book.view
        backing, needed = support(book.support, len(el), p.rules.threshold)
        st, result, reason = state(p, backing, needed, now)
        assert st is not None  # a clock always gives a state
        return Outcome(proposal=p.cid, state=st, result=result, reason=reason,
                       electorate=len(el), needed=needed, support=backing,
                       own=self._running(p.cid), tallies=infos)

    def explain(self, proposal_cid: str, voter: str, now: float) -> Explanation:
        """'Was my vote counted?': the voter's ballots, who counted which, cut differences."""
        out = self.outcome(proposal_cid, now)
        p = self.proposal(proposal_cid)
        el = self.electorate(proposal_cid)
        ballots = self._ballots.get(proposal_cid, {}).get(voter, [])
        statuses: tuple[BallotStatus, ...] = ()
        counted: str | None = None
        if p is not None and el is not None and p.problem is None:
            counted, statuses = self._judge(p, el, voter, ballots)
        else:
            statuses = tuple(BallotStatus(cid=b.cid, seq=b.seq, iat=b.iat, state="no-proposal",
                                          choice=(), reason=out.reason) for b in ballots)
        mine = {b.cid for b in ballots}
        attest: list[tuple[str, str | None]] = []
        groups: dict[bytes, list[TallyInfo]] = {}
        cuts: dict[bytes, frozenset[str]] = {}
        for info in out.tallies:
            cut = self._cut_of(proposal_cid, info)
            hit = sorted(mine & cut)
            attest.append((info.issuer, hit[-1] if hit else None))
            groups.setdefault(info.digest, []).append(info)
            cuts[info.digest] = cut
        own = frozenset(self.cut_for(proposal_cid))
        diffs = []
        for digest in sorted(groups):
            g = groups[digest]
            theirs = cuts[digest]
            diffs.append(CutDifference(
                digest=digest, issuers=tuple(sorted(i.issuer for i in g)), result=g[0].result,
                quorum_met=g[0].quorum_met, missing=tuple(sorted(own - theirs)),
                extra=tuple(sorted(theirs - own))))
        return Explanation(proposal=proposal_cid, voter=voter, outcome=out, ballots=statuses,
                           counted=counted, attestations=tuple(attest), differences=tuple(diffs))

    def cut_difference(self, proposal_cid: str, a: str, b: str) -> tuple[tuple[str, ...],
                                                                           tuple[str, ...]]:
        """(only in a's cut, only in b's cut) for the latest tallies of agents a and b."""
        infos = {i.issuer: i for i in self._tally_infos_any(proposal_cid)}
        ca = self._cut_of(proposal_cid, infos[a]) if a in infos else frozenset()
        cb = self._cut_of(proposal_cid, infos[b]) if b in infos else frozenset()
        return tuple(sorted(ca - cb)), tuple(sorted(cb - ca))

    def proposals(self, scope: str | None = None, *, now: float) -> tuple[ProposalInfo, ...]:
        """Proposals (of one scope, or all) with their state, by (closes, cid)."""
        if scope is None:
            cids: Iterable[str] = self._proposal_tokens
        else:
            cids = self._proposals_in.get(scope, ())
        out = []
        for c in cids:
            p = self.proposal(c)
            assert p is not None
            o = self.outcome(c, now)
            v = self.view(p.view) if p.view is not None else None
            out.append(ProposalInfo(cid=c, scope=p.scope, title=p.title, method=p.method,
                                    options=p.options, closes=p.closes, view=p.view,
                                    epoch=None if v is None else v.epoch,
                                    membership=p.is_membership, state=o.state, result=o.result))
        return tuple(sorted(out, key=lambda i: (i.closes, i.cid)))

    def tally_plan(self, proposal_cid: str, now: float) -> TallyPlan | None:
        """The tally this agent should publish now, or None.

        Due once now > closes + skew allowance (late-but-allowed ballots have
        had time to arrive), for a member of the electorate, when its latest
        published tally does not already name this cut.
        """
        p = self.proposal(proposal_cid)
        el = self.electorate(proposal_cid)
        if p is None or el is None or p.problem is not None or self.agent_id not in el:
            return None
        if not now > p.closes + self._skew:
            return None
        res = self.count_now(proposal_cid)
        assert res is not None
        for info in self._tally_infos_any(proposal_cid):
            if info.issuer == self.agent_id and info.digest == res.digest:
                return None
        return TallyPlan(proposal=p.cid, result=res, parts=split_parts(p, res))

    def due_between(self, after: float, upto: float) -> frozenset[str]:
        """Proposals whose state may change as the clock moves from `after` to `upto`."""
        return frozenset(c for t, c in self._deadlines if after <= t < upto)

    def next_deadline(self, now: float) -> float | None:
        """The next closing (or closing + skew, when tallies fall due) at or after now."""
        for t, _ in self._deadlines:  # short list; bisect if proposals grow many
            if t >= now:
                return t
        return None

    def equivocators(self) -> frozenset[str]:
        return frozenset(self._fork_at)

    # -- internals: parsing and views --------------------------------------------------

    def _refresh(self) -> None:
        if self._memo.version != self._version:
            self._memo = _Memo(version=self._version)

    def _parse_proposal(self, tok: wire.Token) -> Proposal:
        charter = self._charters.get(tok.scope) if tok.scope is not None else None
        return proposal_in_context(
            tok, charter,
            lambda cid: is_membership_token(self._proposal_tokens.get(cid), tok.scope))

    def _compute_view(self, cid: str) -> View | None:
        ch = self._charters.get(cid)
        if ch is not None:
            return View(cid=cid, scope=cid, epoch=0, members=ch.members)
        p = self.proposal(cid)
        if p is None or p.problem is not None or not p.is_membership or p.view is None:
            return None
        parent = self.view(p.view)
        if parent is None or p.issuer not in parent.members:
            return None
        state, result, _ = self._decision(p, parent.members)
        if state != "decided" or result != "yes":
            return None
        # Same parent object -> same members object: talliers compare
        # electorates by identity, so a view must not be rebuilt needlessly.
        cached = self._view_members.get(cid)
        if cached is not None and cached[0] is parent.members:
            members = cached[1]
        else:
            members = next_members(parent.members, p)
            self._view_members[cid] = (parent.members, members)
        if not members:
            return None
        assert p.scope is not None
        return View(cid=cid, scope=p.scope, epoch=parent.epoch + 1, members=members)

    def _decision(self, p: Proposal, el: frozenset[str]) -> tuple[OutcomeState | None,
                                                                   str | None, str]:
        """The tally-decided part of the state (clock-free), memoised per version."""
        self._refresh()
        memo = self._memo.outcomes
        if p.cid not in memo:
            book = self._tally_book.book(p, el)
            backing, needed = support(book.support, len(el), p.rules.threshold)
            memo[p.cid] = state(p, backing, needed, None)
        return memo[p.cid]

    def _dependents(self, cid: str) -> set[str]:
        """Proposals of the same scope (a decided view changes their electorate)."""
        tok = self._proposal_tokens.get(cid)
        if tok is None or not is_membership_token(tok, tok.scope):
            return set()
        return set(self._proposals_in.get(tok.scope, ()))

    # -- internals: ballots ---------------------------------------------------------

    def _tallier(self, proposal_cid: str) -> _Tallier | None:
        p = self.proposal(proposal_cid)
        el = self.electorate(proposal_cid)
        if p is None or el is None or p.problem is not None:
            self._talliers.pop(proposal_cid, None)
            return None
        t = self._talliers.get(proposal_cid)
        if t is None or t.electorate is not el or t.proposal != p:
            t = _Tallier(p, el)
            self._talliers[proposal_cid] = t
            for voter in self._ballots.get(proposal_cid, {}):
                self._rejudge_in(t, voter)
        return t

    def _rejudge(self, proposal_cid: str, voter: str) -> None:
        t = self._talliers.get(proposal_cid)
        if t is not None:
            self._rejudge_in(t, voter)

    def _rejudge_in(self, t: _Tallier, voter: str) -> None:
        old = t.current.pop(voter, None)
        if old is not None:
            t.counter.add(old[1], -1)
        ballots = self._ballots.get(t.proposal.cid, {}).get(voter, [])
        cid, _ = self._judge(t.proposal, t.electorate, voter, ballots, brief=True)
        if cid is not None:
            picked = choice(t.proposal, self._tokens[cid].body)
            assert picked is not None
            t.current[voter] = (cid, picked)
            t.counter.add(picked, +1)

    def _judge(self, p: Proposal, el: frozenset[str], voter: str,
               ballots: Sequence[wire.Token], brief: bool = False
               ) -> tuple[str | None, tuple[BallotStatus, ...]]:
        """Which of a voter's ballots counts, and why each other one does not."""
        if voter not in el:
            if brief:
                return None, ()
            return None, tuple(self._status(p, b, "non-member", "voter not in the electorate")
                               for b in ballots)
        states: dict[str, tuple[BallotState, str]] = {}
        live: list[wire.Token] = []
        for b in ballots:
            why = misfiled(p, b)
            if why is not None:
                states[b.cid] = ("misfiled", why)
            elif late(p, b, self._skew):
                states[b.cid] = ("late", f"dated {b.iat}, after closes {p.closes} + "
                                         f"skew {self._skew:g} s")
            elif (at := self._arrived_late(p, b)) is not None:
                states[b.cid] = ("late-on-arrival",
                                 f"dated {b.iat} but arrived here at {at:g}, after closes "
                                 f"{p.closes} + skew {self._skew:g} s (this node's clock)")
            else:
                live.append(b)
        counted: str | None = None
        if live:
            fork = self._fork_at.get(voter)
            top = live[-1]
            if fork is not None and fork <= top.seq:
                for b in live:
                    states[b.cid] = ("equivocation", f"voter's chain forks at seq {fork}")
            elif choice(p, top.body) is None:
                states[top.cid] = ("spoiled", "choice does not fit the method/options")
                for b in live[:-1]:
                    states[b.cid] = ("superseded", f"superseded by {top.cid}")
            else:
                counted = top.cid
                states[top.cid] = ("counted", "")
                for b in live[:-1]:
                    states[b.cid] = ("superseded", f"superseded by {top.cid}")
        if brief:
            return counted, ()
        return counted, tuple(self._status(p, b, *states[b.cid]) for b in ballots)

    def seen_at(self, cid: str) -> float | None:
        """When this observer first applied a proposal or ballot (its clock), if known."""
        return self._seen_at.get(cid)

    def _arrived_late(self, p: Proposal, b: wire.Token) -> float | None:
        """The ballot's arrival time here if it came after closes + skew, else None.

        Only when this observer held the proposal in time (or does not know
        when it got it): an observer that got the proposal itself after the
        close could not have seen any ballot in time, and judges by iat alone.
        """
        at = self._seen_at.get(b.cid)
        if at is None or not at > p.closes + self._skew:
            return None
        got = self._seen_at.get(p.cid)
        if got is not None and got > p.closes + self._skew:
            return None
        return at

    def _status(self, p: Proposal, b: wire.Token, state: BallotState,
                reason: str) -> BallotStatus:
        ch = choice(p, b.body) if p.options else None
        names = tuple(p.options[i] for i in ch) if ch is not None else ()
        return BallotStatus(cid=b.cid, seq=b.seq, iat=b.iat, state=state, choice=names,
                            reason=reason)

    # -- internals: tallies ---------------------------------------------------------

    # -- internals: tallies (judged by the TallyBook) ---------------------------------

    def _tally_infos_any(self, proposal_cid: str) -> tuple[TallyInfo, ...]:
        p = self.proposal(proposal_cid)
        if p is None:
            return ()
        return self._tally_book.infos(p, self.electorate(proposal_cid))

    def _cut_of(self, proposal_cid: str, info: TallyInfo) -> frozenset[str]:
        p = self.proposal(proposal_cid)
        if p is None:
            return frozenset()
        return self._tally_book.cut_of(p, info, self._tokens)
