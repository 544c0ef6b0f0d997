"""A scenario: the frozen, validated description of one simulated world.

Theory of operation: a `Scenario` is a tree of frozen dataclasses, one per
TOML table of a scenario file (docs/sim.md, "Scenario reference"), built only
by sim/scenario_file.py, which validates every field against its declaration
in sim/fields.py. Everything the world does is a function of a Scenario and a
master seed; nothing here reads a file or draws randomness.

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
    [slots]           (optional) competing claims on slots (sim/slots.py)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Scenario", "NetworkConfig", "DisseminationConfig", "CoreConfig", "WorkloadConfig",
    "AgentGroup", "PartitionConfig", "ChurnConfig", "CrashConfig", "ClockConfig",
    "ChecksConfig", "MetricsConfig", "VoteConfig", "SlotsConfig",
]


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
    promisee_assess_prob: float


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
class SlotsConfig:
    every_s: float
    start_s: float
    stop_s: float
    claimants: int
    spread_s: float
    build_delay_s: float


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
    slots: SlotsConfig | None = None

    @property
    def nodes(self) -> int:
        return sum(g.count for g in self.agents)

    @property
    def workload_stop_s(self) -> float:
        return self.workload.stop_s or self.duration_s / 2

    @property
    def churn_stop_s(self) -> float:
        return self.churn.stop_s or self.workload_stop_s
