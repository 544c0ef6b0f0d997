"""The observer's tunable constants, in one frozen value.

Every field is documented here and in docs/trust.md; defaults follow the
literature where it has one (W=2 and a=1/2 from the Beta Reputation System).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Params"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Params:
    """Knobs of one observer. Same params + same tokens + same `now` -> same answers."""

    # Seconds of clock disagreement forgiven around a `due` time: a promise is
    # broken for lateness only once now > due + skew_allowance_s on this
    # observer's clock, and a fulfilment dated up to due + skew_allowance_s is
    # on time (docs/design.md, Frames of reference: observers on different clocks
    # may both be right).
    skew_allowance_s: float = 30.0
    # Non-informative prior weight W of the beta / subjective-logic mapping
    # (Josang & Ismail 2002; Josang 2016 s3.5.2). W=2 is the uniform prior.
    prior_weight: float = 2.0
    # Base rate a: the expectation of an agent with no evidence (E = b + a*u).
    base_rate: float = 0.5
    # Forgetting factor lambda in (0, 1] per forgetting_period_s of age
    # (Josang & Ismail 2002, s4.1, with time instead of rating index): a piece
    # of evidence of age t seconds weighs lambda ** (t / period). 1.0 = never
    # forget; it keeps trust O(assessors) per query (docs/trust.md).
    forgetting_factor: float = 1.0
    forgetting_period_s: float = 86_400.0
    # Hearsay decides a verdict only when the belief-weighted kept and broken
    # assessments differ by at least this much (in units of fully trusted
    # assessors): 0.5 = one assessor with two confirmed assessments (b=1/2).
    hearsay_margin: float = 0.5
    # Witnesses other than the promisee break a promiser's unchecked claim only
    # when their weighed denials exceed the claim and its confirmations by at
    # least this much evidence (in observations: 1 = one report by a fully
    # trusted source); closer calls stay pending. The promisee, who has
    # standing in the promise, breaks it on a tie (docs/trust.md, Verdicts).
    claim_margin: float = 0.2
    # Share of the electorate's weight a conflict-set leader needs to be
    # `settled` (docs/trust.md, Consensus: default 2/3).
    consensus_threshold: float = 2 / 3
    # Weight of this observer's own acceptances in consensus: it trusts its own
    # word fully (its trust in itself is not computed from its promises).
    self_weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.skew_allowance_s >= 0:
            raise ValueError(f"skew_allowance_s must be >= 0, got {self.skew_allowance_s!r}")
        if not self.prior_weight > 0:
            raise ValueError(f"prior_weight must be > 0, got {self.prior_weight!r}")
        if not 0 <= self.base_rate <= 1:
            raise ValueError(f"base_rate must be in [0, 1], got {self.base_rate!r}")
        if not 0 < self.forgetting_factor <= 1:
            raise ValueError(f"forgetting_factor must be in (0, 1], got {self.forgetting_factor!r}")
        if not self.forgetting_period_s > 0:
            raise ValueError(f"forgetting_period_s must be > 0, got {self.forgetting_period_s!r}")
        if not self.hearsay_margin > 0:
            raise ValueError(f"hearsay_margin must be > 0, got {self.hearsay_margin!r}")
        if not self.claim_margin >= 0:
            raise ValueError(f"claim_margin must be >= 0, got {self.claim_margin!r}")
        if not 0 < self.consensus_threshold <= 1:
            raise ValueError(
                f"consensus_threshold must be in (0, 1], got {self.consensus_threshold!r}")
        if not self.self_weight >= 0:
            raise ValueError(f"self_weight must be >= 0, got {self.self_weight!r}")
