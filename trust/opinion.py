"""Binomial subjective-logic opinions and the beta evidence they stand for.

Theory of operation. An opinion about a proposition ("agent A keeps its
promises") is (b, d, u, a) with b + d + u = 1 and projected probability
E = b + a*u. It is the same thing as a Beta(r + W*a, s + W*(1-a)) density over
evidence r (positive) and s (negative) with prior weight W:

    b = r / (r + s + W)    d = s / (r + s + W)    u = W / (r + s + W)

(Josang & Ismail, "The Beta Reputation System", 2002, eq. 3 and s3; Josang,
"Subjective Logic", 2016, Def. 3.9 / eq. 3.11). With W=2, a=1/2 the
expectation is the BRS reputation E = (r + 1) / (r + s + 2).

Referral discounting is the belief-based operator of Josang, Hayward & Pope,
"Trust Network Analysis with Subjective Logic" (ACSC 2006), Def. 4:

    b' = b_AB * b_Bx    d' = b_AB * d_Bx    u' = d_AB + u_AB + b_AB * u_Bx

so only what A *believes* about B's advice passes through (not the base rate:
a stranger's advice carries nothing). Cumulative fusion (same paper, Def. 5;
Josang 2016 s12.3) of non-dogmatic opinions is the sum of their evidence;
`fuse` implements the operator and `from_evidence(sum of evidence)` is the
same result, which is how the observer uses it: the sum is taken with
math.fsum, which is correctly rounded and therefore independent of order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Opinion", "from_evidence", "to_evidence", "discount", "fuse", "FLOOR"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Opinion:
    """A binomial opinion: belief + disbelief + uncertainty = 1."""

    belief: float
    disbelief: float
    uncertainty: float
    base_rate: float = 0.5

    @property
    def expectation(self) -> float:
        """Projected probability E = b + a*u (Josang 2016, eq. 3.2)."""
        return self.belief + self.base_rate * self.uncertainty


# Proven equivocation: certain disbelief, nothing left to learn.
FLOOR = Opinion(belief=0.0, disbelief=1.0, uncertainty=0.0, base_rate=0.5)


def from_evidence(r: float, s: float, *, prior_weight: float = 2.0,
                  base_rate: float = 0.5) -> Opinion:
    """The beta -> opinion mapping (Josang 2016, eq. 3.11)."""
    assert r >= 0 and s >= 0 and prior_weight > 0, (r, s, prior_weight)
    total = r + s + prior_weight
    return Opinion(belief=r / total, disbelief=s / total, uncertainty=prior_weight / total,
                   base_rate=base_rate)


def to_evidence(o: Opinion, *, prior_weight: float = 2.0) -> tuple[float, float]:
    """Inverse mapping: r = W*b/u, s = W*d/u. Undefined for dogmatic opinions (u=0)."""
    if o.uncertainty <= 0:
        raise ValueError(f"dogmatic opinion has infinite evidence: {o!r}")
    return (prior_weight * o.belief / o.uncertainty,
            prior_weight * o.disbelief / o.uncertainty)


def discount(referral: Opinion, advice: Opinion) -> Opinion:
    """A's view of x through B: referral = A's trust in B, advice = B's opinion on x."""
    b = referral.belief * advice.belief
    d = referral.belief * advice.disbelief
    u = referral.disbelief + referral.uncertainty + referral.belief * advice.uncertainty
    return Opinion(belief=b, disbelief=d, uncertainty=u, base_rate=advice.base_rate)


def fuse(opinions: Iterable[Opinion]) -> Opinion:
    """Cumulative fusion of non-dogmatic opinions sharing one base rate.

    Pairwise: b = (b1 u2 + b2 u1) / (u1 + u2 - u1 u2), u = u1 u2 / (u1 + u2 - u1 u2).
    For several, it equals adding evidence; done that way (with fsum) so the
    result does not depend on the order of the operands.
    """
    ops = list(opinions)
    if not ops:
        raise ValueError("fuse() needs at least one opinion")
    rs = [to_evidence(o) for o in ops]
    return from_evidence(math.fsum(r for r, _ in rs), math.fsum(s for _, s in rs),
                         base_rate=ops[0].base_rate)
