"""Liveness: evidence only from neighbours (peers whose connection we saw)."""

from __future__ import annotations

from node.core.liveness import Liveness


def test_heard_about_a_peer_never_connected_is_ignored() -> None:
    lv = Liveness(min_mean_s=1.0)
    lv.heard("far-away-originator", 10.0)
    assert lv.report(11.0) == []
    lv.connected("neighbour", 10.0)
    lv.heard("neighbour", 11.0)
    lv.heard("far-away-originator", 11.0)
    assert [r["peer"] for r in lv.report(12.0)] == ["neighbour"]
    assert lv.state("neighbour", 12.0) == "alive"


def test_a_neighbour_that_went_away_stays_listed_and_fails() -> None:
    lv = Liveness(min_mean_s=1.0, failed_after_s=120.0)
    lv.connected("n", 0.0)
    lv.disconnected("n", 5.0)
    lv.heard("n", 6.0)  # late traffic does not bring it back
    assert lv.state("n", 10.0) == "unreachable"
    assert lv.state("n", 200.0) == "failed"
