"""The checkers catch what they must, and adversaries never get a forgery in."""

from __future__ import annotations

import pytest

from sim import InvariantViolation, load_scenario, run_one
from sim.world import World


def test_forgeries_are_sent_and_never_accepted() -> None:
    sc = load_scenario("churn", [("scenario.duration_s", 200.0), ("workload.stop_s", 100.0),
                                 ("faults.churn.crash_rate_per_s", 0.0)], nodes=12)
    out = run_one(sc, 4)
    assert out.result.violation is None
    m = out.metrics
    assert m["count_forged_sent"] > 0
    assert m["count_invalid_gossip"] > 0  # the validator dropped them


def test_equivocators_are_detected_and_allowed_but_honest_ones_are_not() -> None:
    sc = load_scenario("churn", [("scenario.duration_s", 300.0), ("workload.stop_s", 200.0),
                                 ("faults.churn.crash_rate_per_s", 0.0),
                                 ("agents.1.fork_every_s", 30.0)], nodes=12)
    out = run_one(sc, 2)
    assert out.result.violation is None
    assert out.metrics["count_equivocations_detected"] > 0


def test_the_forgery_checker_fires_on_an_unsigned_token() -> None:
    sc = load_scenario("baseline", nodes=4)
    w = World(sc, 1)
    a, b = w.nodes[0], w.nodes[1]
    assert a.core is not None
    tok = a.core.issue(kind="promise", now=a.local(0.0), body={"due": 1})[0].token  # type: ignore[union-attr]
    with pytest.raises(InvariantViolation) as exc:
        w.checker.accepted(b, tok)  # nobody registered it as signed
    assert exc.value.invariant == "no-forgery" and exc.value.seed == 1


def test_convergence_checker_fires_when_the_network_cannot_heal() -> None:
    # No sync and no gossip: tokens never spread, so nodes cannot converge.
    sc = load_scenario("baseline", [("dissemination.model", "none"), ("core.sync", False),
                                    ("scenario.duration_s", 200.0), ("workload.stop_s", 50.0),
                                    ("checks.converge_within_s", 30.0)], nodes=6)
    out = run_one(sc, 1)
    v = out.result.violation
    assert v is not None and v.invariant == "convergence"
    assert "faithful live nodes still differ" in str(v)
