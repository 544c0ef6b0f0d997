"""Rumor-spreading calibration: measured rounds vs the literature.

Theory of operation: run a `rumor-*` scenario (complete graph, synchronous
rounds of `round_s`, latency far below a round, no loss, no core sync) and,
for every token that reached all n nodes, count the rounds from the first
round after its issue to the round in which the last node got it. The classic
results (docs/sim.md, "Calibration") for one rumor among n nodes:

    push       log2 n + ln n + O(1)         Frieze & Grimmett 1985; Pittel 1987
    pull       log2 n + O(log log n)        Karp, Schindelhauer, Shenker, Vöcking 2000
    push-pull  log3 n + O(log log n)        Karp et al. 2000

`expected_rounds` gives the leading terms (the O() terms are not counted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .runner import run_one
from .scenario_file import load_scenario

__all__ = ["expected_rounds", "measure_rounds", "Calibration"]


def expected_rounds(model: str, n: int) -> float:
    if model == "push":
        return math.log2(n) + math.log(n)
    if model == "pull":
        return math.log2(n) + math.log2(math.log2(n))
    if model == "push-pull":
        return math.log(n, 3) + math.log2(math.log2(n))
    raise ValueError(f"no calibration for model {model!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    model: str
    nodes: int
    rumors: int
    mean_rounds: float
    min_rounds: int
    max_rounds: int
    expected: float


def measure_rounds(model: str, nodes: int, seeds: list[int]) -> Calibration:
    from .world import World

    rounds: list[int] = []
    for seed in seeds:
        sc = load_scenario(f"rumor-{model}", nodes=nodes)
        kept: list[World] = []
        run_one(sc, seed, keep_world=kept)
        w = kept[0]
        r = sc.dissemination.round_s
        for cid, full in w.record.full_at.items():
            first = math.ceil(w.record.issue_t[cid] / r - 1e-9) * r
            rounds.append(int((full - first) // r) + 1)
    return Calibration(model=model, nodes=nodes, rumors=len(rounds),
                       mean_rounds=sum(rounds) / len(rounds) if rounds else math.nan,
                       min_rounds=min(rounds, default=0), max_rounds=max(rounds, default=0),
                       expected=expected_rounds(model, nodes))
