"""The layers, checked by parsing every import statement (those inside
functions and under `if TYPE_CHECKING:` too).

troth's packages, bottom to top, and what each may import of troth:

    wire          bytes <-> values                      (nothing)
    trust         the observer's mind, governance       wire
    node.core     the sans-IO state machine             wire, trust
    node.store    SQLite log, engine, home directory    wire, trust, node.core
    node.net      the py-libp2p wrapper                 wire
    node.app      runtime, service, API, CLI, demo      wire, trust, node.*
    sim           the simulator (drives node.core)      wire, trust, node.core

The pure packages (wire, trust, node.core, and the simulator's model) import no
I/O, clock, randomness or concurrency module: time and randomness are
arguments. No module imports another in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"trio", "libp2p", "multiaddr", "sqlite3", "socket", "time", "random", "os",
             "secrets", "asyncio", "threading", "subprocess", "datetime"}
PURE = ("wire", "trust", "node.core")
MAY_IMPORT = {
    "wire": set(),
    "trust": {"wire"},
    "node.core": {"wire", "trust"},
    "node.store": {"wire", "trust", "node.core"},
    "node.net": {"wire"},
    "node.app": {"wire", "trust", "node.core", "node.store", "node.net"},
    "sim": {"wire", "trust", "node.core"},
}
SOURCES = ("wire", "trust", "node", "sim")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> str:
    """The dotted package a source file belongs to (for relative imports)."""
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every import in `path` as (line, absolute dotted name), relative ones
    resolved. `from pkg import name` yields `pkg.name` where that is a module
    of ours, else `pkg`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(path).split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names if _is_module(f"{mod}.{a.name}")]
            found += [(node.lineno, s) for s in subs] or [(node.lineno, mod)]
    return found


def _is_module(dotted: str) -> bool:
    p = ROOT.joinpath(*dotted.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _sources(*tops: str) -> list[Path]:
    return sorted(p for t in tops for p in (ROOT / t).rglob("*.py"))


def _layer(dotted: str) -> str | None:
    """The layer (a key of MAY_IMPORT) that a dotted module name belongs to."""
    for layer in sorted(MAY_IMPORT, key=len, reverse=True):
        if dotted == layer or dotted.startswith(layer + "."):
            return layer
    return None


SIM_EDGE = {"sim.cli", "sim.sweep", "sim.plots", "sim.runner"}  # CLI, pools, figures, wall clock
SIM_RANDOM = {"sim.rng"}  # the one module that makes random.Random streams


def _pure(path: Path) -> bool:
    name = module_name(path)
    if name.startswith("sim"):
        return name not in SIM_EDGE and name != "sim"
    return _layer(name) in PURE


@pytest.mark.parametrize("path", [p for p in _sources(*SOURCES) if _pure(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_io_clock_or_randomness(path: Path) -> None:
    allowed = {"random"} if module_name(path) in SIM_RANDOM else set()
    bad = [(n, m) for n, m in _imports(path)
           if m.split(".")[0] in FORBIDDEN and m.split(".")[0] not in allowed]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", _sources(*SOURCES), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_layer_it_may_not(path: Path) -> None:
    me = _layer(module_name(path))
    if me is None:  # node/__init__.py, node/__main__.py: the package's front door
        return
    bad = []
    for n, m in _imports(path):
        them = _layer(m)
        if them is None and m.split(".")[0] == "node":
            bad.append((n, m))  # node itself: import a layer, not the umbrella
        elif them is not None and them != me and them not in MAY_IMPORT[me]:
            bad.append((n, m))
    assert not bad, f"{path.relative_to(ROOT)} ({me}) imports {bad}"


def _graph() -> dict[str, set[str]]:
    mods = {module_name(p): p for p in _sources(*SOURCES)}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        graph[name] = set()
        for _, m in _imports(path):
            # an import of a.b.c runs a, a.b and a.b.c: each is an edge, but a
            # module's own enclosing packages are already running
            parts = m.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                if target in mods and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycle() -> None:
    cycle = find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checks_themselves_catch_violations(tmp_path: Path) -> None:
    p = tmp_path / "x.py"
    p.write_text("def f():\n    import time\n    from os import path\n")
    assert [m for _, m in _imports(p)] == ["time", "os"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert _layer("node.core.machine") == "node.core" and _layer("simx") is None
