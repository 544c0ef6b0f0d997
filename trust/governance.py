"""Governance: charters, membership views, proposals, ballots, tallies (DESIGN s8).

Theory of operation (token conventions and rules: docs/governance.md; cut
splitting: docs/decisions/0003-tally-cuts.md). Governance is an application of
the generic machinery, not a separate system: every fact is a signed token,
every reference is a cid in `deps`/`about`, every answer is a pure function of
(tokens observed, `now`, Params), in any arrival order.

- A `charter`'s cid is a community (scope); its body names the founding members
  and the rules. The charter opens view (epoch) 0.
- A `proposal` builds on exactly one view: the charter, or a decided membership
  proposal (which opened epoch e+1 by applying its add/remove to its own view).
  Its electorate is that view's members. Views are observer-relative (a view
  exists here once its membership proposal is decided here).
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
  from its cut, so a tally either verifies or is false. Per member the latest
  complete tally (all parts present) supports its result; a result whose support
  reaches the threshold of the electorate decides the proposal.

State: per-proposal counters (`_Tallier`) over the voters' current ballots,
kept up to date ballot by ballot (single/approval: votes per option; ranked:
the Schulze pairwise matrix), so a new ballot costs O(k^2) at most and a query
O(k^3) for ranked (k = options, <= OPTIONS_MAX), never O(ballots). Counters
are rebuilt only when a proposal's electorate changes (a view decided or
undone). Tally verification is memoised per (proposal, cut digest).
"""

from __future__ import annotations

import hashlib
from bisect import insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import wire

from .params import Params

__all__ = [
    "Governance",
    "GovernanceEffects",
    "Charter",
    "Rules",
    "Proposal",
    "View",
    "Count",
    "TallyResult",
    "TallyInfo",
    "TallyPlan",
    "TallyPart",
    "Support",
    "Outcome",
    "BallotStatus",
    "CutDifference",
    "Explanation",
    "ProposalInfo",
    "count",
    "cut_digest",
    "schulze",
    "charter_body",
    "proposal_body",
    "ballot_body",
    "METHODS",
    "OPTIONS_MAX",
    "options_problem",
    "TALLY_PART_BALLOTS_MAX",
]

Method = Literal["single", "approval", "ranked"]
OutcomeState = Literal["open", "counting", "decided", "contested", "failed-quorum", "invalid"]
Frac = tuple[int, int]

METHODS: tuple[Method, ...] = ("single", "approval", "ranked")
# Options per proposal: counters are k (single/approval) or k*k (ranked) ints
# and Schulze's widest paths cost k^3; 64 keeps a tally body's pairwise matrix
# (4,096 ints) and a query (262k steps) small.
OPTIONS_MAX = 64
OPTION_MAX_CHARS = 200
# Ballot cids per tally part: 4,000 + the proposal cid stays under wire.DEPS_MAX
# (4,096) with room to spare (docs/decisions/0003-tally-cuts.md).
TALLY_PART_BALLOTS_MAX = 4000
# Parts per tally: 256 x 4,000 = 1,024,000 ballots; a bound on what one
# agent's tally can make an observer assemble.
TALLY_PARTS_MAX = 256
MEMBERS_MAX = 1_000_000

DEFAULT_QUORUM: Frac = (1, 2)
DEFAULT_THRESHOLD: Frac = (2, 3)
DEFAULT_PASS: Frac = (0, 1)
DEFAULT_MEMBERSHIP_PASS: Frac = (1, 2)
MEMBERSHIP_OPTIONS = ("yes", "no")


# -- values --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """Counting rules of one proposal (fractions are (num, den) of integers).

    quorum: counted ballots >= quorum x electorate; threshold: tally support >=
    threshold x electorate decides; pass_share: single/approval winner needs
    votes > pass_share x counted ballots (strict; (0, 1) = plurality).
    """

    quorum: Frac = DEFAULT_QUORUM
    threshold: Frac = DEFAULT_THRESHOLD
    pass_share: Frac = DEFAULT_PASS


@dataclass(frozen=True, slots=True, kw_only=True)
class Charter:
    """A community: its cid is the scope id; founding members and rules."""

    cid: str
    issuer: str
    name: str
    members: frozenset[str]
    rules: Rules
    methods: frozenset[str]
    membership: Rules  # rules of membership proposals (pass_share default 1/2)


@dataclass(frozen=True, slots=True, kw_only=True)
class View:
    """A membership view (epoch): opened by the charter or a decided change."""

    cid: str  # the charter or the membership proposal that opened it
    scope: str
    epoch: int
    members: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """A parsed proposal. `problem` is set when it is not valid here (yet)."""

    cid: str
    scope: str | None
    issuer: str
    iat: int
    view: str | None
    title: str
    options: tuple[str, ...]
    method: str
    closes: int
    rules: Rules
    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    problem: str | None = None

    @property
    def is_membership(self) -> bool:
        return bool(self.add or self.remove)


@dataclass(frozen=True, slots=True, kw_only=True)
class Count:
    """What a set of counted ballots says (this observer's running count).

    counts: votes per option (single, approval) or the Schulze pairwise matrix
    d[i][j] flattened row-major (ranked). `tied`: options tied for the win
    before the tie rule (earliest option in the proposal's order wins).
    """

    proposal: str
    method: str
    options: tuple[str, ...]
    counts: tuple[int, ...]
    ballots: int
    electorate: int
    quorum_met: bool
    result: str | None
    tied: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TallyResult(Count):
    """The count of one cut: recomputable by anyone holding the cut's ballots."""

    cut: tuple[str, ...]  # counted ballot cids, sorted
    digest: bytes
    excluded: tuple[tuple[str, str], ...] = ()  # (ballot cid, why not counted)


@dataclass(frozen=True, slots=True, kw_only=True)
class Support:
    """Members whose latest verified tally says (quorum_met, result)."""

    quorum_met: bool
    result: str | None
    members: int


TallyStatus = Literal["counted", "superseded", "non-member", "false", "unverified",
                      "premature", "equivocation", "incomplete", "malformed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TallyInfo:
    """One agent's tally of a proposal (all its parts) and what it counts for here."""

    issuer: str
    cids: tuple[str, ...]  # its part tokens
    seq: int  # highest part seq (chain order of an agent's tallies)
    result: str | None
    quorum_met: bool
    counts: tuple[int, ...]
    ballots: int
    digest: bytes
    status: TallyStatus
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A proposal's state on this observer's clock, with the support behind it."""

    proposal: str
    state: OutcomeState
    result: str | None
    reason: str
    electorate: int
    needed: int  # supporting members the threshold requires
    support: tuple[Support, ...]  # best first
    own: Count | None  # this observer's running count (its cut: `cut_for`)
    tallies: tuple[TallyInfo, ...]  # every agent's latest tally, by issuer


BallotState = Literal["counted", "superseded", "late", "late-on-arrival", "non-member",
                      "equivocation", "spoiled", "misfiled", "no-proposal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BallotStatus:
    cid: str
    seq: int
    iat: int
    state: BallotState
    choice: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CutDifference:
    """How a group of tallies with one cut differs from this observer's cut."""

    digest: bytes
    issuers: tuple[str, ...]
    result: str | None
    quorum_met: bool
    missing: tuple[str, ...]  # in this observer's cut, not in theirs
    extra: tuple[str, ...]  # in theirs, not in this observer's


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """'Was my vote counted?' for one voter on one proposal."""

    proposal: str
    voter: str
    outcome: Outcome
    ballots: tuple[BallotStatus, ...]  # the voter's ballots, chain order
    counted: str | None  # the ballot this observer counts, if any
    attestations: tuple[tuple[str, str | None], ...]  # (tally issuer, voter's ballot in its cut)
    differences: tuple[CutDifference, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalInfo:
    cid: str
    scope: str | None
    title: str
    method: str
    options: tuple[str, ...]
    closes: int
    view: str | None
    epoch: int | None
    membership: bool
    state: OutcomeState
    result: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TallyPart:
    """One tally token to issue: kind "tally", scope, about = proposal, these deps/body."""

    scope: str | None
    about: str
    deps: tuple[str, ...]
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TallyPlan:
    """The tally this observer should publish now (issue the parts in order)."""

    proposal: str
    result: TallyResult
    parts: tuple[TallyPart, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GovernanceEffects:
    """Proposals whose outcome may have changed; voters/issuers caught equivocating."""

    proposals: frozenset[str] = frozenset()
    equivocators: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.proposals or self.equivocators)

    def __or__(self, other: GovernanceEffects) -> GovernanceEffects:
        return GovernanceEffects(proposals=self.proposals | other.proposals,
                                 equivocators=self.equivocators | other.equivocators)


_NO_EFFECTS = GovernanceEffects()
_GOV_KINDS = frozenset(("charter", "proposal", "ballot", "tally"))
# The token kinds governance reads: `observe(token, rival=False)` of any other
# kind does nothing, so a caller on a hot path may skip the call.
GOVERNANCE_KINDS = _GOV_KINDS


# -- body builders (for the node) -------------------------------------------------


def charter_body(name: str, members: Iterable[str], *, quorum: Frac = DEFAULT_QUORUM,
                 threshold: Frac = DEFAULT_THRESHOLD, pass_share: Frac = DEFAULT_PASS,
                 methods: Iterable[str] = METHODS,
                 membership_pass: Frac = DEFAULT_MEMBERSHIP_PASS) -> dict[str, Any]:
    """Body of a `charter` token (scope: none; deps: none)."""
    body: dict[str, Any] = {
        "name": name, "members": sorted(set(members)), "quorum": list(quorum),
        "threshold": list(threshold), "pass": list(pass_share), "methods": list(methods),
        "membership": {"pass": list(membership_pass)},
    }
    if _frac(body["quorum"]) is None or _frac(body["threshold"]) is None:
        raise ValueError(f"bad quorum/threshold: {quorum!r} {threshold!r}")
    if _frac(body["pass"]) is None or _frac(body["membership"]["pass"]) is None:
        raise ValueError(f"bad pass share: {pass_share!r} {membership_pass!r}")
    if not body["members"] or not set(body["methods"]) <= set(METHODS):
        raise ValueError(f"charter needs members and known methods: {body!r}")
    return body


def proposal_body(title: str, options: Sequence[str], method: str, closes: int, *,
                  quorum: Frac | None = None, threshold: Frac | None = None,
                  add: Iterable[str] = (), remove: Iterable[str] = ()) -> dict[str, Any]:
    """Body of a `proposal` (scope: charter cid; deps: (view cid,) from `current_view`).

    A membership change (add/remove) is a yes/no single-choice proposal.
    """
    body: dict[str, Any] = {"title": title, "options": list(options), "method": method,
                            "closes": int(closes)}
    if quorum is not None:
        body["quorum"] = list(quorum)
    if threshold is not None:
        body["threshold"] = list(threshold)
    add_l, remove_l = sorted(set(add)), sorted(set(remove))
    if add_l or remove_l:
        body["membership"] = {"add": add_l, "remove": remove_l}
        body["options"] = list(MEMBERSHIP_OPTIONS)
        body["method"] = "single"
    problem = options_problem(body["options"])
    if problem or body["method"] not in METHODS:
        raise ValueError(problem or f"method must be one of {list(METHODS)}, not {method!r}")
    return body


def ballot_body(choice: Sequence[int | str]) -> dict[str, Any]:
    """Body of a `ballot` (scope: proposal's scope; about and deps: the proposal)."""
    return {"choice": list(choice)}


# -- counting (pure) ----------------------------------------------------------------


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


class _Counter:
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


def _frac(v: Any, upto_one: bool = True) -> Frac | None:
    """[num, den] (0 <= num <= den, den >= 1) or an int percent 0..100."""
    if type(v) is int and 0 <= v <= 100:
        return (v, 100)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(type(x) is int for x in v):
        n, d = v
        if d >= 1 and 0 <= n <= d:
            return (n, d)
    return None


def options_problem(v: Any) -> str | None:
    """Why `v` is not a proposal's options (for people), or None if it is."""
    if not isinstance(v, (tuple, list)) or not 2 <= len(v) <= OPTIONS_MAX:
        n = len(v) if isinstance(v, (tuple, list)) else "no list"
        return f"2 to {OPTIONS_MAX} options, not {n}"
    for o in v:
        if not isinstance(o, str) or not 0 < len(o) <= OPTION_MAX_CHARS:
            what = len(o) if isinstance(o, str) else type(o).__name__
            return f"an option is 1 to {OPTION_MAX_CHARS} characters of text, not {what}"
    if len(set(v)) != len(v):
        return "each option once"
    return None


def _options(v: Any) -> tuple[str, ...] | None:
    return None if options_problem(v) else tuple(v)


def _agents(v: Any) -> frozenset[str] | None:
    if not isinstance(v, (tuple, list)) or len(v) > MEMBERS_MAX:
        return None
    if not all(isinstance(m, str) and m for m in v):
        return None
    return frozenset(v)


def _choice(proposal: Proposal, body: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The ballot's choice as option indexes, or None if it is spoiled."""
    raw = body.get("choice")
    if not isinstance(raw, (tuple, list)):
        return None
    out: list[int] = []
    for c in raw:
        if type(c) is int and 0 <= c < len(proposal.options):
            out.append(c)
        elif isinstance(c, str) and c in proposal.options:
            out.append(proposal.options.index(c))
        else:
            return None
    if len(set(out)) != len(out):
        return None
    if proposal.method == "single" and len(out) != 1:
        return None
    if proposal.method == "ranked" and not out:
        return None
    if proposal.method == "approval":
        out.sort()
    return tuple(out)


def _misfiled(proposal: Proposal, b: wire.Token) -> str | None:
    if b.kind != "ballot" or b.about != proposal.cid:
        return "not a ballot on this proposal"
    if b.scope != proposal.scope:
        return "ballot scope is not the proposal's"
    if proposal.cid not in b.deps:
        return "ballot does not build on the proposal"
    return None


def _late(proposal: Proposal, b: wire.Token, skew_s: float) -> bool:
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
        why = _misfiled(proposal, b)
        if why is None and b.issuer not in electorate:
            why = "voter not in the electorate"
        if why is None and _late(proposal, b, skew_allowance_s):
            why = "late"
        if why is not None:
            excluded.append((b.cid, why))
            continue
        per_voter.setdefault(b.issuer, []).append(b)
    counter = _Counter(len(proposal.options), proposal.method)
    cut: list[str] = []
    for bs in per_voter.values():
        bs.sort(key=lambda t: (t.seq, t.cid))
        top = bs[-1]
        if len(bs) > 1 and bs[-2].seq == top.seq:
            excluded.extend((b.cid, "equivocation") for b in bs)
            continue
        excluded.extend((b.cid, "superseded") for b in bs[:-1])
        choice = _choice(proposal, top.body)
        if choice is None:
            excluded.append((top.cid, "spoiled"))
            continue
        counter.add(choice, +1)
        cut.append(top.cid)
    return _result(proposal, counter, len(electorate), tuple(sorted(cut)),
                   tuple(sorted(excluded)))


def _count_of(proposal: Proposal, counter: _Counter, electorate: int) -> Count:
    quorum_met, winner, tied = counter.decide(proposal.rules, electorate)
    return Count(
        proposal=proposal.cid, method=proposal.method, options=proposal.options,
        counts=counter.counts(), ballots=counter.ballots, electorate=electorate,
        quorum_met=quorum_met, result=None if winner is None else proposal.options[winner],
        tied=tuple(proposal.options[i] for i in tied))


def _result(proposal: Proposal, counter: _Counter, electorate: int, cut: tuple[str, ...],
            excluded: tuple[tuple[str, str], ...] = ()) -> TallyResult:
    quorum_met, winner, tied = counter.decide(proposal.rules, electorate)
    return TallyResult(
        proposal=proposal.cid, method=proposal.method, options=proposal.options,
        counts=counter.counts(), ballots=counter.ballots, electorate=electorate,
        quorum_met=quorum_met, result=None if winner is None else proposal.options[winner],
        tied=tuple(proposal.options[i] for i in tied), cut=cut, digest=cut_digest(cut),
        excluded=excluded)


# -- the engine ---------------------------------------------------------------------


class _Tallier:
    """Incremental counters of one proposal for one electorate."""

    __slots__ = ("proposal", "electorate", "counter", "current")

    def __init__(self, proposal: Proposal, electorate: frozenset[str]) -> None:
        self.proposal = proposal
        self.electorate = electorate
        self.counter = _Counter(len(proposal.options), proposal.method)
        self.current: dict[str, tuple[str, tuple[int, ...]]] = {}  # voter -> (cid, choice)


@dataclass(frozen=True, slots=True)
class _TallyClaim:
    result: str | None
    quorum_met: bool
    counts: tuple[int, ...]
    ballots: int
    digest: bytes
    part: int
    parts: int


class _Book:
    """One proposal's judged tallies for one (parse, electorate): see Governance._book."""

    __slots__ = ("proposal", "electorate", "infos", "issuers", "support", "unverified", "view")

    def __init__(self, proposal: Proposal, electorate: frozenset[str] | None) -> None:
        self.proposal = proposal
        self.electorate = electorate
        self.infos: dict[str, TallyInfo] = {}
        self.issuers: list[str] = []  # sorted
        self.support: dict[tuple[bool, str | None], int] = {}  # counted tallies per result
        self.unverified: set[str] = set()
        self.view: tuple[TallyInfo, ...] = ()


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
        self._first_at: dict[tuple[str, int], str] = {}  # (issuer, seq) -> a cid
        self._fork_at: dict[str, int] = {}  # issuer -> lowest forked seq
        self._charters: dict[str, Charter | None] = {}
        self._proposal_tokens: dict[str, wire.Token] = {}
        self._proposals_in: dict[str | None, set[str]] = {}  # scope -> proposal cids
        self._ballots: dict[str, dict[str, list[wire.Token]]] = {}  # proposal -> voter -> sorted
        self._tallies: dict[str, dict[str, list[wire.Token]]] = {}  # proposal -> issuer -> parts
        self._involved: dict[str, set[str]] = {}  # agent -> proposals it balloted/tallied
        self._talliers: dict[str, _Tallier] = {}
        # (proposal, cut digest) -> recount: a view's members are a function of
        # its cid once established, so the electorate needs no place in the key.
        self._verified: dict[tuple[str, bytes], TallyResult] = {}
        self._complete: dict[tuple[str, ...], bool] = {}  # part cids -> cut adds up
        self._cuts: dict[tuple[str, bytes], frozenset[str]] = {}  # checked digests
        self._view_members: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._deadlines: list[tuple[float, str]] = []  # (closes, cid), (closes + skew, cid)
        self._version = 0
        self._memo = _Memo()
        # a proposal's parse depends on charters and proposals only: re-parse
        # when one of those arrives, not on every ballot
        self._structure = 0
        self._parsed: dict[str, tuple[int, Proposal]] = {}
        self._books: dict[str, _Book] = {}  # proposal -> judged tallies and support
        self._tally_dirty: dict[str, set[str]] = {}  # proposal -> issuers to re-judge
        # When this observer first applied each proposal and ballot, on its own
        # clock (None: not known, e.g. a store written before arrival times
        # were kept). Judges lateness for this observer's own count only.
        self._seen_at: dict[str, float] = {}

    # -- input -----------------------------------------------------------------------

    def observe(self, token: wire.Token, *, rival: bool | None = None,
                seen_at: float | None = None) -> GovernanceEffects:
        """Take in one verified token (any kind); returns what may have changed.

        `rival` says whether another token of the same issuer and seq came
        before this one; a caller that already tracks chains (the node core)
        passes it, and the governance then keeps no (issuer, seq) map of its own.
        `seen_at` is when this observer first applied the token, on its own
        clock (None: unknown). A ballot that arrived after closes + skew
        allowance is late *for this observer*: its own count (`cut_for`,
        `count_now`, `tally_plan`, `Outcome.own`) leaves it out and `explain`
        shows it as `late-on-arrival`; judging others' tallies (`recount`)
        ignores arrival times (docs/decisions/0004-arrival-lateness.md).
        """
        kind = token.kind
        if rival is None:
            key = (token.issuer, token.seq)
            first = self._first_at.get(key)
            if first is None:
                self._first_at[key] = token.cid
            rival = first is not None and first != token.cid
        if not rival and kind not in _GOV_KINDS:
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
                    self._tally_dirty.setdefault(p, set()).add(token.issuer)
                    affected.add(p)
        if kind not in _GOV_KINDS or token.cid in self._tokens:
            return GovernanceEffects(proposals=frozenset(affected), equivocators=equivocators)
        self._tokens[token.cid] = token
        if seen_at is not None and kind in ("proposal", "ballot"):
            self._seen_at[token.cid] = seen_at
        self._version += 1
        if kind in ("charter", "proposal"):
            self._structure += 1
        if kind == "charter":
            self._charters[token.cid] = _parse_charter(token)
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
            per_t = self._tallies.setdefault(token.about, {})
            insort(per_t.setdefault(token.issuer, []), token, key=lambda t: (t.seq, t.cid))
            self._tally_dirty.setdefault(token.about, set()).add(token.issuer)
            self._involved.setdefault(token.issuer, set()).add(token.about)
            affected.add(token.about)
            affected |= self._dependents(token.about)
        return GovernanceEffects(proposals=frozenset(affected), equivocators=equivocators)

    # -- questions -------------------------------------------------------------------

    def charter(self, scope: str) -> Charter | None:
        return self._charters.get(scope)

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
        vs = self.views(scope)
        if not vs:
            return None
        top = max(v.epoch for v in vs)
        return min((v for v in vs if v.epoch == top), key=lambda v: v.cid)

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
        return _result(t.proposal, t.counter, len(t.electorate),
                       tuple(sorted(c for c, _ in t.current.values())))

    def _running(self, proposal_cid: str) -> Count | None:
        """The running count without the cut: O(k) (O(k^3) ranked), not O(ballots)."""
        t = self._tallier(proposal_cid)
        if t is None:
            return None
        return _count_of(t.proposal, t.counter, len(t.electorate))

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
                           tallies=self._tally_infos(p, None))
        book = self._book(p, el)
        infos = book.view
        support, needed = _support(book.support, len(el), p.rules.threshold)
        state, result, reason = _state(p, support, needed, now)
        assert state is not None  # a clock always gives a state
        return Outcome(proposal=p.cid, state=state, result=result, reason=reason,
                       electorate=len(el), needed=needed, support=support,
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
        return TallyPlan(proposal=p.cid, result=res, parts=_parts(p, res))

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
        b = tok.body
        title = _text(b.get("title"))
        method = _text(b.get("method"))
        closes: int = b["closes"] if type(b.get("closes")) is int else 0
        membership = b.get("membership")
        add = remove = frozenset[str]()
        problems: list[str] = []
        if membership is not None:
            a = _agents(membership.get("add", ())) if isinstance(membership, Mapping) else None
            r = _agents(membership.get("remove", ())) if isinstance(membership, Mapping) else None
            if a is None or r is None or not (a or r):
                problems.append("malformed membership change")
            else:
                add, remove = a, r
        raw_options = b.get("options", MEMBERSHIP_OPTIONS if membership is not None else None)
        options = _options(raw_options) or ()
        if not options:
            problems.append(f"options must be 2..{OPTIONS_MAX} distinct names")
        if type(b.get("closes")) is not int:
            problems.append("closes must be an integer time")
        charter = self._charters.get(tok.scope) if tok.scope is not None else None
        view: str | None = None
        rules = Rules()
        if tok.scope is None:
            problems.append("no scope (a proposal belongs to a charter)")
        elif charter is None:
            problems.append("scope is not a known, well-formed charter")
        else:
            base = charter.membership if membership is not None else charter.rules
            q = _frac(b["quorum"]) if "quorum" in b else base.quorum
            t = _frac(b["threshold"]) if "threshold" in b else base.threshold
            if q is None or t is None:
                problems.append("malformed quorum/threshold")
                q, t = base.quorum, base.threshold
            # a proposal may only tighten its charter's rules
            rules = Rules(quorum=max(q, base.quorum, key=_fval),
                          threshold=max(t, base.threshold, key=_fval),
                          pass_share=base.pass_share)
            if method not in charter.methods:
                problems.append(f"method {method!r} not allowed by the charter")
            if membership is not None and (method != "single"
                                           or options != MEMBERSHIP_OPTIONS):
                problems.append("a membership change is a single-choice yes/no proposal")
            views = [d for d in tok.deps if d == tok.scope or self._is_membership(d, tok.scope)]
            if len(views) != 1:
                problems.append("deps must name exactly one view (charter or membership "
                                "proposal of this scope)")
            else:
                view = views[0]
        return Proposal(cid=tok.cid, scope=tok.scope, issuer=tok.issuer, iat=tok.iat, view=view,
                        title=title, options=options, method=method, closes=closes,
                        rules=rules, add=add, remove=remove,
                        problem="; ".join(problems) if problems else None)

    def _is_membership(self, cid: str, scope: str | None) -> bool:
        t = self._proposal_tokens.get(cid)
        return t is not None and t.scope == scope and "membership" in t.body

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
            members = (parent.members - p.remove) | p.add
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
            book = self._book(p, el)
            support, needed = _support(book.support, len(el), p.rules.threshold)
            memo[p.cid] = _state(p, support, needed, None)
        return memo[p.cid]

    def _dependents(self, cid: str) -> set[str]:
        """Proposals of the same scope (a decided view changes their electorate)."""
        tok = self._proposal_tokens.get(cid)
        if tok is None or "membership" not in tok.body:
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
            choice = _choice(t.proposal, self._tokens[cid].body)
            assert choice is not None
            t.current[voter] = (cid, choice)
            t.counter.add(choice, +1)

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
            why = _misfiled(p, b)
            if why is not None:
                states[b.cid] = ("misfiled", why)
            elif _late(p, b, self._skew):
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
            elif _choice(p, top.body) is None:
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
        ch = _choice(p, b.body) if p.options else None
        names = tuple(p.options[i] for i in ch) if ch is not None else ()
        return BallotStatus(cid=b.cid, seq=b.seq, iat=b.iat, state=state, choice=names,
                            reason=reason)

    # -- internals: tallies ---------------------------------------------------------

    def _tally_infos_any(self, proposal_cid: str) -> tuple[TallyInfo, ...]:
        p = self.proposal(proposal_cid)
        if p is None:
            return ()
        return self._tally_infos(p, self.electorate(proposal_cid))

    def _tally_infos(self, p: Proposal, el: frozenset[str] | None) -> tuple[TallyInfo, ...]:
        """Every issuer's latest complete tally (or its best incomplete one), judged."""
        return self._book(p, el).view

    def _book(self, p: Proposal, el: frozenset[str] | None) -> _Book:
        """The proposal's judged tallies, brought up to date incrementally.

        Rebuilt when the proposal's parse or electorate object changes;
        otherwise only issuers whose parts or forks moved since the last call
        (`_tally_dirty`) and tallies still waiting for ballots are re-judged.
        """
        book = self._books.get(p.cid)
        dirty = self._tally_dirty.pop(p.cid, set())
        per = self._tallies.get(p.cid, {})
        if book is None or book.proposal is not p or book.electorate is not el:
            book = self._books[p.cid] = _Book(p, el)
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
        claims: dict[bytes, _TallyClaim] = {}
        malformed: list[wire.Token] = []
        for t in parts:  # chain order: for a duplicated part the lowest seq wins
            c = _parse_tally(p, t)
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

    def _info(self, p: Proposal, issuer: str, g: Mapping[int, wire.Token], c: _TallyClaim,
              status: TallyStatus, reason: str) -> TallyInfo:
        ts = sorted(g.values(), key=lambda t: (t.seq, t.cid))
        return TallyInfo(issuer=issuer, cids=tuple(t.cid for t in ts), seq=ts[-1].seq,
                         result=c.result, quorum_met=c.quorum_met, counts=c.counts,
                         ballots=c.ballots, digest=c.digest, status=status, reason=reason)

    def _cut_matches(self, p: Proposal, parts: Iterable[wire.Token], c: _TallyClaim) -> bool:
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

    def _cut_of(self, proposal_cid: str, info: TallyInfo) -> frozenset[str]:
        p = self.proposal(proposal_cid)
        if p is None:
            return frozenset()
        return self._assemble(p, (self._tokens[c] for c in info.cids))

    def _verify(self, p: Proposal, el: frozenset[str], parts: Iterable[wire.Token],
                c: _TallyClaim) -> TallyResult | None:
        key = (p.cid, c.digest)
        hit = self._verified.get(key)
        if hit is not None:
            return hit
        res = self.recount(p.cid, self._assemble(p, parts))
        if res is not None:
            self._verified[key] = res
        return res


# -- helpers ---------------------------------------------------------------------------


def _text(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _fval(f: Frac) -> float:
    return f[0] / f[1]


def _parse_charter(tok: wire.Token) -> Charter | None:
    b = tok.body
    members = _agents(b.get("members"))
    if not members:
        return None
    quorum = _frac(b.get("quorum", list(DEFAULT_QUORUM)))
    threshold = _frac(b.get("threshold", list(DEFAULT_THRESHOLD)))
    pass_share = _frac(b.get("pass", list(DEFAULT_PASS)))
    methods = b.get("methods", METHODS)
    mrule = b.get("membership", {})
    if quorum is None or threshold is None or pass_share is None:
        return None
    if not isinstance(methods, (tuple, list)) or not set(methods) <= set(METHODS):
        return None
    if not isinstance(mrule, Mapping):
        return None
    mpass = _frac(mrule.get("pass", list(DEFAULT_MEMBERSHIP_PASS)))
    mquorum = _frac(mrule.get("quorum", list(quorum)))
    mthreshold = _frac(mrule.get("threshold", list(threshold)))
    if mpass is None or mquorum is None or mthreshold is None:
        return None
    name = _text(b.get("name"))
    return Charter(cid=tok.cid, issuer=tok.issuer, name=name, members=members,
                   rules=Rules(quorum=quorum, threshold=threshold, pass_share=pass_share),
                   methods=frozenset(methods),
                   membership=Rules(quorum=mquorum, threshold=mthreshold, pass_share=mpass))


def _parse_tally(p: Proposal, t: wire.Token) -> _TallyClaim | None:
    b = t.body
    result = b.get("result")
    quorum = b.get("quorum")
    counts = b.get("counts")
    digest = b.get("cut")
    n = b.get("ballots")
    part = b.get("part", (1, 1))
    if t.scope != p.scope or p.cid not in t.deps:
        return None
    if not (result is None or (isinstance(result, str) and result in p.options)):
        return None
    if type(quorum) is not bool or type(n) is not int or n < 0:
        return None
    if not isinstance(counts, (tuple, list)) or not all(type(x) is int for x in counts):
        return None
    if type(digest) is not bytes or len(digest) != 32:
        return None
    if not (isinstance(part, (tuple, list)) and len(part) == 2
            and all(type(x) is int for x in part) and 1 <= part[0] <= part[1] <= TALLY_PARTS_MAX):
        return None
    return _TallyClaim(result=result, quorum_met=quorum, counts=tuple(counts), ballots=n,
                       digest=digest, part=part[0], parts=part[1])


def _parts(p: Proposal, res: TallyResult) -> tuple[TallyPart, ...]:
    """Split a cut over tally tokens of at most TALLY_PART_BALLOTS_MAX ballots each."""
    ordered = sorted(res.cut)
    chunks = [ordered[i:i + TALLY_PART_BALLOTS_MAX]
              for i in range(0, len(ordered), TALLY_PART_BALLOTS_MAX)] or [[]]
    n = len(chunks)
    if n > TALLY_PARTS_MAX:
        raise ValueError(f"cut of {len(ordered)} ballots needs {n} parts > {TALLY_PARTS_MAX}")
    out = []
    for i, chunk in enumerate(chunks, 1):
        body: dict[str, Any] = {"result": res.result, "quorum": res.quorum_met,
                                "counts": list(res.counts), "cut": res.digest,
                                "ballots": res.ballots}
        if n > 1:
            body["part"] = [i, n]
        out.append(TallyPart(scope=p.scope, about=p.cid, deps=tuple(chunk) + (p.cid,),
                             body=body))
    return tuple(out)


def _support(tally: Mapping[tuple[bool, str | None], int], electorate: int,
             threshold: Frac) -> tuple[tuple[Support, ...], int]:
    tn, td = threshold
    needed = -(-tn * electorate // td)  # ceil: support * td >= tn * electorate
    support = tuple(Support(quorum_met=q, result=r, members=n)
                    for (q, r), n in sorted(tally.items(),
                                            key=lambda kv: (-kv[1], not kv[0][0],
                                                            kv[0][1] or "")))
    return support, max(needed, 1)


def _state(p: Proposal, support: tuple[Support, ...], needed: int,
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
