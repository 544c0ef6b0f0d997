"""Rumor spreading on the complete graph agrees with the literature
(Frieze & Grimmett 1985, Pittel 1987: push takes log2 n + ln n + O(1) rounds;
Karp et al. 2000: push-pull log3 n + O(log log n)). docs/sim.md."""

from __future__ import annotations

import math

from sim.calibrate import expected_rounds, measure_rounds

N = 256


def test_push_pull_and_push_pull_rounds_match_theory() -> None:
    got = {m: measure_rounds(m, N, [1, 2]) for m in ("push", "pull", "push-pull")}
    for m, c in got.items():
        assert c.rumors >= 3, (m, c)
        # Leading terms plus a small additive constant (the O(1) / O(log log n)).
        assert abs(c.mean_rounds - expected_rounds(m, N)) <= 3.0, (m, c)
    assert got["push-pull"].mean_rounds < got["pull"].mean_rounds < got["push"].mean_rounds
    assert expected_rounds("push", N) == math.log2(N) + math.log(N)
