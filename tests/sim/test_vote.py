"""The `vote` scenario: honest observers decide the ground truth; stuffed, equivocated and
late ballots are never counted; a partition across the closing time still converges."""

from __future__ import annotations

from typing import Any

import pytest

from sim import World, load_scenario, run_one
from sim.runner import Outcome
from sim.vote import EQUIVOCATED, LATE, STUFFED, VotePlay, truth_count
from trust.governance import schulze

from .conftest import SMALL, small


def _run(overrides: list[tuple[str, Any]] | None = None, seed: int = 5
         ) -> tuple[Outcome, World, VotePlay]:
    nodes, base = SMALL["vote"]
    sc = load_scenario("vote", base + (overrides or []), nodes=nodes)
    worlds: list[World] = []
    out = run_one(sc, seed, keep_world=worlds)
    assert out.result.violation is None, out.result.violation
    play = worlds[0].vote
    assert play is not None
    return out, worlds[0], play


@pytest.fixture(scope="module")
def voted() -> tuple[Outcome, World, VotePlay]:
    return _run()


def test_vote_runs_twice_to_the_same_digest(voted: tuple[Outcome, World, VotePlay]) -> None:
    out, _, _ = voted
    again = run_one(small("vote"), 5)
    assert again.result.digest == out.result.digest
    assert again.metrics == out.metrics


def test_every_adversary_acted(voted: tuple[Outcome, World, VotePlay]) -> None:
    m = voted[0].metrics
    assert m["vote_proposals"] == 2
    for k in ("vote_ballots_stuffed", "vote_ballots_equivocated", "vote_ballots_late",
              "vote_ballots_revote"):
        assert m[k] > 0, k
    assert m["count_equivocations_detected"] > 0


def test_honest_observers_all_decide_the_ground_truth(
        voted: tuple[Outcome, World, VotePlay]) -> None:
    out, world, play = voted
    assert play.observers
    for k, p in enumerate(play.proposals):
        state, result = play.expected(k)
        assert state == "decided" and result in ("yes", "no")
        for i in play.observers:
            node = world.nodes[i]
            assert node.core is not None
            o = node.core.governance.outcome(p, node.local(world.now))
            assert (o.state, o.result) == (state, result), (i, k, o.reason)
            assert o.own is not None and o.own.counts == play.truth(k)[2]
    m = out.metrics
    assert m["vote_agreement"] == 1.0 and m["vote_correct_frac"] == 1.0
    assert m["vote_decided_frac"] == 1.0 and m["vote_decided_p50_s"] > 0


def test_stuffed_equivocated_and_late_ballots_are_never_counted(
        voted: tuple[Outcome, World, VotePlay]) -> None:
    out, world, play = voted
    bad = play.uncountable()
    assert {b.what for b in bad} == {STUFFED, EQUIVOCATED, LATE}
    want = {STUFFED: "non-member", EQUIVOCATED: "equivocation", LATE: "late"}
    for i in play.observers[:3]:
        node = world.nodes[i]
        core = node.core
        assert core is not None
        now = node.local(world.now)
        for b in bad:
            p = play.proposals[b.proposal]
            assert b.cid not in core.governance.cut_for(p)
            ex = core.governance.explain(p, world.nodes[b.voter].agent, now)
            status = {s.cid: s.state for s in ex.ballots}
            assert status[b.cid] == want[b.what], (b, status)
            if b.what != LATE:
                assert ex.counted is None
            else:  # a late ballot supersedes nothing: the voter's on-time one still counts
                assert ex.counted is not None and ex.counted != b.cid
    assert out.metrics["vote_bad_counted"] == 0
    assert out.metrics["vote_late_kept_frac"] == 1.0


def test_partition_across_the_close_still_converges_and_decides() -> None:
    # Split from before the close until well after the tallies: each side tallies its
    # own cut; after the heal the members re-tally and everyone decides the same.
    out, _, play = _run([("faults.partitions.0.at_s", 90.0),
                         ("faults.partitions.0.heal_s", 150.0),
                         ("scenario.duration_s", 300.0),
                         ("checks.converge_within_s", 60.0),
                         # no promises: a first promise may come after workload.stop_s
                         ("workload.promise_rate_per_s", 0.0)], seed=3)
    m = out.metrics
    assert m["converged"] and m["convergence_checked"]
    assert m["vote_correct_frac"] == 1.0 and m["vote_agreement"] == 1.0
    assert m["vote_bad_counted"] == 0
    assert m["vote_decided_p50_s"] > 150.0 - play.close_t[0]


@pytest.mark.parametrize("method", ["approval", "ranked"])
def test_other_methods_decide_the_ground_truth(method: str) -> None:
    out, _, _ = _run([("vote.method", method), ("vote.options", ["a", "b", "c"]),
                      ("vote.proposals", 1)], seed=2)
    m = out.metrics
    assert m["vote_correct_frac"] == 1.0 and m["vote_own_count_correct_frac"] == 1.0
    assert m["vote_bad_counted"] == 0


def test_the_plain_schulze_agrees_with_governance() -> None:
    import random

    rng = random.Random(4)
    for _ in range(200):
        n = rng.randrange(2, 6)
        ballots = []
        for _ in range(rng.randrange(1, 12)):
            order = list(range(n))
            rng.shuffle(order)
            ballots.append(tuple(order[:rng.randrange(1, n + 1)]))
        _, winner, flat = truth_count("ranked", n, len(ballots), ballots)
        d = [list(flat[i * n:(i + 1) * n]) for i in range(n)]
        assert winner == schulze(d)[1][0]
