"""The observer's answers and its change reports, as values.

Theory of operation. `Verdict`, `Consensus` (with its keys `SeqKey` and
`SlotKey`) are what `Observer` answers; `ObservationEffects` is what an
observation may have changed (the node core asks again about exactly those:
node/core/view.py). `Effects` is its mutable builder, used while one token is
taken in. All frozen values but the builder; formulas in docs/trust.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Verdict", "VerdictState", "VerdictBasis", "SeqKey", "SlotKey", "ConflictKey",
           "Consensus", "ConsensusState", "ObservationEffects", "Effects", "PromiseDetail",
           "NETWORK_SCOPE"]

VerdictState = Literal["kept", "broken", "pending"]
# What kind of evidence decided a verdict (docs/trust.md, Verdicts).
VerdictBasis = Literal["own", "verified", "witnessed", "claimed", "deadline", "retracted",
                       "equivocation", "none"]
ConsensusState = Literal["settled", "contested", "empty"]

@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """This observer's judgement of one promise at one `now`."""

    cid: str
    state: VerdictState
    confidence: float
    evidence: tuple[str, ...]
    reason: str
    basis: VerdictBasis = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class PromiseDetail:
    """What a promise says it will deliver and what its fulfils delivered.

    The transition tuple (f1, in, out, f2; docs/design.md, Tokens) as the promise body carries
    it (`inputs` is `in`); `delivered`: for each of the promiser's fulfils,
    (fulfil cid, cids of the artifacts it carries inline), sorted; `claim`: the
    fulfil weighed as an unchecked claim, if any (docs/trust.md, Verdicts).
    """

    cid: str
    promiser: str
    promisee: str | None
    f1: str | None
    inputs: tuple[object, ...]
    out: tuple[str, ...]
    f2: str | None
    delivered: tuple[tuple[str, tuple[str, ...]], ...]
    claim: str | None


@dataclass(frozen=True, slots=True, order=True)
class SeqKey:
    """Conflict set of one issuer's chain position: two members = equivocation."""

    issuer: str
    seq: int


# The scope of slots declared by tokens without a scope: the whole network.
# Not a cid, so it cannot collide with a real scope (docs/trust.md, Consensus).
NETWORK_SCOPE = ""


@dataclass(frozen=True, slots=True, order=True)
class SlotKey:
    """Conflict set of tokens declaring the same `slot` in one scope.

    `scope` is the scope's cid, or NETWORK_SCOPE for unscoped tokens.
    """

    scope: str
    slot: str


ConflictKey = SeqKey | SlotKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Consensus:
    """Who leads a conflict set, by the electorate's weighted acceptance."""

    key: ConflictKey
    state: ConsensusState
    leader: str | None
    support: float
    alternatives: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservationEffects:
    """What may have changed: ask the observer again about exactly these.

    A superset (a verdict listed may turn out unchanged), never a subset of the
    first-order changes. `referrals` are assessors whose referral trust moved:
    their hearsay reweighs; `Observer.expand` turns that into promises and
    agents (cost: their assessment counts).
    """

    promises: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    referrals: frozenset[str] = frozenset()
    conflicts: frozenset[ConflictKey] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.promises or self.agents or self.referrals or self.conflicts)

    def __or__(self, other: ObservationEffects) -> ObservationEffects:
        return ObservationEffects(promises=self.promises | other.promises,
                                  agents=self.agents | other.agents,
                                  referrals=self.referrals | other.referrals,
                                  conflicts=self.conflicts | other.conflicts)


@dataclass(slots=True)
class Effects:
    promises: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    referrals: set[str] = field(default_factory=set)
    conflicts: set[ConflictKey] = field(default_factory=set)

    def freeze(self) -> ObservationEffects:
        return ObservationEffects(promises=frozenset(self.promises),
                                  agents=frozenset(self.agents),
                                  referrals=frozenset(self.referrals),
                                  conflicts=frozenset(self.conflicts))

