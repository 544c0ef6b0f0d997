"""Every shipped scenario runs small, twice, to the same trace digest, with no
invariant violated; and the digest does not depend on the process or on
PYTHONHASHSEED."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from sim import load_scenario, run_one, scenario_names
from sim.world import World

from .conftest import SMALL, small


def test_every_shipped_scenario_has_a_small_version() -> None:
    assert sorted(SMALL) == scenario_names()
    for required in ("baseline", "liars", "badmouth", "sybil", "partition-heal", "churn"):
        assert required in SMALL


@pytest.mark.parametrize("name", sorted(SMALL))
def test_scenario_runs_twice_to_the_same_digest(name: str) -> None:
    # The second run also checks every touched core's invariants after every
    # event (Core.check_invariants): checking changes nothing, and nothing breaks.
    sc = small(name)
    a = run_one(sc, 7)
    b = run_one(sc, 7, check_invariants=True)
    assert a.result.violation is None, a.result.violation
    assert a.result.digest == b.result.digest
    assert a.metrics == b.metrics
    assert a.metrics["tokens_issued"] > 0
    assert a.metrics["delivery_ratio"] > 0.9


def test_different_seeds_give_different_runs() -> None:
    sc = small("baseline")
    assert run_one(sc, 1).result.digest != run_one(sc, 2).result.digest


def test_digest_is_the_same_across_processes_and_hash_seeds() -> None:
    digests = set()
    for hashseed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run(
            [sys.executable, "-c", "from node.app.cli import main; main()", "--json", "sim", "run",
             "churn", "--nodes", "10", "--seed", "3", "--no-plots", "--no-progress",
             "--set", "scenario.duration_s=200", "--set", "workload.stop_s=80"],
            capture_output=True, text=True, env=env, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        import json

        digests.add(json.loads(out.stdout)["digest"])
    assert len(digests) == 1


def test_no_promise_is_made_after_the_workload_stops() -> None:
    # A first promise used to be scheduled even past workload.stop_s: with a
    # low per-node rate most nodes made theirs after the stop.
    sc = load_scenario("baseline", [("workload.promise_rate_per_s", 0.002),
                                    ("workload.stop_s", 100.0), ("workload.assess_prob", 0.0),
                                    ("scenario.duration_s", 300.0)], nodes=64)
    w = World(sc, 3)
    assert w.run().violation is None
    promises = [t for c, t in w.record.issue_t.items() if w.record.kind_of[c] == "promise"]
    assert promises and max(promises) < 100.0


def test_metrics_have_the_same_keys_with_and_without_observers() -> None:
    from sim.metrics import TRUST_KEYS

    over = [("scenario.duration_s", 60.0), ("workload.stop_s", 20.0)]
    none = run_one(load_scenario("baseline", [*over, ("metrics.observers", 0)], nodes=6), 1)
    two = run_one(load_scenario("baseline", [*over, ("metrics.observers", 2)], nodes=6), 1)
    assert set(TRUST_KEYS) <= set(none.metrics) and set(none.metrics) == set(two.metrics)
    assert all(math.isnan(none.metrics[k]) for k in TRUST_KEYS)
    assert not math.isnan(two.metrics["trust_auc"]) or not math.isnan(
        two.metrics["trust_honest_mean"])


def test_convergence_after_the_heal_is_measured_from_the_heal() -> None:
    sc = load_scenario("partition-heal", [("scenario.sample_every_s", 1.0)], nodes=16)
    m = run_one(sc, 1).metrics
    heal = sc.partitions[-1].heal_s
    assert m["last_heal_s"] == pytest.approx(heal)
    assert m["converged"] and m["convergence_checked"]
    # Read at 1 s samples: a whole number of seconds after the heal, and before
    # the convergence bound.
    after = m["converge_after_heal_s"]
    assert 0 < after <= sc.checks.converge_within_s
    assert after == pytest.approx(round(after))
    base = run_one(load_scenario("baseline", [("scenario.duration_s", 60.0),
                                              ("workload.stop_s", 20.0)], nodes=6), 1).metrics
    assert math.isnan(base["last_heal_s"]) and math.isnan(base["converge_after_heal_s"])


def test_a_broken_core_invariant_stops_the_run_as_a_violation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from node.core import Core

    calls = []

    def broken(self: Core) -> None:
        calls.append(self)
        assert len(calls) < 50, "a planted failure"

    monkeypatch.setattr(Core, "check_invariants", broken)
    out = run_one(small("baseline"), 1, check_invariants=True)
    v = out.result.violation
    assert v is not None and v.invariant == "core-invariants"
    assert "a planted failure" in str(v) and v.event_index > 0
    assert run_one(small("baseline"), 1).result.violation is None  # off by default
