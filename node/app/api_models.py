"""What the local HTTP API answers with: one pydantic model per response shape.

Theory of operation: `NodeService` builds its answers as plain JSON-ready
dicts (node/app/service.py); the routes of node/app/api.py name these models
as their response models, so FastAPI checks every answer against its model
before it is sent and `/openapi.json` describes exactly what is sent. The
models forbid unknown fields (`additionalProperties: false` in the
description): a field the service adds without adding it here is a server
error in the tests (tests/test_api_schema.py), not a silent drift between the
description and the answers. A field that the service leaves out of some
answers has a default here, and the routes send only the fields the service
set (`response_model_exclude_unset`), so a default never adds a field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from node.core.liveness import LivenessState
from trust.governance.types import BallotState, OutcomeState, TallyStatus
from trust.values import ConsensusState, VerdictBasis, VerdictState

__all__ = ["TokenOut", "IssuedOut", "TokenDetailOut", "VerdictRowOut", "OpinionOut",
           "TrustPointOut", "IdOut", "PeerOut", "ConflictOut", "ProposalInfoOut", "TallyOut",
           "CommunityOut"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenOut(_Out):
    """A token as this node holds it (artifacts by cid and size, bytes as hex)."""

    cid: str
    issuer: str = Field(description="the issuer's agent id")
    seq: int
    iat: int = Field(description="issued at, epoch seconds (the issuer's clock)")
    kind: str
    prev: str | None
    scope: str | None
    deps: list[str]
    about: str | None
    body: dict[str, Any]
    size_bytes: int


class IssuedOut(TokenOut):
    """The token this node just signed, with what the user should know about it."""

    warnings: list[str] = Field(default_factory=list,
                                description="present only when there is something to say")


class VerdictOut(_Out):
    cid: str
    state: VerdictState
    confidence: float
    evidence: list[str]
    reason: str
    basis: VerdictBasis


class VerdictRowOut(VerdictOut):
    """One promise with this node's verdict, and what the promise says."""

    issuer: str
    iat: int = Field(description="issued at, epoch seconds (the issuer's clock)")
    scope: str | None
    text: str | None
    due: int | None = Field(description="epoch seconds")
    to: str | None = Field(description="the promisee's agent id")
    slot: str | None


class DeliveredOut(_Out):
    fulfil: str
    artifacts: list[str]


class DeliveryOut(_Out):
    """Promised `out` cids beside the artifacts the promiser's fulfils delivered."""

    out: list[str]
    delivered: list[DeliveredOut]
    missing: list[str]
    unpromised: list[str]


class SlotKeyOut(_Out):
    kind: Literal["slot"]
    scope: str
    slot: str


class SeqKeyOut(_Out):
    kind: Literal["seq"]
    issuer: str
    seq: int


ConflictKeyOut = Annotated[SlotKeyOut | SeqKeyOut, Field(discriminator="kind")]


class AlternativeOut(_Out):
    cid: str
    support: float


class ConsensusOut(_Out):
    key: ConflictKeyOut
    state: ConsensusState
    leader: str | None
    support: float
    alternatives: list[AlternativeOut]


class AssessmentOut(_Out):
    """One assessor's latest assessment of a promise."""

    cid: str
    assessor: str
    iat: int
    verdict: str = Field(description="kept or broken, as the assessor said")
    reason: str | None


class TokenDetailOut(TokenOut):
    """`GET /v1/tokens/{cid}`: the token with this node's view of it."""

    verdict: VerdictOut | None = Field(default=None, description="promises only")
    delivery: DeliveryOut | None = Field(default=None, description="promises only")
    assessments: list[AssessmentOut] | None = Field(default=None,
                                                    description="promises only: each "
                                                                "assessor's latest")
    support: float
    accepted_by: list[str]
    conflicts: list[ConsensusOut]


class RivalOut(_Out):
    cid: str
    issuer: str
    text: str | None = Field(description="what the rival promise says")
    support: float
    accepted_by: list[str]
    split: list[str]


class ConflictOut(ConsensusOut):
    threshold: float
    rivals: list[RivalOut]


class OpinionOut(_Out):
    agent: str
    belief: float
    disbelief: float
    uncertainty: float
    base_rate: float
    expectation: float


class TrustPointOut(OpinionOut):
    """`GET /v1/trust/history`: the opinion as it was from `at` on."""

    at: float = Field(description="epoch seconds (this node's clock)")


class CoreStatsOut(_Out):
    received_tokens: int
    duplicates: int
    rejected: int
    pending_dropped: int
    frames_in: int
    frames_out: int
    bytes_in: int
    bytes_out: int


class AdmissionStatsOut(_Out):
    enabled: bool
    admitted: dict[str, int] | None = Field(default=None, description="by reason")
    ignored: dict[str, int] | None = Field(default=None, description="by reason")
    horizon: int | None = Field(default=None, description="agents inside the horizon")
    hops_max: int | None = None
    stranger_quota: int | None = None
    stranger_budget: int | None = Field(default=None, description="strangers' tokens per window")
    stranger_budget_window_s: float | None = None
    stranger_budget_used: int | None = Field(default=None, description="taken in the window")
    stranger_budget_left: int | None = None
    stranger_budget_refill_in_s: float | None = Field(
        default=None, description="until the oldest charge ages out (null: none to age)")
    strangers_held: int | None = None


class GossipStatsOut(_Out):
    verified: int | None = Field(default=None,
                                 description="token signatures the gossip validator checked")
    delivered: int | None = None
    rejected: int | None = None
    ignored: int | None = None
    kept_unforwarded: int | None = None
    rate_limited: int | None = None
    broken_streams: int | None = Field(
        default=None, description="neighbours' pubsub streams dropped for a malformed RPC")
    malformed_messages: int | None = Field(
        default=None, description="gossip messages dropped because py-libp2p's checks failed")
    rate_limited_by_peer: dict[str, int] | None = None
    dropped_queue_full: int | None = None


class StatsOut(_Out):
    tokens: int
    pending: int
    core: CoreStatsOut
    admission: AdmissionStatsOut
    gossip: GossipStatsOut


class RelayServedOut(_Out):
    serving: bool = Field(description="whether this node is a relay for others")
    reservations: int
    circuits: int


class IdOut(_Out):
    """`GET /v1/id`; the reachability fields come from a running node's relay
    keeper (node/app/relaying.py)."""

    agent_id: str
    tokens: int
    own_seq: int
    frontier_digest: str = Field(description="hex")
    listen: list[str] = Field(description="multiaddrs other nodes bootstrap from")
    reachability: Literal["public", "private", "unknown"] | None = Field(
        default=None, description="whether other nodes can dial us (config or dial-back)")
    reachability_source: Literal["config", "dial-back"] | None = None
    relayed: list[str] | None = Field(default=None, description="circuit addresses "
                                      "through the relays we hold a reservation on")
    relay: RelayServedOut | None = None


class PeerAddrOut(_Out):
    addr: str = Field(description="a multiaddr of the peer, without /p2p/")
    source: Literal["bootstrap", "identify", "exchange", "mdns"] = Field(
        description="who told us: the operator, the peer itself, another peer, the LAN")
    outcome: Literal["untried", "ok", "failed"] = Field(description="the last dial here")
    last_tried_s_ago: float | None
    error: str | None


class PeerOut(_Out):
    peer: str
    state: LivenessState
    phi: float | None
    last_heard_s_ago: float | None
    connected: bool
    never_reached: bool = Field(default=False, description="in the peer book, never "
                                                           "connected, not heard from")
    last_dial_error: str | None = None
    reached: Literal["direct", "relayed", "not connected"] = Field(
        default="not connected", description="how our connection to it goes now")
    via: str | None = Field(default=None, description="the relay's agent id, if relayed")
    remote_addr: str | None = Field(default=None, description="our connection's address")
    last_seen_s_ago: float | None = Field(default=None, description="last connected")
    failures: int = Field(default=0, description="failed dial rounds in a row")
    next_dial_in_s: float | None = None
    bootstrap: bool = False
    addrs: list[PeerAddrOut] = Field(default_factory=list,
                                     description="the peer book's addresses, in dial order")


Fraction = Annotated[list[int], Field(min_length=2, max_length=2,
                                      description="[numerator, denominator]")]


class ProposalInfoOut(_Out):
    """`GET /v1/proposals`: trust.governance's `ProposalInfo` as JSON. Its own
    model, not derived from the dataclass, like every answer here: it forbids
    unknown fields, so a field added to `ProposalInfo` and not here is a server
    error in tests/test_api_schema.py, not a silent drift."""

    cid: str
    scope: str | None
    title: str
    method: str
    options: list[str]
    closes: int
    view: str | None
    epoch: int | None
    membership: bool
    state: OutcomeState
    result: str | None


class RulesOut(_Out):
    quorum: Fraction
    threshold: Fraction
    pass_share: Fraction


class CommunityOut(_Out):
    """`GET /v1/communities`: a charter with its current membership."""

    cid: str = Field(description="the charter cid (the community's id)")
    name: str
    founder: str
    founding_members: list[str]
    methods: list[str]
    rules: RulesOut
    epoch: int | None = Field(description="the current membership's epoch")
    members: list[str] = Field(description="the current members")


class ProposalOut(_Out):
    cid: str
    scope: str | None
    issuer: str
    iat: int
    view: str | None
    title: str
    options: list[str]
    method: str
    closes: int
    rules: RulesOut
    add: list[str]
    remove: list[str]
    problem: str | None


class CountOut(_Out):
    proposal: str
    method: str
    options: list[str]
    counts: list[int] = Field(description="votes per option, or the ranked pairwise matrix")
    ballots: int
    electorate: int
    quorum_met: bool
    result: str | None
    tied: list[str]


class SupportOut(_Out):
    quorum_met: bool
    result: str | None
    members: int


class TallyInfoOut(_Out):
    issuer: str
    cids: list[str]
    seq: int
    result: str | None
    quorum_met: bool
    counts: list[int]
    ballots: int
    digest: str = Field(description="hex")
    status: TallyStatus
    reason: str


class OutcomeOut(_Out):
    proposal: str
    state: OutcomeState
    result: str | None
    reason: str
    electorate: int
    needed: int
    support: list[SupportOut]
    own: CountOut | None
    tallies: list[TallyInfoOut]


class BallotStatusOut(_Out):
    cid: str
    seq: int
    iat: int
    state: BallotState
    choice: list[str]
    reason: str


class CutDifferenceOut(_Out):
    digest: str = Field(description="hex")
    issuers: list[str]
    result: str | None
    quorum_met: bool
    missing: list[str]
    extra: list[str]


class ExplanationOut(_Out):
    proposal: str
    voter: str
    outcome: OutcomeOut
    ballots: list[BallotStatusOut]
    counted: str | None
    attestations: list[Annotated[list[str | None], Field(min_length=2, max_length=2)]] = Field(
        description="[tally issuer, the voter's ballot in its cut or null]")
    differences: list[CutDifferenceOut]


class TallyOut(_Out):
    """`GET /v1/proposals/{cid}`: the outcome as this node sees it."""

    outcome: OutcomeOut
    proposal: ProposalOut
    explanation: ExplanationOut | None = Field(default=None, description="with ?explain=true")
