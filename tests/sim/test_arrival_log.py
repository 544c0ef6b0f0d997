"""The simulator's durable log carries arrival times, like the store's seen_at column."""

from __future__ import annotations

from sim import load_scenario
from sim.world import World

from .conftest import SMALL


def test_a_restarted_sim_node_keeps_when_each_ballot_arrived() -> None:
    nodes, overrides = SMALL["vote"]
    sc = load_scenario("vote", overrides + [("faults.churn.crash_rate_per_s", 0.01),
                                            ("faults.churn.stop_s", 200.0)], nodes=nodes)
    w = World(sc, 2)
    assert w.run().violation is None
    restarted = [n for n in w.nodes if n.crashes and n.up and n.core is not None]
    assert restarted, "the scenario should crash and restart some nodes"
    checked = 0
    for node in restarted:
        assert node.core is not None
        g = node.core.governance
        for raw, at in node.durable():
            assert at is not None  # every Persist of a running core carries it
            tok = w.codec.decode(raw)
            if tok.kind == "ballot":
                assert g.seen_at(tok.cid) == at
                checked += 1
    assert checked
