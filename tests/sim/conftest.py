"""Shared helpers for the simulator tests: tiny, fast versions of the scenarios."""

from __future__ import annotations

from typing import Any

from sim import Scenario, load_scenario

# Small enough for CI (each run well under 2 s), long enough for every
# mechanism to fire: workload, faults, sampling, convergence check.
SMALL: dict[str, tuple[int, list[tuple[str, Any]]]] = {
    "baseline": (12, [("scenario.duration_s", 240.0), ("workload.stop_s", 80.0),
                      ("workload.promise_rate_per_s", 0.05)]),
    "liars": (12, [("scenario.duration_s", 300.0), ("workload.stop_s", 120.0)]),
    "badmouth": (12, [("scenario.duration_s", 300.0), ("workload.stop_s", 120.0)]),
    "sybil": (12, [("scenario.duration_s", 300.0), ("workload.stop_s", 120.0)]),
    "partition-heal": (12, [("scenario.duration_s", 320.0), ("workload.stop_s", 150.0),
                            ("faults.partitions.0.at_s", 40.0),
                            ("faults.partitions.0.heal_s", 100.0)]),
    "churn": (14, [("scenario.duration_s", 320.0), ("workload.stop_s", 120.0),
                   ("faults.churn.crash_rate_per_s", 0.005)]),
    "rumor-push": (64, [("scenario.duration_s", 30.0), ("workload.stop_s", 15.0)]),
    "rumor-pull": (64, [("scenario.duration_s", 30.0), ("workload.stop_s", 15.0)]),
    "rumor-push-pull": (64, [("scenario.duration_s", 30.0), ("workload.stop_s", 15.0)]),
    # 16 promises per agent: the trust AUC of a dozen agents needs that many.
    "false-fulfil": (12, [("scenario.duration_s", 330.0), ("workload.stop_s", 200.0),
                          ("workload.promise_rate_per_s", 0.08)]),
    "slots": (12, [("scenario.duration_s", 300.0), ("workload.stop_s", 150.0),
                   ("faults.partitions.0.at_s", 60.0), ("faults.partitions.0.heal_s", 110.0)]),
    "vote": (20, [("scenario.duration_s", 230.0), ("workload.stop_s", 100.0),
                  ("vote.closes_after_s", 100.0), ("vote.vote_window_s", 70.0)]),
}


def small(name: str) -> Scenario:
    nodes, overrides = SMALL[name]
    return load_scenario(name, overrides, nodes=nodes)
