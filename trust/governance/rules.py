"""Shares of an electorate: parsing, exact comparison, and the tighten rule.

Theory of operation: quorum, threshold and pass share are fractions of whole
numbers of people, written `[num, den]` (or an int percent) in token bodies.
This module owns how they are read (`frac`), how two are compared (`looser`)
and the one rule that relates a proposal's shares to its charter's: a
proposal may only tighten its charter's quorum and threshold, never loosen
them (`tighten_problem`). The node's service asks `tighten_problem` before it
signs a proposal, the proposal builder refuses what it refuses, and the engine
applies the same predicate to a peer's signed proposal (`proposal_rules`): a
share that loosens the charter is replaced by the charter's, the rest of the
proposal stands (docs/governance.md, Rules).

Invariants: comparisons are exact (integer cross-multiplication, never
floats: 2**53 + 1 over 2**54 is above one half, a float says it is equal);
every function here is pure.
"""

from __future__ import annotations

from typing import Any

from .types import Frac, Rules

__all__ = ["frac", "looser", "tighten_problem", "proposal_rules", "needed"]


def frac(v: Any) -> Frac | None:
    """[num, den] (0 <= num <= den, den >= 1) or an int percent 0..100, else None."""
    if type(v) is int and 0 <= v <= 100:
        return (v, 100)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(type(x) is int for x in v):
        n, d = v
        if d >= 1 and 0 <= n <= d:
            return (n, d)
    return None


def looser(a: Frac, b: Frac) -> bool:
    """Whether share a is strictly below share b (exact: dens are >= 1)."""
    return a[0] * b[1] < b[0] * a[1]


def tighten_problem(base: Rules, *, quorum: Frac | None = None,
                    threshold: Frac | None = None) -> str | None:
    """Why a proposal's quorum/threshold would loosen its charter's `base` rules, or None."""
    for name, asked, floor in (("quorum", quorum, base.quorum),
                               ("threshold", threshold, base.threshold)):
        if asked is not None and looser(asked, floor):
            return (f"a proposal may only tighten the charter's {name} "
                    f"({floor[0]}/{floor[1]}), not loosen it")
    return None


def proposal_rules(base: Rules, *, quorum: Frac | None, threshold: Frac | None) -> Rules:
    """The rules a proposal counts by: its own shares where `tighten_problem` allows them.

    A share the rule refuses (or one not given) is the charter's: a proposal
    is a signed token from anyone, and it must not loosen the community's
    rules; the pass share is always the charter's.
    """
    q = quorum if quorum is not None and tighten_problem(base, quorum=quorum) is None \
        else base.quorum
    t = threshold if threshold is not None and tighten_problem(base, threshold=threshold) is None \
        else base.threshold
    return Rules(quorum=q, threshold=t, pass_share=base.pass_share)


def needed(threshold: Frac, electorate: int) -> int:
    """Supporting members a threshold requires: ceil(threshold x electorate), at least 1."""
    tn, td = threshold
    return max(-(-tn * electorate // td), 1)  # ceil: support * td >= tn * electorate
