"""Scenario files: TOML -> a validated, frozen `Scenario`.

Theory of operation: a scenario is a TOML file (`sim/scenarios/*.toml`) with
the tables below. Every field is declared once, here, with its type, default,
bounds and a one-line doc (`FIELDS` drives validation, `troth sim fields` and
the reference in docs/sim.md). Loading is strict: an unknown table or field, a
wrong type or an out-of-range value is a `ScenarioError` that names the file,
the field and what was expected (with a "did you mean" for typos). Overrides
(`--set network.loss=0.1`, sweep parameters) are applied to the raw tables
before validation, so they are checked exactly like the file.

    [scenario]        name, description, seed, duration_s, sample_every_s
    [network]         latency distribution, loss, duplication, reordering,
                      bandwidth, connections per node
    [dissemination]   gossipsub mesh (degree, lazy gossip) or push/pull/push-pull
    [core]            the node core's own parameters (anti-entropy sync)
    [workload]        promises, fulfilments, assessments, what tokens build on
    [[agents]]        groups of nodes with a behaviour (sim/behaviours.py) and its params
    [faults]          [[faults.partitions]], [faults.churn], [[faults.crashes]],
                      [faults.clock]
    [checks]          convergence bound, driver order (a deliberate bug for tests)
    [metrics]         observers, consensus tracking
    [vote]            (optional) a community vote: charter, proposals, ballots,
                      ballot stuffers, equivocating and late voters (sim/vote.py)
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .behaviours import BEHAVIOURS
from .spec import Spec, spec

__all__ = [
    "Scenario", "ScenarioError", "load_scenario", "parse_scenario", "scenario_names",
    "apply_overrides", "parse_override", "FIELDS", "Spec",
    "NetworkConfig", "DisseminationConfig", "CoreConfig", "WorkloadConfig", "AgentGroup",
    "PartitionConfig", "ChurnConfig", "CrashConfig", "ClockConfig", "ChecksConfig",
    "MetricsConfig", "VoteConfig",
]


class ScenarioError(ValueError):
    """A scenario file or override is not valid; the message says where and why."""


_f = spec


FIELDS: dict[str, dict[str, Spec]] = {
    "scenario": {
        "name": _f(str, "", "Short name (defaults to the file name)."),
        "description": _f(str, "", "What the scenario shows."),
        "seed": _f(int, 1, "Master seed when --seed is not given.", 0, 2**63 - 1),
        "duration_s": _f(float, 600.0, "Virtual seconds simulated.", 1.0, 1e7),
        "sample_every_s": _f(float, 10.0, "Time-series sampling period (metrics, convergence).",
                             0.1, 1e6),
    },
    "network": {
        "connections": _f(int, 4, "Peers each node dials (the connection graph is their union; "
                          "sync and lazy gossip use it).", 1, 1000),
        "latency_dist": _f(str, "lognormal", "One-way latency distribution of a link.",
                           choices=("constant", "uniform", "exponential", "lognormal", "pareto")),
        "latency_ms": _f(float, 50.0, "Median (lognormal), mean (exponential), value "
                         "(constant), scale (pareto) or midpoint (uniform) of latency.", 0.0, 1e6),
        "latency_sigma": _f(float, 0.5, "lognormal: sigma of ln(latency).", 0.0, 5.0),
        "latency_spread_ms": _f(float, 20.0, "uniform: half-width around latency_ms.", 0.0, 1e6),
        "latency_alpha": _f(float, 2.5, "pareto: shape alpha (> 1 for a finite mean).", 1.01, 100),
        "link_spread": _f(float, 0.3, "Per-link factor on latency: exp(N(0, link_spread)), drawn "
                          "once per link (some links are slower than others).", 0.0, 3.0),
        "loss": _f(float, 0.0, "Probability a message is lost.", 0.0, 1.0),
        "duplicate": _f(float, 0.0, "Probability a message is delivered twice.", 0.0, 1.0),
        "reorder": _f(float, 0.0, "Probability a message is held back by reorder_delay_ms "
                      "(so later messages overtake it).", 0.0, 1.0),
        "reorder_delay_ms": _f(float, 200.0, "Extra delay of a reordered message.", 0.0, 1e6),
        "bandwidth_bytes_per_s": _f(float, 0.0, "Uplink of each node; messages queue behind "
                                    "each other (0 = unlimited).", 0.0, 1e12),
        "message_overhead_bytes": _f(int, 64, "Framing/transport bytes added to every message "
                                     "in the byte counts and the bandwidth model.", 0, 65536),
    },
    "dissemination": {
        "model": _f(str, "gossipsub", "gossipsub mesh, or classic rumor spreading on the "
                    "complete graph (push, pull, push-pull), or none (sync only).",
                    choices=("gossipsub", "push", "pull", "push-pull", "none")),
        "mesh_degree": _f(int, 6, "gossipsub D: mesh peers each node picks (links are "
                          "symmetric, so degrees are about 2D at most).", 1, 1000),
        "lazy_degree": _f(int, 6, "gossipsub D_lazy: non-mesh peers sent IHAVE per heartbeat "
                          "(0 = no lazy gossip).", 0, 1000),
        "heartbeat_s": _f(float, 1.0, "gossipsub heartbeat (lazy gossip) period.", 0.01, 1e5),
        "history_heartbeats": _f(int, 3, "gossipsub mcache: heartbeats a message is "
                                 "advertised in IHAVE and served to IWANT.", 1, 1000),
        "round_s": _f(float, 1.0, "push/pull: round length (all nodes act at k*round_s).",
                      0.001, 1e5),
        "rumor_rounds": _f(int, 0, "push/pull: rounds a node keeps spreading a rumor "
                           "(0 = until the run ends).", 0, 100000),
    },
    "core": {
        "sync": _f(bool, True, "Tell cores about their connections (peer_up), which starts "
                   "the core's anti-entropy sync."),
        "sync_interval_s": _f(float, 5.0, "CoreParams.sync_interval_s.", 0.01, 1e7),
        "request_retry_s": _f(float, 3.0, "CoreParams.request_retry_s.", 0.01, 1e7),
        "pending_ttl_s": _f(float, 300.0, "CoreParams.pending_ttl_s.", 0.01, 1e7),
        "pending_max": _f(int, 10_000, "CoreParams.pending_max.", 1, 10**7),
    },
    "workload": {
        "promise_rate_per_s": _f(float, 1 / 60, "Promises per agent per second (Poisson).",
                                 0.0, 1e4),
        "due_s": _f(float, 60.0, "A promise is due this long after it is made.", 1.0, 1e7),
        "fulfil_min_frac": _f(float, 0.1, "A kept promise is fulfilled at a uniform fraction "
                              "of due_s in [min, max].", 0.0, 1.0),
        "fulfil_max_frac": _f(float, 0.8, "See fulfil_min_frac.", 0.0, 1.0),
        "assess_prob": _f(float, 0.1, "Probability an agent assesses a promise it received, "
                          "assess_delay_s after it is due.", 0.0, 1.0),
        "assess_delay_s": _f(float, 10.0, "See assess_prob.", 0.0, 1e7),
        "deps_max": _f(int, 2, "A new promise builds on (deps) up to this many of the "
                       "latest tokens the agent accepted from others.", 0, 64),
        "start_s": _f(float, 1.0, "The workload starts then.", 0.0, 1e7),
        "stop_s": _f(float, 0.0, "No new promises after this (0 = duration_s / 2); leaves "
                     "time for the network to converge.", 0.0, 1e7),
        "payload_bytes": _f(int, 32, "Size of the free text in a promise body.", 0, 100_000),
    },
    "agents": {
        "behaviour": _f(str, "honest", "Behaviour of the group (sim/behaviours.py).",
                        choices=tuple(sorted(BEHAVIOURS)), required=True),
        "count": _f(int, 1, "Nodes in the group.", 1, 10**6, required=True),
        "name": _f(str, "", "Group name (defaults to the behaviour)."),
    },
    "faults.partitions": {
        "at_s": _f(float, 0.0, "The partition starts.", 0.0, 1e7, required=True),
        "heal_s": _f(float, 0.0, "The partition heals.", 0.0, 1e7, required=True),
        "parts": _f(int, 2, "Number of sides; nodes are assigned uniformly at random.", 2, 1000),
    },
    "faults.churn": {
        "crash_rate_per_s": _f(float, 0.0, "Crashes per node per second (Poisson).", 0.0, 1e3),
        "down_min_s": _f(float, 5.0, "A crashed node restarts after U(down_min_s, down_max_s).",
                         0.0, 1e7),
        "down_max_s": _f(float, 30.0, "See down_min_s.", 0.0, 1e7),
        "start_s": _f(float, 0.0, "Crashes happen from then...", 0.0, 1e7),
        "stop_s": _f(float, 0.0, "...until then (0 = the workload's stop_s).", 0.0, 1e7),
        "cut_prob": _f(float, 0.5, "Probability a crash strikes in the middle of a node's "
                       "output list (later outputs are lost, earlier Persists survive).",
                       0.0, 1.0),
        "max_down_frac": _f(float, 0.3, "A crash is skipped while this share of nodes is down.",
                            0.0, 1.0),
    },
    "faults.crashes": {
        "at_s": _f(float, 0.0, "When.", 0.0, 1e7, required=True),
        "node": _f(int, 0, "Node index (0-based, in [[agents]] order).", 0, 10**7,
                   required=True),
        "down_s": _f(float, 10.0, "How long it stays down.", 0.0, 1e7),
        "cut": _f(bool, False, "Strike in the middle of the node's next output list."),
    },
    "faults.clock": {
        "skew_max_s": _f(float, 0.0, "Each node's clock offset ~ U(-max, max).", 0.0, 1e6),
        "drift_max_ppm": _f(float, 0.0, "Each node's clock rate error ~ U(-max, max) ppm.",
                            0.0, 1e5),
    },
    "checks": {
        "converge_within_s": _f(float, 120.0, "After the last heal/restart/token, faithful "
                                "live nodes must hold the same token set within this.",
                                0.0, 1e7),
        "driver_order": _f(str, "persist-first", "How the simulator executes a core's output "
                           "list. network-first is a deliberate bug (sends before persisting) "
                           "that the checkers must catch.",
                           choices=("persist-first", "network-first")),
    },
    "metrics": {
        "observers": _f(int, 8, "Honest nodes whose own trust observer is read for verdict, "
                        "trust and consensus metrics (others run without one).", 0, 10_000),
        "consensus_track_max": _f(int, 100, "Honest promises followed for consensus settle "
                                  "time.", 0, 100_000),
        "trust_every_s": _f(float, 0.0, "Also compute trust metrics at this period "
                            "(0 = only at the end).", 0.0, 1e7),
    },
    # Optional: without a [vote] table a scenario runs no vote (sim/vote.py).
    "vote": {
        "members": _f(list, [], "[[agents]] group names whose nodes are the charter's founding "
                      "members. Member groups of behaviour equivocator are the equivocating "
                      "voters (two ballots at one seq, by a lost write).", required=True),
        "stuffers": _f(list, [], "Groups of non-members that vote anyway (ballot stuffing)."),
        "proposals": _f(int, 1, "Proposals the proposer (the first honest member) makes under "
                        "the current view at propose_at_s.", 1, 64),
        "method": _f(str, "single", "Counting method of every proposal.",
                     choices=("single", "approval", "ranked")),
        "options": _f(list, ["yes", "no"], "Options of every proposal (2..64 distinct names)."),
        "charter_at_s": _f(float, 1.0, "The proposer issues the charter.", 0.0, 1e7),
        "propose_at_s": _f(float, 10.0, "The proposer makes the proposals.", 0.0, 1e7),
        "closes_after_s": _f(float, 120.0, "A proposal closes this long after it is made "
                             "(on the proposer's clock).", 1.0, 1e7),
        "vote_window_s": _f(float, 60.0, "Members vote at uniform times in (propose_at_s, "
                            "propose_at_s + vote_window_s]; re-votes later in that window.",
                            0.001, 1e7),
        "yes_prob": _f(float, 0.6, "Probability a member's first ballot puts the first option "
                       "first (single: picks it; approval: approves it; ranked: ranks it "
                       "first).", 0.0, 1.0),
        "revote_prob": _f(float, 0.2, "Probability a member changes its mind: a second on-time "
                          "ballot with another choice supersedes the first.", 0.0, 1.0),
        "late_prob": _f(float, 0.1, "Probability a member also votes late (another choice, "
                        "late_after_s after closes + skew allowance): kept, never counted.",
                        0.0, 1.0),
        "late_after_s": _f(float, 10.0, "See late_prob.", 1.0, 1e6),
        "equivocate_at_s": _f(float, 0.0, "When the equivocating voters sign their two ballots "
                              "(0 = a uniform time in the voting window); not during a "
                              "partition.", 0.0, 1e7),
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkConfig:
    connections: int
    latency_dist: str
    latency_ms: float
    latency_sigma: float
    latency_spread_ms: float
    latency_alpha: float
    link_spread: float
    loss: float
    duplicate: float
    reorder: float
    reorder_delay_ms: float
    bandwidth_bytes_per_s: float
    message_overhead_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DisseminationConfig:
    model: str
    mesh_degree: int
    lazy_degree: int
    heartbeat_s: float
    history_heartbeats: int
    round_s: float
    rumor_rounds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreConfig:
    sync: bool
    sync_interval_s: float
    request_retry_s: float
    pending_ttl_s: float
    pending_max: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadConfig:
    promise_rate_per_s: float
    due_s: float
    fulfil_min_frac: float
    fulfil_max_frac: float
    assess_prob: float
    assess_delay_s: float
    deps_max: int
    start_s: float
    stop_s: float
    payload_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentGroup:
    behaviour: str
    count: int
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionConfig:
    at_s: float
    heal_s: float
    parts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChurnConfig:
    crash_rate_per_s: float
    down_min_s: float
    down_max_s: float
    start_s: float
    stop_s: float
    cut_prob: float
    max_down_frac: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CrashConfig:
    at_s: float
    node: int
    down_s: float
    cut: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockConfig:
    skew_max_s: float
    drift_max_ppm: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ChecksConfig:
    converge_within_s: float
    driver_order: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    observers: int
    consensus_track_max: int
    trust_every_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteConfig:
    members: tuple[str, ...]
    stuffers: tuple[str, ...]
    proposals: int
    method: str
    options: tuple[str, ...]
    charter_at_s: float
    propose_at_s: float
    closes_after_s: float
    vote_window_s: float
    yes_prob: float
    revote_prob: float
    late_prob: float
    late_after_s: float
    equivocate_at_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    description: str
    seed: int
    duration_s: float
    sample_every_s: float
    network: NetworkConfig
    dissemination: DisseminationConfig
    core: CoreConfig
    workload: WorkloadConfig
    agents: tuple[AgentGroup, ...]
    partitions: tuple[PartitionConfig, ...]
    churn: ChurnConfig
    crashes: tuple[CrashConfig, ...]
    clock: ClockConfig
    checks: ChecksConfig
    metrics: MetricsConfig
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    vote: VoteConfig | None = None

    @property
    def nodes(self) -> int:
        return sum(g.count for g in self.agents)

    @property
    def workload_stop_s(self) -> float:
        return self.workload.stop_s or self.duration_s / 2

    @property
    def churn_stop_s(self) -> float:
        return self.churn.stop_s or self.workload_stop_s


_TOP = {"scenario", "network", "dissemination", "core", "workload", "agents", "faults",
        "checks", "metrics", "vote"}
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
        vote=_vote(data.get("vote"), where, groups, tuple(parts), sc["duration_s"]))
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


def describe_fields() -> str:
    """A plain-text reference of every field (for `troth sim fields` and docs)."""
    lines: list[str] = []
    for section, specs in FIELDS.items():
        head = f"[[{section}]]" if section in ("agents", "faults.partitions",
                                                "faults.crashes") else f"[{section}]"
        lines.append(head)
        for k, s in specs.items():
            rng = ""
            if s.choices:
                rng = " one of " + "|".join(s.choices)
            elif s.lo is not None:
                rng = f" in [{s.lo:g}, {s.hi:g}]"
            req = " (required)" if s.required else f" = {s.default!r}"
            lines.append(f"  {k}: {s.type.__name__}{req}{rng}  {s.doc}")
        lines.append("")
    lines.append("[[agents]] behaviour parameters:")
    for name in sorted(BEHAVIOURS):
        b = BEHAVIOURS[name]
        lines.append(f"  {name}: {b.doc}")
        for k, s in b.params.items():
            lines.append(f"    {k}: {s.type.__name__} = {s.default!r}  {s.doc}")
    return "\n".join(lines)
