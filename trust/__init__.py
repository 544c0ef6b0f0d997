"""troth trust layer: the observer's mind (docs/trust.md). Pure and deterministic.

`Observer(agent_id, params)` is fed verified tokens with `observe(token, rivals)` and
answers, at a given `now`:

- `verdict(cid, now) -> Verdict` (`kept` / `broken` / `pending`, confidence,
  evidence cids, reason, and `basis`: the kind of evidence that decided, one of
  `own`, `verified`, `witnessed`, `claimed`, `deadline`, `retracted`,
  `equivocation`, `none`) for a promise;
- `trust(agent_id, now) -> Opinion` (belief, disbelief, uncertainty,
  base_rate, expectation): Beta Reputation System evidence fused with
  discounted hearsay (subjective logic); `referral(agent_id, now)` is the
  trust in the agent as an assessor;
- `support(cid, now=None) -> float` and `consensus(key, now=None) -> Consensus`
  over conflict sets (`SeqKey(issuer, seq)`, `SlotKey(scope, slot)`; an
  unscoped slot is `SlotKey(NETWORK_SCOPE, slot)`);
  `rivals(key, now=None) -> [Rival]` (each member's support and accepters,
  for users) and `accepters(cid)`;
- `promise_detail(cid) -> PromiseDetail | None`: the transition tuple
  (f1, in, out, f2) promised and the artifact cids each fulfil delivered.

Every answer is a pure function of (tokens observed, now, params). Formulas,
sources and token conventions: docs/trust.md.

`Governance(agent_id, params)` (trust/governance/, docs/governance.md) is
fed the same tokens and answers `outcome`, `explain`, `proposals`, `cut_for`
and `tally_plan` for community votes (docs/governance.md).

Modules: observer.py (`Observer`: ingestion), weighing.py (its queries:
verdicts, trust, referral), evidence.py (per-promise records and counters),
conflicts.py (conflict sets, consensus), values.py (the answers), accept.py
(the acceptance graph), opinion.py (subjective logic), params.py, governance/.

Hook for the node core. `observe(token, rivals)` (rivals: the cids the
core's token index already holds at the token's issuer and seq; the observer
does not judge equivocation itself) returns `ObservationEffects`: the
promise cids, agents and conflict keys whose answers may have changed, plus
`referrals` (assessors whose referral trust moved). The core keeps the last
answer it emitted for each and, after each `observe`:

    fx = observer.expand(observer.observe(token, rivals))  # or skip expand: cheaper
    for cid in sorted(fx.promises):  v = observer.verdict(cid, now)   -> VerdictChanged?
    for a in sorted(fx.agents):      o = observer.trust(a, now)       -> TrustChanged?
    for k in sorted(fx.conflicts):   c = observer.consensus(k, now)   -> ConsensusChanged?

On `tick(now)`, `observer.due_between(last_now, now)` lists what turns broken
for lateness as the clock moves (expand it the same way), and
`observer.next_deadline(now)` tells when the next such change is due. Each
query costs O(log n) (verdict) or O(assessors * log n) (trust); consensus
weighs the whole electorate, memoised per (now, tokens observed).
"""

from .conflicts import Rival
from .governance import (
    GOVERNANCE_KINDS,
    Explanation,
    Governance,
    GovernanceEffects,
    Outcome,
    ProposalInfo,
    TallyPlan,
    TallyResult,
    View,
)
from .observer import (
    ConflictKey,
    Consensus,
    ObservationEffects,
    Observer,
    SeqKey,
    SlotKey,
    Verdict,
)
from .opinion import Opinion, discount, from_evidence, fuse, to_evidence
from .params import Params
from .values import NETWORK_SCOPE, PromiseDetail, VerdictBasis

__all__ = [
    "Observer",
    "Params",
    "Verdict",
    "VerdictBasis",
    "PromiseDetail",
    "NETWORK_SCOPE",
    "Opinion",
    "Consensus",
    "ObservationEffects",
    "ConflictKey",
    "SeqKey",
    "SlotKey",
    "Rival",
    "from_evidence",
    "to_evidence",
    "discount",
    "fuse",
    "GOVERNANCE_KINDS",
    "Governance",
    "GovernanceEffects",
    "Outcome",
    "Explanation",
    "ProposalInfo",
    "TallyPlan",
    "TallyResult",
    "View",
]
