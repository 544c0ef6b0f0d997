"""Metrics of a run: time series while it runs, a summary at the end.

Theory of operation: `sample(world, t)` appends one row of the time series
(every `scenario.sample_every_s`) and, for the observer nodes, follows the
consensus on tracked promises; `summarize(world)` turns the world's counters
into the flat dict written to metrics.json. Definitions (docs/sim.md):

- dissemination latency: for every (token, node) pair, the virtual time from
  the token's issue to its first acceptance by the node's core; percentiles
  over all pairs. Delivery ratio: accepted pairs / (tokens x faithful nodes).
- messages and bytes per node: what each node's network layer sent, overhead
  included; mean, p50, p99, max over nodes.
- verdict agreement: over promises past due, the share of observer pairs that
  hold the same verdict state; verdict accuracy: share of decided verdicts
  that match the ground truth (`Recorder.truth`), over all observers and per
  observer (mean, min).
- trust separation: AUC (Mann-Whitney) of the trust expectation observers
  give honest vs malicious agents; 1 = perfectly separated, 0.5 = chance.
  `referral_auc` is the same for referral trust (trust as an assessor);
  `false_fulfiller_auc` takes only false fulfillers as the negatives.
- consensus settle time: from a tracked honest promise's issue until an
  observer's `consensus(SeqKey)` on it is `settled` with it as leader.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from trust import SeqKey

if TYPE_CHECKING:
    from .checks import Checker
    from .recorder import Recorder
    from .scenario import Scenario
    from .simnode import SimNode


class VoteView(Protocol):
    """What the metrics ask of a run's vote (sim/vote.py's VotePlay)."""

    def sample(self, t: float) -> None: ...

    def metrics(self, t: float) -> dict[str, Any]: ...


class SlotsView(Protocol):
    """What the metrics ask of a run's slot workload (sim/slots.py's SlotPlay)."""

    def sample(self, t: float) -> None: ...

    def metrics(self) -> dict[str, Any]: ...


class RunView(Protocol):
    """What the metrics read of a run (sim/world.py's World): its nodes, its
    record, its checker, its scenario and where its loop stands."""

    @property
    def sc(self) -> Scenario: ...

    @property
    def nodes(self) -> list[SimNode]: ...

    @property
    def record(self) -> Recorder: ...

    @property
    def checker(self) -> Checker: ...

    @property
    def vote(self) -> VoteView | None: ...

    @property
    def slots(self) -> SlotsView | None: ...

    @property
    def events(self) -> int: ...

    @property
    def now(self) -> float: ...

__all__ = ["sample", "summarize", "percentile", "auc", "trust_metrics"]

# Promises / agents evaluated by the trust metrics at most (first by cid order):
# bounds the cost of a sample at 10,000 nodes.
EVAL_PROMISES_MAX = 2000
EVAL_AGENTS_MAX = 2000


def percentile(sorted_xs: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted data (nan if empty)."""
    if not sorted_xs:
        return math.nan
    k = max(0, min(len(sorted_xs) - 1, math.ceil(q / 100 * len(sorted_xs)) - 1))
    return sorted_xs[k]


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a positive scores above a negative), ties count one half (Mann-Whitney U)."""
    if not pos or not neg:
        return math.nan
    ranked = sorted([(x, 1) for x in pos] + [(x, 0) for x in neg])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg = (i + j + 1) / 2  # 1-based average rank of the tie group
        rank_sum += avg * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    u = rank_sum - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


def _observers(world: RunView) -> list[Any]:
    return [n for n in world.nodes if n.observes and n.up and n.core is not None]


def sample(world: RunView, t: float) -> None:
    nodes = world.nodes
    faithful = [n for n in nodes if n.behaviour.faithful and n.up and n.core is not None]
    issued = len(world.record.issue_t)
    held = sum(len(n.core.tokens) for n in faithful if n.core is not None)
    row = {
        "t_s": t,
        "issued": float(issued),
        "held_frac": (held / (issued * len(faithful))) if issued and faithful else 1.0,
        "converged": 1.0 if world.checker.converged() else 0.0,
        "up_nodes": float(sum(1 for n in nodes if n.up)),
        "msgs_out": float(sum(n.msgs_out for n in nodes)),
        "bytes_out": float(sum(n.bytes_out for n in nodes)),
        "pending": float(sum(n.core.pending_count() for n in faithful if n.core is not None)),
        "events": float(world.events),
    }
    world.record.timeline.append(row)
    _follow_consensus(world, t)
    if world.vote is not None:
        world.vote.sample(t)
    if world.slots is not None:
        world.slots.sample(t)
    every = world.sc.metrics.trust_every_s
    if every > 0 and t > 0 and len(world.record.trust_samples) < t / every:
        m = trust_metrics(world, t)
        m["t_s"] = t
        world.record.trust_samples.append(m)


def _follow_consensus(world: RunView, t: float) -> None:
    if not world.record.tracked:
        return
    for node in _observers(world):
        assert node.core is not None
        obs = node.core.observer
        local = node.local(t)
        for cid in world.record.tracked:
            key = (node.index, cid)
            if key in world.record.settle or cid not in node.core.tokens:
                continue
            tok = node.core.tokens[cid]
            c = obs.consensus(SeqKey(tok.issuer, tok.seq), local)
            if c.state == "settled" and c.leader == cid:
                world.record.settle[key] = t - world.record.issue_t[cid]


TRUST_KEYS = ("verdict_agreement", "verdict_accuracy", "verdict_accuracy_mean",
              "verdict_accuracy_min", "verdicts_decided_frac", "trust_auc", "referral_auc",
              "trust_honest_mean", "trust_malicious_mean", "false_fulfiller_auc")


def trust_metrics(world: RunView, t: float) -> dict[str, float]:
    """Verdict agreement/accuracy and trust AUC over the observer nodes at time t."""
    obs_nodes = _observers(world)
    out: dict[str, float] = {"observers": float(len(obs_nodes))}
    if not obs_nodes:  # the same keys in every run (a sweep's table has one set of columns)
        out.update(dict.fromkeys(TRUST_KEYS, math.nan))
        return out
    wl = world.sc.workload
    # Promises surely past due (plus the observer's skew allowance) everywhere.
    settled_before = t - wl.due_s - 60.0 - world.sc.clock.skew_max_s
    # Promises with a ground truth: a slot claim or a build on one has none.
    truth = world.record.truth
    promises = sorted(c for c in truth if world.record.issue_t[c] < settled_before)
    promises = promises[:EVAL_PROMISES_MAX]
    agree = pairs = correct = decided = 0
    right = [0] * len(obs_nodes)  # per observer: decided verdicts that match the truth
    judged = [0] * len(obs_nodes)
    for cid in promises:
        states = []
        for k, node in enumerate(obs_nodes):
            assert node.core is not None
            if cid not in node.core.tokens:
                continue
            v = node.core.observer.verdict(cid, node.local(t))
            states.append(v.state)
            if v.state != "pending":
                hit = (v.state == "kept") == truth[cid]
                decided += 1
                correct += hit
                judged[k] += 1
                right[k] += hit
        for a in range(len(states)):
            for b in range(a + 1, len(states)):
                pairs += 1
                agree += states[a] == states[b]
    out["verdict_agreement"] = agree / pairs if pairs else math.nan
    out["verdict_accuracy"] = correct / decided if decided else math.nan
    accs = [r / j for r, j in zip(right, judged, strict=True) if j]
    out["verdict_accuracy_mean"] = sum(accs) / len(accs) if accs else math.nan
    out["verdict_accuracy_min"] = min(accs) if accs else math.nan
    out["verdicts_decided_frac"] = (decided / (len(promises) * len(obs_nodes))
                                    if promises else math.nan)
    labelled = [n for n in world.nodes if n.behaviour.label in ("honest", "malicious")]
    labelled = labelled[:EVAL_AGENTS_MAX]
    aucs = []
    ref_aucs = []
    ff_aucs = []  # honest vs false fulfillers only
    hon_e: list[float] = []
    mal_e: list[float] = []
    for node in obs_nodes:
        assert node.core is not None
        pos: list[float] = []
        neg: list[float] = []
        ff: list[float] = []
        rpos: list[float] = []
        rneg: list[float] = []
        local = node.local(t)
        obs = node.core.observer
        for other in labelled:
            if other is node:
                continue
            honest = other.behaviour.label == "honest"
            e = obs.trust(other.agent, local).expectation
            (pos if honest else neg).append(e)
            if other.behaviour.name == "false_fulfiller":
                ff.append(e)
            (rpos if honest else rneg).append(obs.referral(other.agent, local).expectation)
        r = auc(rpos, rneg)
        if not math.isnan(r):
            ref_aucs.append(r)
        hon_e += pos
        mal_e += neg
        sep = auc(pos, neg)
        if not math.isnan(sep):
            aucs.append(sep)
        sep = auc(pos, ff)
        if not math.isnan(sep):
            ff_aucs.append(sep)
    out["trust_auc"] = sum(aucs) / len(aucs) if aucs else math.nan
    out["referral_auc"] = sum(ref_aucs) / len(ref_aucs) if ref_aucs else math.nan
    out["trust_honest_mean"] = sum(hon_e) / len(hon_e) if hon_e else math.nan
    out["trust_malicious_mean"] = sum(mal_e) / len(mal_e) if mal_e else math.nan
    out["false_fulfiller_auc"] = sum(ff_aucs) / len(ff_aucs) if ff_aucs else math.nan
    return out


def _dist(xs: list[float], prefix: str) -> dict[str, float]:
    xs = sorted(xs)
    return {f"{prefix}_mean": (sum(xs) / len(xs)) if xs else math.nan,
            f"{prefix}_p50": percentile(xs, 50), f"{prefix}_p99": percentile(xs, 99),
            f"{prefix}_max": xs[-1] if xs else math.nan}


def summarize(world: RunView) -> dict[str, Any]:
    """The flat metrics of a finished run (JSON-ready; nan where undefined)."""
    nodes = world.nodes
    lat = sorted(world.record.latencies)
    faithful = [n for n in nodes if n.behaviour.faithful]
    fidx = [n.index for n in faithful]
    pairs = sum(1 for bm in world.record.delivered.values() for i in fidx if bm[i])
    m: dict[str, Any] = {
        "nodes": len(nodes),
        "tokens_issued": len(world.record.issue_t),
        "promises": sum(1 for k in world.record.kind_of.values() if k == "promise"),
        "delivery_ratio": pairs / (len(world.record.delivered) * len(fidx))
        if world.record.delivered and fidx else math.nan,
        "latency_p50_s": percentile(lat, 50), "latency_p90_s": percentile(lat, 90),
        "latency_p99_s": percentile(lat, 99), "latency_max_s": lat[-1] if lat else math.nan,
        "events": world.events,
        "virtual_s": world.now,
    }
    m.update(_dist([float(n.msgs_out) for n in nodes], "msgs_per_node"))
    m.update(_dist([float(n.bytes_out) for n in nodes], "bytes_per_node"))
    m["bytes_total"] = sum(n.bytes_out for n in nodes)
    m["msgs_total"] = sum(n.msgs_out for n in nodes)
    conv = world.record.converged_at
    if conv is not None and conv < world.record.last_disruption_s:
        conv = None  # converged once, but not since the last disruption (a stopped run)
    m["converged"] = conv is not None and world.checker.converged()
    m["converge_after_last_disruption_s"] = (conv - world.record.last_disruption_s
                                             if conv is not None else math.nan)
    m["last_disruption_s"] = world.record.last_disruption_s
    m["converge_bound_s"] = world.sc.checks.converge_within_s
    m["convergence_checked"] = (world.now - world.record.last_disruption_s
                                >= world.sc.checks.converge_within_s)
    heal, healed = world.record.last_heal_s, world.record.converged_after_heal_at
    m["last_heal_s"] = heal if heal is not None else math.nan
    m["converge_after_heal_s"] = (healed - heal if heal is not None and healed is not None
                                  else math.nan)
    m.update(trust_metrics(world, world.now))
    settle = sorted(world.record.settle.values())
    obs = sum(1 for n in nodes if n.observes)
    m["consensus_tracked"] = len(world.record.tracked)
    m["consensus_settled_frac"] = (len(settle) / (len(world.record.tracked) * obs)
                                   if world.record.tracked and obs else math.nan)
    m["consensus_settle_p50_s"] = percentile(settle, 50)
    m["consensus_settle_p90_s"] = percentile(settle, 90)
    for k, v in sorted(world.record.counts.items()):
        m[f"count_{k}"] = v
    if world.vote is not None:
        m.update(world.vote.metrics(world.now))
    if world.slots is not None:
        m.update(world.slots.metrics())
    return m
