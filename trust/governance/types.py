"""Governance values: the frozen answers and inputs every other module shares.

Theory of operation: this module owns the vocabulary of governance (what a
charter, a view, a proposal, a count, a tally look like once parsed) and the
limits that bound them. It holds no logic beyond trivial properties, so every
other module of the package imports it and it imports none of them.

Invariants: every value is a frozen, keyword-only, slotted dataclass (safe to
share, memoise and compare); fractions are exact `(num, den)` integer pairs
(never floats: see rules.py); the limits below are the single definition the
node's service and HTTP API import (docs/governance.md, Limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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
# Text a person types: what this node signs (the builders refuse more); a
# peer's longer text still parses (it is shown, never trusted).
TITLE_MAX_CHARS = 1024
NAME_MAX_CHARS = 256

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


# The token kinds governance reads: `observe(token, rival=False)` of any other
# kind does nothing, so a caller on a hot path may skip the call.
GOVERNANCE_KINDS = frozenset(("charter", "proposal", "ballot", "tally"))


@dataclass(frozen=True, slots=True, kw_only=True)
class TallyClaim:
    """What one tally token's body says (parsed by bodies.parse_tally_body)."""

    result: str | None
    quorum_met: bool
    counts: tuple[int, ...]
    ballots: int
    digest: bytes
    part: int
    parts: int
