"""Exact values of the trust arithmetic, hand-computed from the published formulas.

Sources:
- [BRS] A. Josang, R. Ismail, "The Beta Reputation System", 15th Bled
  Electronic Commerce Conference, 2002: E = (r + 1) / (r + s + 2); forgetting
  factor lambda (s4.1).
- [SL] A. Josang, "Subjective Logic", Springer 2016, eq. 3.11 (beta <-> opinion
  mapping, W = 2), eq. 3.2 (E = b + a u), s12.3 (cumulative fusion).
- [TNA] A. Josang, R. Hayward, S. Pope, "Trust Network Analysis with
  Subjective Logic", ACSC 2006, Def. 4 (discounting), Def. 5 (fusion).
"""

from __future__ import annotations

import math

import pytest

import trust
from trust import Opinion, Params

from .conftest import feed


def close(o: Opinion, b: float, d: float, u: float) -> None:
    assert math.isclose(o.belief, b, abs_tol=1e-12), (o, b)
    assert math.isclose(o.disbelief, d, abs_tol=1e-12), (o, d)
    assert math.isclose(o.uncertainty, u, abs_tol=1e-12), (o, u)
    assert math.isclose(o.belief + o.disbelief + o.uncertainty, 1.0, abs_tol=1e-12)


def test_brs_expectation_eight_positive_two_negative() -> None:
    # [BRS]: r=8, s=2 -> E = 9/12 = 0.75; [SL] 3.11: b=8/12, d=2/12, u=2/12.
    o = trust.from_evidence(8, 2)
    close(o, 8 / 12, 2 / 12, 2 / 12)
    assert o.expectation == pytest.approx(0.75, abs=1e-15)


def test_no_evidence_is_vacuous_and_expects_the_base_rate() -> None:
    # [SL] s3.5: the vacuous opinion (0, 0, 1); E = a.
    o = trust.from_evidence(0, 0, base_rate=0.3)
    close(o, 0, 0, 1)
    assert o.expectation == 0.3


def test_evidence_round_trip() -> None:
    # [SL] 3.11 inverse: r = W b / u, s = W d / u.
    r, s = trust.to_evidence(trust.from_evidence(5, 3))
    assert (r, s) == pytest.approx((5, 3), abs=1e-12)


def test_discounting_example() -> None:
    # [TNA] Def. 4 with A->B (0.9, 0.0, 0.1) and B->x (0.7, 0.2, 0.1):
    # b = 0.9*0.7 = 0.63, d = 0.9*0.2 = 0.18, u = 0 + 0.1 + 0.9*0.1 = 0.19.
    ab = Opinion(belief=0.9, disbelief=0.0, uncertainty=0.1)
    bx = Opinion(belief=0.7, disbelief=0.2, uncertainty=0.1)
    close(trust.discount(ab, bx), 0.63, 0.18, 0.19)


def test_discounting_by_a_stranger_passes_nothing() -> None:
    # Belief-based discounting: b_AB = 0 -> vacuous, whatever B says (Sybil resistance).
    stranger = trust.from_evidence(0, 0)
    close(trust.discount(stranger, Opinion(belief=1.0, disbelief=0, uncertainty=0)), 0, 0, 1)


def test_cumulative_fusion_example() -> None:
    # [TNA] Def. 5 with (0.6, 0.2, 0.2) and (0.3, 0.3, 0.4): k = 0.2 + 0.4 - 0.08 = 0.52,
    # b = (0.6*0.4 + 0.3*0.2)/0.52 = 0.3/0.52, d = (0.2*0.4 + 0.3*0.2)/0.52 = 0.14/0.52,
    # u = 0.08/0.52. Same as adding evidence (6, 2) + (1.5, 1.5) = (7.5, 3.5) [SL s12.3].
    a = Opinion(belief=0.6, disbelief=0.2, uncertainty=0.2)
    b = Opinion(belief=0.3, disbelief=0.3, uncertainty=0.4)
    close(trust.fuse([a, b]), 0.3 / 0.52, 0.14 / 0.52, 0.08 / 0.52)
    close(trust.fuse([b, a]), 7.5 / 13, 3.5 / 13, 2 / 13)


def test_observer_trust_is_brs_over_direct_verdicts(world) -> None:  # type: ignore[no-untyped-def]
    # Alice keeps 3 promises and breaks 1 as Olivia sees it: [BRS] E = 4/6.
    o = trust.Observer(world.id("olivia"))
    for i in range(3):
        p = world.promise("alice", 10 * i, due=1000)
        world.fulfil("alice", 10 * i + 5, p)
    world.promise("alice", 50, due=100)
    feed(o, world.tokens)
    op = o.trust(world.id("alice"), now=200)
    close(op, 3 / 6, 1 / 6, 2 / 6)
    assert op.expectation == pytest.approx(4 / 6, abs=1e-15)


def test_forgetting_factor_halves_day_old_evidence(world) -> None:  # type: ignore[no-untyped-def]
    # [BRS] s4.1 with lambda = 1/2 per day: a kept promise dated one day before
    # now counts r = 0.5, one dated now counts 1: r = 1.5 -> b = 1.5 / 3.5.
    o = trust.Observer(world.id("olivia"),
                       Params(forgetting_factor=0.5, forgetting_period_s=86_400))
    p1 = world.promise("alice", 0)
    world.fulfil("alice", 0, p1)
    p2 = world.promise("alice", 86_400)
    world.fulfil("alice", 86_400, p2)
    feed(o, world.tokens)
    close(o.trust(world.id("alice"), now=86_400), 1.5 / 3.5, 0, 2 / 3.5)


def test_equivocation_is_the_floor(world) -> None:  # type: ignore[no-untyped-def]
    o = trust.Observer(world.id("olivia"))
    world.promise("eve", 1)
    world.promise("eve", 2, text="a")
    world.tok("eve", "promise", 2, body={"text": "b"}, seq=2, prev=world.tokens[0].cid)
    feed(o, world.tokens)
    op = o.trust(world.id("eve"), now=10)
    assert (op.belief, op.disbelief, op.uncertainty, op.expectation) == (0, 1, 0, 0)


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="forgetting_factor"):
        Params(forgetting_factor=0)
    with pytest.raises(ValueError, match="base_rate"):
        Params(base_rate=2)
