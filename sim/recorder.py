"""The metrics state of a run: what happened, for sim/metrics.py to read.

Theory of operation. The world's components report to one `Recorder`: the
network, routers and faults bump `counts` (a plain dict, handed to the hot
paths as is); the world reports each token issued (`issued`) and each
acceptance by a core (`accepted`), from which dissemination latency, reach and
full-coverage times follow; the agents record the ground truth of promises
(`truth`) and which honest promises to follow for consensus (`tracked`); the
checker keeps the convergence record (`converged_at` and what it is measured
from). sim/metrics.py appends the time series (`timeline`, `trust_samples`,
`settle`) and summarises. Nothing here draws randomness or changes a node.
"""

from __future__ import annotations

from array import array

__all__ = ["Recorder", "COUNTS"]

# Every counter of a run, in the order metrics.json lists them (sorted there).
COUNTS = ("lost", "partition_dropped", "duplicated", "reordered", "gossip_duplicates",
          "invalid_gossip", "token_rejected", "frame_rejected", "forged_sent",
          "equivocations_detected", "down_dropped", "crashes", "restarts", "cuts", "ihave",
          "iwant", "pulls")


class Recorder:
    """Counters, per-token delivery records, time series and the convergence record."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        self.issue_t: dict[str, float] = {}
        self.kind_of: dict[str, str] = {}
        # promise cid -> kept: the behaviour's decision, apart from any token
        self.truth: dict[str, bool] = {}
        self.delivered: dict[str, bytearray] = {}  # cid -> per node, 1 once accepted
        self.latencies = array("d")
        self.reach: dict[str, int] = {}  # nodes that accepted each token
        self.full_at: dict[str, float] = {}  # when the last node accepted it
        self.tracked: list[str] = []  # honest promises followed for consensus settle time
        self.settle: dict[tuple[int, str], float] = {}
        self.timeline: list[dict[str, float]] = []
        self.trust_samples: list[dict[str, float]] = []
        self.counts: dict[str, int] = dict.fromkeys(COUNTS, 0)
        # The convergence record (sim/checks.py keeps it; sim/metrics.py reports it).
        self.last_disruption_s = 0.0
        self.converged_at: float | None = None
        self.partitioned = False
        self.last_heal_s: float | None = None  # the last partition heal
        self.converged_after_heal_at: float | None = None  # first converged sample after it

    def issued(self, cid: str, kind: str, t: float) -> None:
        """A token was made (and is durable): an issue is a disruption."""
        self.issue_t[cid] = t
        self.kind_of[cid] = kind
        self.delivered[cid] = bytearray(self.nodes)
        self.last_disruption_s = t

    def accepted(self, node: int, cid: str, t: float) -> None:
        """`node`'s core accepted `cid`: its first acceptance there counts."""
        bm = self.delivered.get(cid)
        if bm is not None and not bm[node]:
            bm[node] = 1
            self.latencies.append(t - self.issue_t[cid])
            k = self.reach[cid] = self.reach.get(cid, 0) + 1
            if k == self.nodes:
                self.full_at[cid] = t
