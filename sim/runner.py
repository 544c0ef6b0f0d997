"""Run one scenario with one seed and collect everything a caller writes out.

Theory of operation: `run_one` builds a `World`, runs it, and returns the run
result, the summary metrics, the time series and the violation (if any). It
takes the wall clock as an argument (`clock`, e.g. `time.perf_counter`) so the
model never reads one; only then does it add `wall_s` and `events_per_s`.
Used by the CLI, the sweep workers (local processes or Dask) and the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .metrics import summarize
from .scenario import Scenario
from .scenario_file import load_scenario
from .world import RunResult, World

__all__ = ["Outcome", "run_one", "run_job"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    result: RunResult
    metrics: dict[str, Any]
    timeline: list[dict[str, float]]
    trust_samples: list[dict[str, float]]
    latencies: list[float]
    msgs_per_node: list[int]
    bytes_per_node: list[int]
    trust_by_label: dict[str, list[float]]


def run_one(sc: Scenario, seed: int, *, clock: Callable[[], float] | None = None,
            progress: Callable[[float, int], None] | None = None,
            until_event: int | None = None, keep_world: list[World] | None = None,
            check_invariants: bool = False) -> Outcome:
    t0 = clock() if clock else 0.0
    world = World(sc, seed, progress=progress, check_invariants=check_invariants)
    result = world.run(until_event=until_event)
    wall = (clock() - t0) if clock else 0.0
    metrics = summarize(world)
    metrics["scenario"] = sc.name
    metrics["seed"] = seed
    metrics["digest"] = result.digest
    metrics["violation"] = result.violation.to_dict() if result.violation else None
    if clock:
        metrics["wall_s"] = wall
        metrics["events_per_s"] = result.events / wall if wall > 0 else 0.0
    by_label: dict[str, list[float]] = {}
    obs = [n for n in world.nodes if n.observes and n.up and n.core is not None]
    if obs:
        o = obs[0]
        assert o.core is not None
        for n in world.nodes[:2000]:
            if n is not o:
                e = o.core.observer.trust(n.agent, o.local(world.now)).expectation
                by_label.setdefault(n.group, []).append(e)
    if keep_world is not None:
        keep_world.append(world)
    return Outcome(result=result, metrics=metrics, timeline=world.record.timeline,
                   trust_samples=world.record.trust_samples,
                   latencies=list(world.record.latencies),
                   msgs_per_node=[n.msgs_out for n in world.nodes],
                   bytes_per_node=[n.bytes_out for n in world.nodes], trust_by_label=by_label)


def run_job(job: tuple[str, list[tuple[str, Any]], int, int | None]) -> dict[str, Any]:
    """A sweep cell: (scenario name or path, overrides, seed, nodes) -> metrics.

    Top-level and picklable, for process pools and Dask workers.
    """
    import time

    name, overrides, seed, nodes = job
    sc = load_scenario(name, overrides, nodes=nodes)
    out = run_one(sc, seed, clock=time.perf_counter)
    return out.metrics
