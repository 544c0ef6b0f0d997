"""The gossip router counts sure duplicates at send time, and a crash puts the
ones still in flight back on the heap (sim/network.py, `Network.gossip_copy`)."""

from __future__ import annotations

import pytest

from sim import load_scenario, run_one
from sim.events import Gossip
from sim.network import Network
from sim.simnode import SimNode
from sim.world import World


def _world(crashes: bool) -> World:
    over: list[tuple[str, object]] = [("network.loss", 0.0), ("network.duplicate", 0.0),
                                      ("network.reorder", 0.0)]
    if crashes:
        over.append(("faults.churn.crash_rate_per_s", 0.001))
    return World(load_scenario("churn" if crashes else "baseline", over, nodes=6), 1)


def _msgs_in_heap(w: World, dst: int) -> list[tuple[float, int]]:
    return sorted((t, ev.mid) for t, ev in w.loop.pending()
                  if isinstance(ev, Gossip) and ev.dst == dst)


def test_a_copy_to_a_node_that_saw_it_is_counted_not_scheduled() -> None:
    w = _world(crashes=False)
    src, dst = w.nodes[0], w.nodes[1]
    mid = w.codec.mid(src.core.issue(kind="promise", now=src.local(0.0),  # type: ignore[union-attr]
                                body={"due": 1})[0].token.raw)  # type: ignore[union-attr]
    dst.seen.mark(mid)
    before = w.record.counts["gossip_duplicates"]
    w.network.gossip_copy(src, dst, mid, arrive=1.0)
    assert w.record.counts["gossip_duplicates"] == before + 1
    assert _msgs_in_heap(w, 1) == [] and dst.ghosts == []  # nothing can crash: not kept


def test_only_the_earliest_copy_in_flight_is_scheduled() -> None:
    w = _world(crashes=False)
    src, dst = w.nodes[0], w.nodes[1]
    mid = w.codec.mid(b"\xd2not-a-token")
    w.network.gossip_copy(src, dst, mid, arrive=3.0)
    w.network.gossip_copy(src, dst, mid, arrive=4.0)  # later than one in flight: a duplicate
    w.network.gossip_copy(src, dst, mid, arrive=2.5)  # earlier: scheduled too
    w.network.gossip_copy(src, dst, mid, arrive=2.5)  # a tie arrives after the first
    assert _msgs_in_heap(w, 1) == [(2.5, mid), (3.0, mid)]
    assert w.record.counts["gossip_duplicates"] == 2
    assert dst.msgs_in == 2


def test_a_crash_puts_suppressed_copies_still_in_flight_back() -> None:
    w = _world(crashes=True)
    assert w.network.may_crash
    src, dst = w.nodes[0], w.nodes[1]
    mid = w.codec.mid(b"\xd2not-a-token")
    dst.seen.mark(mid)
    w.loop.now = 1.0
    w.network.gossip_copy(src, dst, mid, arrive=1.5)  # arrives before the crash
    w.network.gossip_copy(src, dst, mid, arrive=2.5)  # still in flight when it strikes
    assert w.record.counts["gossip_duplicates"] == 2 and _msgs_in_heap(w, 1) == []
    w.loop.now = 2.0
    w.faults.crash(dst, 2.0, restart_in_s=0.1)
    # The copy arriving at 2.5 was not a duplicate after all: the node forgot
    # what it saw. It is back in flight, and no longer counted.
    assert _msgs_in_heap(w, 1) == [(2.5, mid)]
    assert w.record.counts["gossip_duplicates"] == 1
    assert dst.ghosts == [] and dst.inflight == {} and not dst.seen.saw(mid)


def test_churn_runs_with_suppression_pass_every_checker() -> None:
    # Crashes, restarts and suppressed duplicates together: the checkers
    # (convergence after the last disruption, no honest equivocation) pass.
    sc = load_scenario("churn", [("scenario.duration_s", 300.0), ("workload.stop_s", 150.0)],
                       nodes=16)
    out = run_one(sc, 9)
    assert out.result.violation is None
    assert out.metrics["count_crashes"] > 0 and out.metrics["count_gossip_duplicates"] > 0



@pytest.mark.parametrize("name", ["baseline", "partition-heal"])
def test_the_inlined_mesh_push_matches_the_general_path(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # `Network.flood` inlines `Network.transmit` for speed: same draws, same order, same
    # counts, so the same trace digest.
    sc = load_scenario(name, [("scenario.duration_s", 120.0), ("workload.stop_s", 60.0),
                              ("checks.converge_within_s", 60.0)], nodes=12)
    fast = run_one(sc, 4)

    def general(self: Network, node: SimNode, mid: int, size: int, t: float,
                skip: int) -> None:
        for j in node.mesh:
            if j != skip:
                self.transmit(node, j, Gossip(j, node.index, mid), size, t)

    monkeypatch.setattr(Network, "flood", general)
    slow = run_one(sc, 4)
    assert fast.result.violation is None
    assert fast.result.digest == slow.result.digest
    assert fast.metrics["count_gossip_duplicates"] == slow.metrics["count_gossip_duplicates"]
