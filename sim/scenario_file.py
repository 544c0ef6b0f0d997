"""Scenario files: TOML -> a validated, frozen `Scenario` (sim/scenario.py).

Theory of operation: a scenario is a TOML file (`sim/scenarios/*.toml`, or
any path). Loading is strict: an unknown table or field, a wrong type or an
out-of-range value is a `ScenarioError` that names the file, the field and
what was expected (with a "did you mean" for typos), checked against the
declarations in sim/fields.py. Overrides (`--set network.loss=0.1`, sweep
parameters) are applied to the raw tables before validation, so they are
checked exactly like the file. `rescale` changes the node count keeping the
groups' proportions.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from .behaviours import BEHAVIOURS
from .fields import FIELDS
from .scenario import (
    AgentGroup,
    ChecksConfig,
    ChurnConfig,
    ClockConfig,
    CoreConfig,
    CrashConfig,
    DisseminationConfig,
    MetricsConfig,
    NetworkConfig,
    PartitionConfig,
    Scenario,
    SlotsConfig,
    VoteConfig,
    WorkloadConfig,
)
from .spec import Spec

__all__ = ["ScenarioError", "load_scenario", "parse_scenario", "scenario_names",
           "apply_overrides", "parse_override", "rescale"]


class ScenarioError(ValueError):
    """A scenario file or override is not valid; the message says where and why."""


_TOP = {"scenario", "network", "dissemination", "core", "workload", "agents", "faults",
        "checks", "metrics", "vote", "slots"}
_FAULTS = {"partitions", "churn", "crashes", "clock"}


def _err(where: str, msg: str) -> ScenarioError:
    return ScenarioError(f"{where}: {msg}")


def _suggest(word: str, options: set[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _value(spec: Spec, v: Any, where: str) -> Any:
    t = spec.type
    if t is bool:
        if type(v) is not bool:
            raise _err(where, f"expected true or false, got {v!r}")
        return v
    if t is int:
        if type(v) is not int:
            raise _err(where, f"expected an integer, got {v!r}")
    elif t is float:
        if type(v) is int and not -2.0**1023 < v < 2.0**1023:  # float(v) would overflow
            raise _err(where, f"{v!r} is out of range [{spec.lo:g}, {spec.hi:g}]")
        if type(v) not in (int, float) or not math.isfinite(v):
            raise _err(where, f"expected a number, got {v!r}")
        v = float(v)
    elif t is str:
        if type(v) is not str:
            raise _err(where, f"expected a string, got {v!r}")
        if spec.choices and v not in spec.choices:
            raise _err(where, f"{v!r} is not one of {', '.join(spec.choices)}"
                       + _suggest(v, list(spec.choices)))
        return v
    if spec.lo is not None and v < spec.lo or spec.hi is not None and v > spec.hi:
        raise _err(where, f"{v!r} is out of range [{spec.lo:g}, {spec.hi:g}]")
    return v


def _table(section: str, raw: Any, where: str, *, extra: dict[str, Spec] | None = None
           ) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _err(where, f"[{section}] must be a table, got {type(raw).__name__}")
    specs = dict(FIELDS[section])
    if extra:
        specs.update(extra)
    out: dict[str, Any] = {}
    for k in raw:
        if k not in specs:
            raise _err(where, f"[{section}] has no field {k!r}" + _suggest(k, set(specs)))
    for k, sp in specs.items():
        if k in raw:
            out[k] = _value(sp, raw[k], f"{where}: {section}.{k}")
        elif sp.required:
            raise _err(where, f"[{section}] needs {k!r} ({sp.doc})")
        else:
            out[k] = sp.default
    return out


def _array(section: str, raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _err(where, f"[[{section}]] must be an array of tables")
    return raw


def parse_scenario(data: dict[str, Any], *, source: str = "<scenario>",
                   default_name: str = "") -> Scenario:
    """Validate raw TOML tables (after overrides) into a `Scenario`."""
    where = source
    for k in data:
        if k not in _TOP:
            raise _err(where, f"unknown table [{k}]" + _suggest(k, _TOP))
    sc = _table("scenario", data.get("scenario"), where)
    net = NetworkConfig(**_table("network", data.get("network"), where))
    dis = DisseminationConfig(**_table("dissemination", data.get("dissemination"), where))
    core = CoreConfig(**_table("core", data.get("core"), where))
    wl = WorkloadConfig(**_table("workload", data.get("workload"), where))
    if wl.fulfil_min_frac > wl.fulfil_max_frac:
        raise _err(where, "workload.fulfil_min_frac must be <= workload.fulfil_max_frac")
    groups: list[AgentGroup] = []
    raw_agents = _array("agents", data.get("agents"), where)
    if not raw_agents:
        raise _err(where, "needs at least one [[agents]] group")
    for i, g in enumerate(raw_agents):
        gw = f"{where}: agents[{i}]"
        if not isinstance(g, dict):
            raise _err(gw, "must be a table")
        beh = g.get("behaviour")
        known = ", ".join(sorted(BEHAVIOURS))
        if beh is None:
            _no_behaviour(g, gw, known)
        elif not isinstance(beh, str):
            raise _err(gw, f"behaviour must be a string naming one of {known}, got {beh!r}")
        elif beh not in BEHAVIOURS:
            raise _err(gw, f"behaviour {beh!r} is not one of {known}"
                       + _suggest(beh, set(BEHAVIOURS)))
        extra = BEHAVIOURS[beh].params if beh is not None else {}
        t = _table("agents", g, gw, extra=extra)
        params = {k: t.pop(k) for k in list(t) if k in extra}
        groups.append(AgentGroup(behaviour=t["behaviour"], count=t["count"],
                                 name=t["name"] or t["behaviour"], params=params))
    names = [g.name for g in groups]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _err(where, f"two [[agents]] groups are named {dup[0]!r}; give them a name")
    n = sum(g.count for g in groups)
    faults = data.get("faults") or {}
    if not isinstance(faults, dict):
        raise _err(where, "[faults] must be a table")
    for k in faults:
        if k not in _FAULTS:
            raise _err(where, f"[faults] has no part {k!r}" + _suggest(k, _FAULTS))
    parts = []
    for i, p in enumerate(_array("faults.partitions", faults.get("partitions"), where)):
        pc = PartitionConfig(**_table("faults.partitions", p, f"{where}: partitions[{i}]"))
        if pc.heal_s <= pc.at_s:
            raise _err(where, f"faults.partitions[{i}]: heal_s ({pc.heal_s:g}) must come after "
                       f"at_s ({pc.at_s:g})")
        parts.append(pc)
    churn = ChurnConfig(**_table("faults.churn", faults.get("churn"), where))
    if churn.down_min_s > churn.down_max_s:
        raise _err(where, "faults.churn.down_min_s must be <= down_max_s")
    crashes = []
    for i, c in enumerate(_array("faults.crashes", faults.get("crashes"), where)):
        cc = CrashConfig(**_table("faults.crashes", c, f"{where}: crashes[{i}]"))
        if cc.node >= n:
            raise _err(where, f"faults.crashes[{i}].node = {cc.node} but there are only {n} "
                       "nodes (0-based)")
        crashes.append(cc)
    clock = ClockConfig(**_table("faults.clock", faults.get("clock"), where))
    checks = ChecksConfig(**_table("checks", data.get("checks"), where))
    metrics = MetricsConfig(**_table("metrics", data.get("metrics"), where))
    scenario = Scenario(
        name=sc["name"] or default_name or "scenario", description=sc["description"],
        seed=sc["seed"], duration_s=sc["duration_s"], sample_every_s=sc["sample_every_s"],
        network=net, dissemination=dis, core=core, workload=wl, agents=tuple(groups),
        partitions=tuple(parts), churn=churn, crashes=tuple(crashes), clock=clock,
        checks=checks, metrics=metrics, source=source, raw=data,
        vote=_vote(data.get("vote"), where, groups, tuple(parts), sc["duration_s"]),
        slots=(SlotsConfig(**_table("slots", data["slots"], where))
               if data.get("slots") is not None else None))
    if scenario.workload_stop_s > scenario.duration_s:
        raise _err(where, f"workload.stop_s ({scenario.workload_stop_s:g}) is after the end "
                   f"of the run (scenario.duration_s = {scenario.duration_s:g})")
    return scenario


def _no_behaviour(g: dict[str, Any], where: str, known: str) -> None:
    """An [[agents]] group without `behaviour` (required): its parameters depend on it."""
    params = {k for b in BEHAVIOURS.values() for k in b.params}
    base = set(FIELDS["agents"])
    for k in g:
        if k not in base and k not in params:
            raise _err(where, f"[agents] has no field {k!r}" + _suggest(k, base | params))
    orphans = [k for k in g if k in params]
    if orphans:
        raise _err(where, f"[agents] needs 'behaviour' (one of {known}); "
                   f"{orphans[0]!r} is a parameter of a behaviour")


def _names(v: Any, what: str, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _err(where, f"{what}: expected a list of strings, got {v!r}")
    if len(set(v)) != len(v):
        raise _err(where, f"{what}: {v!r} names one thing twice")
    return tuple(v)


def _vote(raw: Any, where: str, groups: list[AgentGroup], parts: tuple[PartitionConfig, ...],
          duration_s: float) -> VoteConfig | None:
    """The optional [vote] table, checked against the groups, partitions and duration."""
    if raw is None:
        return None
    import trust

    t = _table("vote", raw, where)
    by_name = {g.name: g for g in groups}
    members = _names(t["members"], "vote.members", where)
    stuffers = _names(t["stuffers"], "vote.stuffers", where)
    options = _names(t["options"], "vote.options", where)
    if not members:
        raise _err(where, "vote.members: needs at least one [[agents]] group")
    for key, names in (("members", members), ("stuffers", stuffers)):
        for name in names:
            if name not in by_name:
                raise _err(where, f"vote.{key}: no [[agents]] group named {name!r}"
                           + _suggest(name, set(by_name)))
    both = sorted(set(members) & set(stuffers))
    if both:
        raise _err(where, f"vote.stuffers: group {both[0]!r} is a member; stuffers are "
                   "non-members")
    if not any(by_name[m].behaviour == "honest" for m in members):
        raise _err(where, "vote.members: needs an honest group (its first node issues the "
                   "charter and the proposals)")
    if not 2 <= len(options) <= 64 or not all(0 < len(o) <= 200 for o in options):
        raise _err(where, f"vote.options: needs 2..64 distinct non-empty names, got {options!r}")
    cfg = VoteConfig(**{**t, "members": members, "stuffers": stuffers, "options": options})
    if cfg.propose_at_s <= cfg.charter_at_s:
        raise _err(where, f"vote.propose_at_s ({cfg.propose_at_s:g}) must come after "
                   f"vote.charter_at_s ({cfg.charter_at_s:g})")
    if cfg.vote_window_s >= cfg.closes_after_s:
        raise _err(where, f"vote.vote_window_s ({cfg.vote_window_s:g}) must be shorter than "
                   f"vote.closes_after_s ({cfg.closes_after_s:g}): ballots are meant on time")
    skew = trust.Params().skew_allowance_s
    last = cfg.propose_at_s + cfg.closes_after_s + skew + cfg.late_after_s
    if last >= duration_s:
        raise _err(where, f"vote: the last late ballot (propose_at_s + closes_after_s + skew "
                   f"allowance {skew:g} s + late_after_s = {last:g}) is after the end of the "
                   f"run (scenario.duration_s = {duration_s:g})")
    start, end = cfg.propose_at_s, cfg.propose_at_s + cfg.vote_window_s
    eq = cfg.equivocate_at_s
    if eq and not start < eq <= end:
        raise _err(where, f"vote.equivocate_at_s ({eq:g}) is outside the voting window "
                   f"({start:g}, {end:g}]")
    doubles = any(by_name[m].behaviour == "equivocator" for m in members)
    for i, p in enumerate(parts if doubles else ()):
        lo, hi = (eq, eq) if eq else (start, end)
        if lo <= p.heal_s and p.at_s <= hi:
            raise _err(where, f"vote.equivocate_at_s ({'random' if not eq else f'{eq:g}'}) may "
                       f"fall in faults.partitions[{i}] ({p.at_s:g}..{p.heal_s:g}): the first "
                       "ballot may reach no one before the lost write erases it, and then no "
                       "one can see the fork (docs/sim.md); set it outside")
    return cfg


def parse_override(text: str) -> tuple[str, Any]:
    """`network.loss=0.1` -> ("network.loss", 0.1); values are TOML values."""
    if "=" not in text:
        raise ScenarioError(f"override {text!r}: expected table.field=value")
    key, _, val = text.partition("=")
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {val.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = val.strip()  # a bare word: a string
    except RecursionError:
        raise ScenarioError(f"override {key!r}: the value is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer past Python's int/str digit limit
        raise ScenarioError(f"override {key!r}: not a value troth can read ({exc})") from None
    return key, value


def _index(p: str, node: list[Any]) -> int | None:
    """`p` as an index into `node` (ASCII digits, in range), else None."""
    return (int(p) if p.isascii() and p.isdigit() and len(p) < 10 and int(p) < len(node)
            else None)


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Set dotted keys (`agents.0.count`, `faults.churn.cut_prob`) in a copy of `data`."""
    import copy

    out = copy.deepcopy(data)
    for key, value in overrides:
        parts = key.split(".")
        node: Any = out
        for i, p in enumerate(parts[:-1]):
            if isinstance(node, list):
                j = _index(p, node)
                if j is None:
                    raise ScenarioError(f"override {key!r}: no element {p!r} in "
                                        f"{'.'.join(parts[:i])} (it has {len(node)})")
                node = node[j]
            elif not isinstance(node, dict):
                raise ScenarioError(f"override {key!r}: {'.'.join(parts[:i])} is not a table")
            else:
                if p not in node:
                    node[p] = {}
                node = node[p]
        last = parts[-1]
        if isinstance(node, list):
            j = _index(last, node)
            if j is None:
                raise ScenarioError(f"override {key!r}: no element {last!r} in "
                                    f"{'.'.join(parts[:-1])} (it has {len(node)})")
            node[j] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ScenarioError(f"override {key!r}: {'.'.join(parts[:-1])} is not a table")
    return out


def scenario_names() -> list[str]:
    """The scenarios shipped in sim/scenarios/."""
    root = resources.files("sim") / "scenarios"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def _read(name_or_path: str) -> tuple[dict[str, Any], str, str]:
    path = Path(name_or_path)
    source = str(path)
    try:
        if path.suffix == ".toml" or path.exists():
            if path.is_dir():
                raise ScenarioError(f"{path}: is a directory, not a scenario file")
            if not path.is_file():
                raise ScenarioError(f"{path}: no such scenario file")
            raw, stem = path.read_bytes(), path.stem
        else:
            res = resources.files("sim") / "scenarios" / f"{name_or_path}.toml"
            if not res.is_file():
                raise ScenarioError(f"no scenario named {name_or_path!r}; shipped: "
                                    f"{', '.join(scenario_names())}"
                                    + _suggest(name_or_path, scenario_names()))
            source, stem = f"sim/scenarios/{name_or_path}.toml", name_or_path
            raw = res.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot read the scenario file: "
                            f"{exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{source}: not UTF-8 text (byte {exc.start}: "
                            f"{raw[exc.start:exc.start + 1]!r}); TOML files are UTF-8") from None
    try:
        return tomllib.loads(text), source, stem
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: not valid TOML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer past Python's int/str digit limit
        raise ScenarioError(f"{source}: a value troth cannot read: {exc}") from None


def load_scenario(name_or_path: str, overrides: list[tuple[str, Any]] | None = None,
                  *, nodes: int | None = None) -> Scenario:
    """Read a shipped scenario (by name) or a file, apply overrides, validate.

    `nodes` rescales the [[agents]] counts proportionally (each group keeps at
    least one node) so one file serves CI (tiny) and experiments (large).
    """
    data, source, stem = _read(name_or_path)
    if overrides:
        data = apply_overrides(data, overrides)
    sc = parse_scenario(data, source=source, default_name=stem)
    if nodes is not None:
        sc = rescale(sc, nodes)
    return sc


def rescale(sc: Scenario, nodes: int) -> Scenario:
    """The same scenario with about `nodes` nodes, group shares preserved."""
    if nodes < len(sc.agents):
        raise ScenarioError(f"--nodes {nodes}: the scenario has {len(sc.agents)} groups, "
                            "each needs a node")
    most = FIELDS["agents"]["count"].hi
    assert most is not None
    if nodes > most * len(sc.agents):  # also keeps the shares below from overflowing
        raise ScenarioError(f"--nodes {nodes}: more than agents.count's bound {most:g} for "
                            f"each of the scenario's {len(sc.agents)} groups")
    total = sc.nodes
    counts = [max(1, round(g.count * nodes / total)) for g in sc.agents]
    counts[0] += nodes - sum(counts)
    if counts[0] < 1:
        raise ScenarioError(f"--nodes {nodes} is too small for this scenario's groups")
    for g, c in zip(sc.agents, counts, strict=True):
        if c > most:
            raise ScenarioError(f"--nodes {nodes}: group {g.name!r} would have {c} nodes, "
                                f"more than agents.count's bound {most:g}")
    groups = tuple(replace(g, count=c) for g, c in zip(sc.agents, counts, strict=True))
    crashes = tuple(c for c in sc.crashes if c.node < nodes)
    return replace(sc, agents=groups, crashes=crashes)
