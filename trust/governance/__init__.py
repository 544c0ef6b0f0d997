"""Governance: charters, membership views, proposals, ballots, tallies.

Theory of operation: community votes as an application of the generic token
machinery (docs/governance.md; docs/design.md, Governance). This package is
split by concern, each module stating what it owns:

- types.py: the frozen values and the limits (imported by the node's service
  and HTTP API, never repeated there);
- rules.py: shares of an electorate, compared exactly, and the one owner of
  the rule that a proposal may only tighten its charter's quorum/threshold;
- bodies.py: per token kind, the body builder and its parser side by side;
- counting.py: what a set of ballots says (single, approval, Schulze ranked);
- views.py: membership views and a proposal read in its community's context;
- tallies.py: judging members' tallies and splitting this node's own;
- engine.py: the stateful `Governance`, one observer's view, thin over the rest.

This module only re-exports the public names, so `from trust.governance
import X` and `trust.governance.X` keep working.
"""

from __future__ import annotations

from .bodies import ballot_body, charter_body, options_problem, proposal_body
from .counting import count, cut_digest, schulze
from .engine import Governance
from .rules import tighten_problem
from .types import (
    GOVERNANCE_KINDS,
    MEMBERS_MAX,
    METHODS,
    NAME_MAX_CHARS,
    OPTION_MAX_CHARS,
    OPTIONS_MAX,
    TALLY_PART_BALLOTS_MAX,
    TITLE_MAX_CHARS,
    BallotStatus,
    Charter,
    Count,
    CutDifference,
    Explanation,
    GovernanceEffects,
    Outcome,
    Proposal,
    ProposalInfo,
    Rules,
    Support,
    TallyInfo,
    TallyPart,
    TallyPlan,
    TallyResult,
    View,
)

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
    "tighten_problem",
    "GOVERNANCE_KINDS",
    "METHODS",
    "OPTIONS_MAX",
    "OPTION_MAX_CHARS",
    "MEMBERS_MAX",
    "TITLE_MAX_CHARS",
    "NAME_MAX_CHARS",
    "options_problem",
    "TALLY_PART_BALLOTS_MAX",
]
