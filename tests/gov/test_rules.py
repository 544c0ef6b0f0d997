"""The rules of counting and of token bodies, each stated once (trust/governance/).

Exact shares (a proposal cannot loosen its charter through float rounding),
the tighten rule's single owner, what a ballot or an empty count says, and
that every body builder agrees with its own parser.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from trust import governance as gov
from trust.governance import bodies

from .conftest import Town, feed, observer

JUST_OVER_HALF = (2**53 + 1, 2**54)  # a float rounds it to exactly 0.5
FOUR = ("alice", "bob", "carol", "dave")


def test_a_share_just_over_one_half_is_not_loosened_by_one_half(town: Town) -> None:
    c = town.charter("alice", FOUR, quorum=JUST_OVER_HALF, threshold=JUST_OVER_HALF)
    p = town.propose("alice", c, quorum=(1, 2), threshold=(1, 2))  # a peer's signed proposal
    town.vote("alice", p, ["a"])
    town.vote("bob", p, ["a"])
    g = observer(town, "carol")
    prop = g.proposal(p.cid)
    assert prop is not None and prop.problem is None
    assert prop.rules.quorum == JUST_OVER_HALF and prop.rules.threshold == JUST_OVER_HALF
    own = g.count_now(p.cid)
    assert own is not None and own.ballots == 2 and not own.quorum_met  # 2 of 4 < just over 1/2
    for who in ("alice", "bob"):
        for t in town.publish_tally(who, observer(town, who), p, now=1100):
            feed(g, t)
    o = g.outcome(p.cid, now=1200)
    assert o.needed == 3 and o.support[0].members == 2
    assert o.state == "counting" and o.result is None  # 2 tallies do not decide


def test_one_predicate_owns_the_tighten_rule() -> None:
    base = gov.Rules(quorum=JUST_OVER_HALF, threshold=(2, 3))
    assert gov.tighten_problem(base, quorum=(1, 2)) is not None
    assert gov.tighten_problem(base, threshold=(1, 2)) is not None
    assert gov.tighten_problem(base, quorum=(3, 4), threshold=(4, 6)) is None  # equal is fine
    with pytest.raises(ValueError, match="only tighten the charter's quorum"):
        gov.proposal_body("q?", ["a", "b"], "single", 1000, quorum=(1, 2), base=base)
    assert gov.proposal_body("q?", ["a", "b"], "single", 1000, quorum=(3, 4), base=base)


def test_a_later_spoiled_ballot_replaces_an_earlier_valid_one(town: Town) -> None:
    c = town.charter("alice", FOUR)
    p = town.propose("alice", c)
    first = town.vote("bob", p, ["a"])
    spoiled = town.vote("bob", p, ["a", "b"], iat=200)  # two choices in a single-choice vote
    g = observer(town, "carol")
    own = g.count_now(p.cid)
    assert own is not None and own.ballots == 0 and own.cut == ()
    ex = g.explain(p.cid, town.id("bob"), now=500)
    assert ex.counted is None
    assert {s.cid: s.state for s in ex.ballots} == {first.cid: "superseded",
                                                   spoiled.cid: "spoiled"}


def test_an_empty_approval_ballot_counts_for_quorum_only(town: Town) -> None:
    c = town.charter("alice", FOUR)
    p = town.propose("alice", c, method="approval")
    town.vote("alice", p, ["a"])
    town.vote("bob", p, [])
    own = observer(town, "carol").count_now(p.cid)
    assert own is not None and own.ballots == 2 and own.quorum_met
    assert own.counts == (1, 0) and own.result == "a"


@pytest.mark.parametrize("method", gov.METHODS)
def test_zero_counted_ballots_give_no_result(town: Town, method: str) -> None:
    c = town.charter("alice", FOUR, quorum=(0, 1))
    p = town.propose("alice", c, method=method)
    own = observer(town, "carol").count_now(p.cid)
    assert own is not None and own.ballots == 0 and own.quorum_met
    assert own.result is None and own.tied == ()


def test_tied_is_filled_even_when_the_pass_share_leaves_no_winner(town: Town) -> None:
    c = town.charter("alice", FOUR, pass_share=(1, 2))
    p = town.propose("alice", c)
    for who, pick in (("alice", "a"), ("bob", "a"), ("carol", "b"), ("dave", "b")):
        town.vote(who, p, [pick])
    own = observer(town, "carol").count_now(p.cid)
    assert own is not None and own.counts == (2, 2)
    assert own.result is None and own.tied == ("a", "b")  # 2 of 4 is not > 1/2


# -- every builder agrees with its own parser -------------------------------------


def test_each_builders_output_round_trips_through_its_parser(town: Town) -> None:
    ids = [town.id(n) for n in FOUR]
    ch = gov.charter_body("club", ids, quorum=(3, 5), threshold=JUST_OVER_HALF,
                          methods=("single", "ranked"))
    parsed = bodies.parse_charter(ch, cid="c", issuer=ids[0])
    assert parsed is not None and parsed.members == frozenset(ids)
    assert parsed.rules == gov.Rules(quorum=(3, 5), threshold=JUST_OVER_HALF)
    assert parsed.methods == frozenset(("single", "ranked"))

    pr = gov.proposal_body("admit?", [], "ranked", 1000, quorum=(2, 3), add=[ids[0]])
    pb = bodies.parse_proposal_body(pr)
    assert pb.problems == () and not pb.fractions_malformed and pb.membership
    assert (pb.options, pb.method, pb.closes, pb.quorum) == (("yes", "no"), "single", 1000,
                                                             (2, 3))
    assert pb.add == frozenset((ids[0],)) and pb.remove == frozenset()

    assert bodies.parse_ballot_body(gov.ballot_body(["b", 0])) == ("b", 0)

    c = town.charter("alice", FOUR)
    p = town.propose("alice", c, options=("x", "y", "z"))
    town.vote("alice", p, ["y"])
    res = observer(town, "alice").count_now(p.cid)
    assert res is not None
    for part, parts in ((1, 1), (2, 3)):
        claim = bodies.parse_tally_body(bodies.tally_body(res, part, parts), res.options)
        assert claim is not None
        assert (claim.result, claim.quorum_met, claim.counts, claim.ballots, claim.digest,
                claim.part, claim.parts) == (res.result, res.quorum_met, res.counts,
                                             res.ballots, res.digest, part, parts)


@pytest.mark.parametrize("members, rules", [
    ([""], {}),  # an agent id is non-empty text
    (["m"], {"quorum": (3, 2)}),
    (["m"], {"threshold": (1, 0)}),
    (["m"], {"pass_share": (-1, 2)}),
    (["m"], {"methods": ("single", "plurality")}),
])
def test_a_charter_builder_refuses_what_its_parser_refuses(members: list[str],
                                                           rules: dict[str, Any]) -> None:
    raw = {"name": "x", "members": members, "quorum": list(rules.get("quorum", (1, 2))),
           "threshold": list(rules.get("threshold", (2, 3))),
           "pass": list(rules.get("pass_share", (0, 1))),
           "methods": list(rules.get("methods", gov.METHODS))}
    assert bodies.parse_charter(raw, cid="c", issuer="i") is None
    with pytest.raises(ValueError):
        gov.charter_body("x", members, **rules)


@pytest.mark.parametrize("options, kw", [
    (["a"], {}),
    (["a", "a"], {}),
    (["a", "b"], {"quorum": (3, 2)}),
    (["a", "b"], {"threshold": (1, 0)}),
    ([], {"add": [""]}),
])
def test_a_proposal_builder_refuses_what_its_parser_refuses(options: list[str],
                                                            kw: dict[str, Any]) -> None:
    raw: dict[str, Any] = {"title": "t", "options": options, "method": "single",
                           "closes": 1000}
    for k in ("quorum", "threshold"):
        if k in kw:
            raw[k] = list(kw[k])
    if "add" in kw:
        raw["membership"] = {"add": kw["add"], "remove": []}
        raw["options"] = ["yes", "no"]
    pb = bodies.parse_proposal_body(raw)
    assert pb.problems or pb.fractions_malformed
    with pytest.raises(ValueError):
        gov.proposal_body("t", options, "single", 1000, **kw)


@pytest.mark.parametrize("choice", [[-1], [1.5], [None], [b"a"]])
def test_a_ballot_builder_refuses_what_its_parser_refuses(choice: list[Any]) -> None:
    assert bodies.parse_ballot_body({"choice": choice}) is None
    with pytest.raises(ValueError):
        gov.ballot_body(choice)


def test_a_tally_builder_refuses_what_its_parser_refuses(town: Town) -> None:
    c = town.charter("alice", FOUR)
    p = town.propose("alice", c)
    town.vote("alice", p, ["a"])
    res = observer(town, "alice").count_now(p.cid)
    assert res is not None
    for bad in (dataclasses.replace(res, result="not an option"),
                dataclasses.replace(res, digest=b"short")):
        assert bodies.parse_tally_body(
            {"result": bad.result, "quorum": bad.quorum_met, "counts": list(bad.counts),
             "cut": bad.digest, "ballots": bad.ballots}, bad.options) is None
        with pytest.raises(ValueError):
            bodies.tally_body(bad)
    with pytest.raises(ValueError):
        bodies.tally_body(res, 1, 257)  # more parts than a tally may have
