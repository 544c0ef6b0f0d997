"""trust/ is pure: it imports none of the I/O, clock or randomness modules."""

from __future__ import annotations

import ast
from pathlib import Path

BANNED = {"trio", "libp2p", "sqlite3", "socket", "time", "random", "os", "secrets", "asyncio",
          "threading", "node", "sim"}


def test_trust_imports_nothing_impure() -> None:
    root = Path(__file__).resolve().parents[2] / "trust"
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in BANNED, f"{path.name} imports {n}"
