"""The code is ruff-clean and fully type-checked, as part of `make test`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_ruff() -> None:
    out = subprocess.run([str(BIN / "ruff"), "check", "wire", "trust", "node", "sim", "tests",
                          "bench"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:]


def test_mypy() -> None:
    out = subprocess.run([str(BIN / "mypy"), "wire", "trust", "node", "sim"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:]
