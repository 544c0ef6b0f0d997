"""The simulator's model is as pure as the core (STYLE 1): only sim/rng.py may
import `random`; the wall clock, processes and files live in the edge modules."""

from __future__ import annotations

from pathlib import Path

from tests.test_layering import FORBIDDEN, _imports

ROOT = Path(__file__).resolve().parents[2] / "sim"
EDGE = {"cli.py", "sweep.py", "plots.py", "runner.py"}  # CLI, pools, figures, wall clock
ALLOWED = {"rng.py": {"random"}}


def test_model_modules_import_no_clock_io_or_randomness() -> None:
    for path in sorted(ROOT.glob("*.py")):
        if path.name in EDGE:
            continue
        allowed = ALLOWED.get(path.name, set())
        bad = [(n, m) for n, m in _imports(path)
               if m.split(".")[0] in FORBIDDEN and m.split(".")[0] not in allowed]
        assert not bad, f"sim/{path.name} imports {bad}"
