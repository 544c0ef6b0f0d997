"""Lateness on arrival (docs/decisions/0004-arrival-lateness.md) and thresholds <= 1/2.

A voter can sign a ballot dated before `closes` and publish it hours later.
By iat it is on time, so every observer that judged lateness by iat alone
would re-tally and could flip a decided outcome. An observer that knows when
a ballot reached it (`observe(..., seen_at=)`) leaves a ballot that arrived
after closes + skew out of its own count; others' tallies still verify by iat.
"""

from __future__ import annotations

from collections.abc import Iterable

import wire
from trust import Params
from trust import governance as gov

from .conftest import Town, feed

CLOSES, SKEW = 1000, 30.0


def watcher(town: Town, name: str, arrivals: Iterable[tuple[wire.Token, float | None]]
            ) -> gov.Governance:
    g = gov.Governance(town.id(name), Params(skew_allowance_s=SKEW))
    for t, at in arrivals:
        feed(g, t, seen_at=at)
    return g


def test_a_backdated_ballot_arriving_after_close_changes_no_honest_tally(town: Town) -> None:
    c = town.charter("alice", ("alice", "bob", "carol"))
    p = town.propose("alice", c, closes=CLOSES)
    a = town.vote("alice", p, ["a"], iat=100)
    b = town.vote("bob", p, ["b"], iat=110)
    on_time = [(c, 0.0), (p, 10.0), (a, 100.0), (b, 111.0)]
    g = watcher(town, "alice", on_time)
    # a 1-1 tie: 'a' (listed first) wins; alice and bob tally it
    ta = town.publish_tally("alice", g, p, 1100)
    gb = watcher(town, "bob", on_time)
    tb = town.publish_tally("bob", gb, p, 1100)
    for t in ta + tb:
        feed(g, t, seen_at=1101.0)
    assert (g.outcome(p.cid, 1101).state, g.outcome(p.cid, 1101).result) == ("decided", "a")
    # carol signs a ballot dated before closing and publishes it hours later
    late = town.vote("carol", p, ["b"], iat=990)
    feed(g, late, seen_at=5000.0)
    assert g.cut_for(p.cid) == tuple(sorted((a.cid, b.cid)))
    assert g.tally_plan(p.cid, 5001) is None  # nothing to re-tally
    own = g.outcome(p.cid, 5001).own
    assert own is not None and own.result == "a" and own.ballots == 2
    ex = g.explain(p.cid, town.id("carol"), 5001)
    assert [s.state for s in ex.ballots] == ["late-on-arrival"] and ex.counted is None
    assert "arrived here at 5000" in ex.ballots[0].reason
    # carol's own tally counts her ballot: on time by iat, so it verifies here
    # (arrival is this observer's judgement, not a verification rule) ...
    mine = gov.Governance(town.id("carol"), Params(skew_allowance_s=SKEW))
    for t in (c, p, a, b, late):
        feed(mine, t)
    tc = town.publish_tally("carol", mine, p, 5000)
    for t in tc:
        feed(g, t, seen_at=5002.0)
    out = g.outcome(p.cid, 5003)
    status = {i.issuer: i.status for i in out.tallies}
    assert status[town.id("carol")] == "counted"
    # ... but one supporter is not the threshold: the outcome stays decided
    assert (out.state, out.result) == ("decided", "a")
    # an observer that judged by iat alone would have flipped: the old behaviour
    blind = watcher(town, "bob", [(t, None) for t in (c, p, a, b, late)])
    assert blind.count_now(p.cid) is not None
    assert blind.count_now(p.cid).result == "b"  # type: ignore[union-attr]


def test_a_ballot_arriving_within_the_skew_allowance_counts(town: Town) -> None:
    c = town.charter("alice", ("alice", "bob", "carol"))
    p = town.propose("alice", c, closes=CLOSES)
    a = town.vote("alice", p, ["a"], iat=100)
    b = town.vote("bob", p, ["b"], iat=999)
    g = watcher(town, "alice", [(c, 0.0), (p, 10.0), (a, 100.0), (b, CLOSES + SKEW)])
    assert g.cut_for(p.cid) == tuple(sorted((a.cid, b.cid)))
    g2 = watcher(town, "alice", [(c, 0.0), (p, 10.0), (a, 100.0), (b, CLOSES + SKEW + 1)])
    assert g2.cut_for(p.cid) == (a.cid,)


def test_a_late_arrival_does_not_supersede_an_on_time_ballot(town: Town) -> None:
    c = town.charter("alice", ("alice", "bob", "carol"))
    p = town.propose("alice", c, closes=CLOSES)
    first = town.vote("bob", p, ["a"], iat=100)
    again = town.vote("bob", p, ["b"], iat=900)  # a backdated change of mind
    g = watcher(town, "alice", [(c, 0.0), (p, 10.0), (first, 100.0), (again, 4000.0)])
    assert g.cut_for(p.cid) == (first.cid,)
    ex = g.explain(p.cid, town.id("bob"), 4001)
    assert [s.state for s in ex.ballots] == ["counted", "late-on-arrival"]


def test_an_observer_that_got_the_proposal_after_close_judges_by_iat(town: Town) -> None:
    """It could not have seen any ballot in time: arrival says nothing here."""
    c = town.charter("alice", ("alice", "bob", "carol"))
    p = town.propose("alice", c, closes=CLOSES)
    a = town.vote("alice", p, ["a"], iat=100)
    g = watcher(town, "dave", [(c, 9000.0), (p, 9000.0), (a, 9000.0)])
    assert g.cut_for(p.cid) == (a.cid,)


def test_two_results_at_a_threshold_of_one_half_are_contested(town: Town) -> None:
    members = ("alice", "bob", "carol", "dave")
    c = town.charter("alice", members, threshold=(1, 2))
    p = town.propose("alice", c, closes=CLOSES)
    votes = {m: town.vote(m, p, ["a" if m in ("alice", "bob") else "b"], iat=100)
             for m in members}
    g = watcher(town, "olivia", [(t, None) for t in town.tokens])
    el = g.electorate(p.cid)
    prop = g.proposal(p.cid)
    assert el is not None and prop is not None
    cut_a = [votes["alice"], votes["bob"]]
    cut_b = [votes["carol"], votes["dave"]]
    res_a = gov.count(prop, el, cut_a, skew_allowance_s=SKEW)
    res_b = gov.count(prop, el, cut_b, skew_allowance_s=SKEW)
    assert (res_a.result, res_b.result) == ("a", "b")
    feed(g, town.tally("alice", p, cut_a, res_a))
    feed(g, town.tally("bob", p, cut_a, res_a))
    out = g.outcome(p.cid, 2100)
    assert (out.state, out.result, out.needed) == ("decided", "a", 2)
    feed(g, town.tally("carol", p, cut_b, res_b))
    feed(g, town.tally("dave", p, cut_b, res_b))
    out = g.outcome(p.cid, 2100)
    # both results have the 2 supporters needed: no alphabetical winner
    assert {i.status for i in out.tallies} == {"counted"}
    assert (out.state, out.result) == ("contested", None)
    assert "threshold at or below 1/2" in out.reason
