"""Failing seeds become regression tests (TigerBeetle VOPR practice).

Each file in tests/sim/regressions/ is a scenario whose header says what the
run must do with which seed:

    # expect: ok                        (no invariant violated)
    # expect: violation <invariant>     (the checker must stop the run)
    # seed: N
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import load_scenario, run_one

HERE = Path(__file__).parent / "regressions"
CASES = sorted(HERE.glob("*.toml"))


def _header(path: Path) -> tuple[str, int]:
    expect, seed = "", -1
    for line in path.read_text().splitlines():
        if line.startswith("# expect:"):
            expect = line.split(":", 1)[1].strip()
        elif line.startswith("# seed:"):
            seed = int(line.split(":", 1)[1])
    assert expect and seed >= 0, f"{path.name}: needs '# expect:' and '# seed:' lines"
    return expect, seed


def test_there_are_regressions() -> None:
    assert CASES


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_regression(path: Path) -> None:
    expect, seed = _header(path)
    out = run_one(load_scenario(str(path)), seed)
    v = out.result.violation
    if expect == "ok":
        assert v is None, v
    else:
        kind, _, invariant = expect.partition(" ")
        assert kind == "violation"
        assert v is not None, "the checker missed the bug"
        assert v.invariant == invariant
        assert v.seed == seed and v.event_index > 0
        # The run stopped at the violation and replays to the same point.
        again = run_one(load_scenario(str(path)), seed)
        assert again.result.digest == out.result.digest
