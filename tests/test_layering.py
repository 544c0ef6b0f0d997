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


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path, root: Path = ROOT) -> str:
    """The dotted package a source file belongs to (for relative imports)."""
    name = module_name(path, root)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
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
                base = _package_of(path, root).split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names
                    if _is_module(f"{mod}.{a.name}", root)]
            found += [(node.lineno, s) for s in subs] or [(node.lineno, mod)]
    return found


def _is_module(dotted: str, root: Path = ROOT) -> bool:
    p = root.joinpath(*dotted.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _sources(*tops: str, root: Path = ROOT) -> list[Path]:
    return sorted(p for t in tops for p in (root / t).rglob("*.py"))


def _layer(dotted: str) -> str | None:
    """The layer (a key of MAY_IMPORT) that a dotted module name belongs to."""
    for layer in sorted(MAY_IMPORT, key=len, reverse=True):
        if dotted == layer or dotted.startswith(layer + "."):
            return layer
    return None


SIM_EDGE = {"sim.cli", "sim.sweep", "sim.plots", "sim.runner"}  # CLI, pools, figures, wall clock
SIM_RANDOM = {"sim.rng"}  # the one module that makes random.Random streams


def _pure(path: Path, root: Path = ROOT) -> bool:
    name = module_name(path, root)
    if name.startswith("sim"):
        return name not in SIM_EDGE and name != "sim"
    return _layer(name) in PURE


@pytest.mark.parametrize("path", [p for p in _sources(*SOURCES) if _pure(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_io_clock_or_randomness(path: Path) -> None:
    bad = impure_imports(path)
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def impure_imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    allowed = {"random"} if module_name(path, root) in SIM_RANDOM else set()
    return [(n, m) for n, m in _imports(path, root)
            if m.split(".")[0] in FORBIDDEN and m.split(".")[0] not in allowed]


@pytest.mark.parametrize("path", _sources(*SOURCES), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_layer_it_may_not(path: Path) -> None:
    me = _layer(module_name(path))
    bad = layer_violations(path)
    assert not bad, f"{path.relative_to(ROOT)} ({me}) imports {bad}"


FRONT_DOORS = {"node", "node.__main__"}  # node/__init__.py, node/__main__.py: in no layer


def layer_violations(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """The imports of `path` that reach a layer its own may not import; a module
    in no layer (other than the front doors) is a violation by itself (line 0)."""
    name = module_name(path, root)
    me = _layer(name)
    if me is None:
        return [] if name in FRONT_DOORS else [(0, name)]
    bad = []
    for n, m in _imports(path, root):
        them = _layer(m)
        if them is None and m.split(".")[0] == "node":
            bad.append((n, m))  # node itself: import a layer, not the umbrella
        elif them is not None and them != me and them not in MAY_IMPORT[me]:
            bad.append((n, m))
    return bad


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = {module_name(p, root): p for p in _sources(*SOURCES, root=root)}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        graph[name] = set()
        for _, m in _imports(path, root):
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


PLANTED = {  # a tree with one violation of each kind, and clean modules around them
    "wire/__init__.py": "",
    "wire/ok.py": "from . import limits\n",
    "wire/limits.py": "",
    "wire/up.py": "from trust import gov\n",  # upward, absolute
    "trust/__init__.py": "",
    "trust/gov.py": "import wire.ok\n",
    "trust/a.py": "from . import b\n",  # a cycle, through relative imports
    "trust/b.py": "from .a import x\n",
    "node/__init__.py": "from node.app import cli\n",
    "node/__main__.py": "from node.app import cli\n",
    "node/loose.py": "",  # under node/ but in no layer
    "node/core/__init__.py": "",
    "node/core/m.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                       "    from node.app import cli\n"  # upward, for types only
                       "def f():\n    import time\n"),  # a clock, inside a function
    "node/store/__init__.py": "",
    "node/store/home.py": "from ..core import m\n",
    "node/net/__init__.py": "",
    "node/net/rel.py": "from ..store import home\n",  # sideways, relative
    "node/app/__init__.py": "",
    "node/app/cli.py": "import node.net\nfrom node import store\n",
    "sim/__init__.py": "",
    "sim/model.py": "import random\nfrom node.core import m\n",  # randomness outside sim.rng
    "sim/rng.py": "import random\n",
}


def test_the_checks_catch_each_planted_violation_and_only_those(tmp_path: Path) -> None:
    for rel, text in PLANTED.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    paths = _sources(*SOURCES, root=tmp_path)
    assert len(paths) == len(PLANTED)
    layers = {module_name(p, tmp_path): layer_violations(p, tmp_path) for p in paths}
    assert {k: v for k, v in layers.items() if v} == {
        "wire.up": [(1, "trust.gov")],
        "node.loose": [(0, "node.loose")],
        "node.core.m": [(3, "node.app.cli")],
        "node.net.rel": [(1, "node.store.home")],
    }
    impure = {module_name(p, tmp_path): impure_imports(p, tmp_path)
              for p in paths if _pure(p, tmp_path)}
    assert {k: v for k, v in impure.items() if v} == {
        "node.core.m": [(5, "time")], "sim.model": [(1, "random")]}
    assert "sim.rng" in impure
    assert find_cycle(_graph(tmp_path)) == ["trust.a", "trust.b", "trust.a"]
    (tmp_path / "trust/b.py").write_text("from . import gov\n")
    assert find_cycle(_graph(tmp_path)) is None
