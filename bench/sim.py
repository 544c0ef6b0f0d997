"""Simulator benchmarks. Run: .venv/bin/python -m bench.sim [throughput|scale].

throughput: 1,000 nodes, 10,000 tokens, every token to every node over a
gossipsub mesh (no loss, no sync, no lazy gossip): token deliveries (a core
accepting a token) per second of wall time. Baselines measured in the same
run (each the best of three, collector off): a bare heapq loop doing the
run's own pushes and pops, and one doing one push and pop per delivery (the
least any event-driven simulator delivering every token to every node must
do). Peak RSS.

scale: the `baseline` scenario rescaled to 10,000 nodes, with the workload
thinned (`--rate` promises per second across the network until `--stop`, about
`--assessments` assessments) so the run is about the network, not about a
billion deliveries: wall time, peak RSS and RSS per node (the 100,000-node
run: `scale --nodes 100000 --rate 5 --stop 2 --assessments 10
--sync-interval 20`). Throughput also gives its heap-loop share in CPU time,
which a shared machine's load moves less than wall time. Each prints its
headline figure last as `name: value`.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim import load_scenario  # noqa: E402
from sim.world import World  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_heap(pushes: int, repeat: int = 3) -> tuple[float, float]:
    """(wall, CPU) seconds for `pushes` heappush + heappop of event-shaped
    tuples: the best of `repeat` runs, with the collector off as the
    simulator's loop runs (the baseline is short, so one slow moment of a
    shared machine would move it; the best is the conservative baseline)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        runs = [_bare_heap_once(pushes) for _ in range(repeat)]
    finally:
        if was_enabled:
            gc.enable()
    return min(w for w, _c in runs), min(c for _w, c in runs)


def _bare_heap_once(pushes: int) -> tuple[float, float]:
    h: list[tuple[float, int, int, int, object, object]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    seq = 0
    t = 0.0
    # Keep the heap about as full as the simulator's by interleaving.
    for _ in range(pushes):
        seq += 1
        heapq.heappush(h, (t + (seq * 7919 % 1000) * 1e-3, seq, 0, seq % 1000, None, None))
        if len(h) > 5000:
            t = heapq.heappop(h)[0]
    while h:
        heapq.heappop(h)
    return time.perf_counter() - t0, time.process_time() - c0


def throughput(nodes: int, tokens: int, mesh: int) -> None:
    sc = load_scenario("baseline", [
        ("dissemination.lazy_degree", 0), ("dissemination.mesh_degree", mesh),
        ("core.sync", False), ("network.loss", 0.0), ("network.duplicate", 0.0),
        ("network.reorder", 0.0), ("workload.promise_rate_per_s", 0.0),
        ("workload.assess_prob", 0.0), ("workload.deps_max", 0), ("agents.0.keep_prob", 0.0),
        ("metrics.observers", 0), ("metrics.consensus_track_max", 0),
        ("scenario.sample_every_s", 1000.0), ("scenario.duration_s", 4000.0),
        ("workload.stop_s", 2000.0), ("checks.converge_within_s", 1000.0)], nodes=nodes)
    w = World(sc, 1)
    for k in range(tokens):
        w.schedule_promise(k % nodes, 1.0 + k * 0.1)
    t0, c0 = time.perf_counter(), time.process_time()
    res = w.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    deliveries = len(w.record.latencies)
    pushes = w.loop.scheduled
    heap_same_s, _ = bare_heap(pushes)
    heap_per_delivery_s, heap_per_delivery_cpu = bare_heap(deliveries)
    rate = deliveries / wall
    print(f"nodes {nodes}, tokens {len(w.record.issue_t)}, mesh D={mesh}")
    print(f"deliveries {deliveries:,} (expected {nodes * tokens:,}), events {res.events:,} "
          f"({res.events / max(1, deliveries):.2f} per delivery), heap pushes {pushes:,}")
    print(f"wall {wall:.1f} s; bare heap loop with the same pushes/pops {heap_same_s:.1f} s "
          f"(simulator/heap time ratio {wall / heap_same_s:.1f}x)")
    print(f"bare heap loop with one push/pop per delivery {heap_per_delivery_s:.1f} s = "
          f"{deliveries / heap_per_delivery_s:,.0f}/s: the simulator's deliveries/s are "
          f"{rate / (deliveries / heap_per_delivery_s):.3f} of that")
    # On a shared machine CPU time moves less with the load than wall time does.
    print(f"the same in CPU time: simulator {cpu:.1f} s, heap loop {heap_per_delivery_cpu:.1f} s: "
          f"{heap_per_delivery_cpu / cpu:.3f}")
    print(f"violation: {res.violation}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    print(f"sim_deliveries_per_s: {rate:,.0f}")


def scale(nodes: int, sync_interval_s: float, rate: float, stop_s: float,
          assessments: float) -> None:
    """`rate` promises per second across the whole network until `stop_s`; about
    `assessments` assessments in all (each node that receives a promise assesses
    it with a probability scaled to that); then as long again for sync to settle."""
    promises = rate * stop_s
    sc = load_scenario("baseline", [
        ("core.sync_interval_s", sync_interval_s),
        ("workload.promise_rate_per_s", rate / nodes),
        ("workload.assess_prob", min(1.0, assessments / max(1.0, promises * nodes))),
        ("workload.stop_s", stop_s),
        ("scenario.duration_s", 2 * stop_s + 100.0), ("scenario.sample_every_s", 20.0),
        ("metrics.observers", 4), ("metrics.consensus_track_max", 20),
        ("checks.converge_within_s", 150.0)], nodes=nodes)
    t0 = time.perf_counter()
    before_mib = peak_rss_mib()  # the interpreter and the imports
    w = World(sc, 1, progress=_progress(t0))
    print(f"world built in {time.perf_counter() - t0:.1f} s: RSS {peak_rss_mib():.0f} MiB, "
          f"{(peak_rss_mib() - before_mib) * 1024 / nodes:.1f} KiB per node", flush=True)
    res = w.run()
    wall = time.perf_counter() - t0
    print(f"baseline at {nodes} nodes: {len(w.record.issue_t)} tokens, {res.events:,} events, "
          f"{len(w.record.latencies):,} deliveries, virtual {res.end_s:.0f} s, violation "
          f"{res.violation}")
    print(f"wall {wall:.1f} s ({res.events / wall:,.0f} events/s)")
    print(f"digest {res.digest}")
    seen_bytes = sum(sys.getsizeof(x.seen.window) + sys.getsizeof(x.seen.gaps)
                     + 28 * len(x.seen.gaps) for x in w.nodes)  # (28: an int's size)
    print(f"seen caches at the end: {seen_bytes / nodes:.0f} bytes per node")
    print(f"peak RSS per node: {(peak_rss_mib() - before_mib) * 1024 / nodes:.1f} KiB "
          f"(beyond the {before_mib:.0f} MiB before the world was built)")
    print(f"sim_scale_peak_rss_mib: {peak_rss_mib():.0f}")
    print(f"sim_scale_wall_s: {wall:.1f}")


def _progress(t0: float) -> Callable[[float, int], None]:
    last = [t0]

    def report(t: float, events: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 60.0:
            last[0] = now
            print(f"  ... virtual {t:.0f} s, {events:,} events, wall {now - t0:.0f} s, "
                  f"RSS {peak_rss_mib():.0f} MiB", file=sys.stderr, flush=True)
    return report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="?", default="throughput", choices=["throughput", "scale"])
    ap.add_argument("--nodes", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=10_000)
    ap.add_argument("--mesh", type=int, default=3)
    ap.add_argument("--sync-interval", type=float, default=5.0,
                    help="scale: seconds between a node's anti-entropy rounds (at 10,000 "
                         "nodes the 5 s default dominates the run's cost)")
    ap.add_argument("--rate", type=float, default=5.0,
                    help="scale: promises per second across the whole network")
    ap.add_argument("--stop", type=float, default=200.0,
                    help="scale: virtual second the workload stops (the run lasts 2x+100)")
    ap.add_argument("--assessments", type=float, default=400.0,
                    help="scale: about how many assessments in all")
    a = ap.parse_args()
    if a.which == "throughput":
        throughput(a.nodes or 1000, a.tokens, a.mesh)
    else:
        scale(a.nodes or 10_000, a.sync_interval, a.rate, a.stop, a.assessments)


if __name__ == "__main__":
    main()
