"""DESIGN §2: the pure layers take time and randomness as arguments.

wire/ and trust/ (and the sans-IO core, node/core.py, and the simulator's
model, sim/) import no I/O, clock, randomness or concurrency module. Checked by
parsing every import statement, including ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"trio", "libp2p", "multiaddr", "sqlite3", "socket", "time", "random", "os",
             "secrets", "asyncio", "threading", "subprocess", "datetime"}
PURE = sorted([*(ROOT / "wire").rglob("*.py"), *(ROOT / "trust").rglob("*.py"),
               ROOT / "node" / "core.py"])


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_io_clock_or_randomness(path: Path) -> None:
    bad = [(n, m) for n, m in _imports(path) if m.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_dependency_direction() -> None:
    """wire <- trust <- node <- sim: no layer imports one above it."""
    above = {"wire": {"trust", "node", "sim"}, "trust": {"node", "sim"}, "node": {"sim"}}
    for layer, banned in above.items():
        for path in (ROOT / layer).rglob("*.py"):
            bad = [(n, m) for n, m in _imports(path) if m.split(".")[0] in banned]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_check_itself_catches_a_violation(tmp_path: Path) -> None:
    p = tmp_path / "x.py"
    p.write_text("def f():\n    import time\n    from os import path\n")
    assert [m for _, m in _imports(p)] == ["time", "os"]
