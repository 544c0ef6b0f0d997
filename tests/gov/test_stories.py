"""Stories: one rule of governance each (docs/governance.md).

Cast: Alice founds the club; Bob, Carol and Dave are members; Eve is a member
who equivocates; Mallory is not a member; Frank joins by a membership vote.
Olivia and Pat observe. Proposals close at 1000; the skew allowance is 30 s.
"""

from __future__ import annotations

import random

import pytest

import wire
from trust import governance as gov
from trust.governance import tallies

from .conftest import Town, feed, observer

MEMBERS = ("alice", "bob", "carol", "dave", "eve")


def club(town: Town, **rules: object) -> wire.Token:
    return town.charter("alice", MEMBERS, **rules)


def test_a_later_ballot_by_the_same_voter_supersedes_the_earlier(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c)
    first = town.vote("bob", p, ["a"], iat=100)
    town.tok("bob", "promise", 150, body={"text": "unrelated"})  # chain moves on
    second = town.vote("bob", p, ["b"], iat=120)  # clock went back: chain order rules
    g = observer(town, "olivia")
    res = g.count_now(p.cid)
    assert res is not None and res.counts == (0, 1) and res.cut == (second.cid,)
    ex = g.explain(p.cid, town.id("bob"), now=500)
    assert ex.counted == second.cid
    assert [(b.cid, b.state) for b in ex.ballots] == [(first.cid, "superseded"),
                                                      (second.cid, "counted")]
    assert second.cid in ex.ballots[0].reason


def test_a_non_members_ballot_is_kept_as_evidence_but_never_counted(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c)
    town.vote("bob", p, ["a"])
    m = town.vote("mallory", p, ["b"])
    g = observer(town, "olivia")
    res = g.count_now(p.cid)
    assert res is not None and res.counts == (1, 0) and m.cid not in res.cut
    ex = g.explain(p.cid, town.id("mallory"), now=500)
    assert ex.counted is None and [b.state for b in ex.ballots] == ["non-member"]
    # recounting a cut that smuggles Mallory in excludes her, by name
    full = g.recount(p.cid, [b.cid for b in town.tokens if b.kind == "ballot"])
    assert full is not None and (m.cid, "voter not in the electorate") in full.excluded


def test_an_equivocating_voter_is_void_and_reported(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c)
    town.vote("bob", p, ["a"])
    e1 = town.vote("eve", p, ["a"])
    g = observer(town, "olivia")
    assert g.count_now(p.cid).counts == (2, 0)  # type: ignore[union-attr]
    e2 = town.fork("eve", "ballot", 101, e1, scope=p.scope, about=p.cid, deps=(p.cid,),
                   body=gov.ballot_body(["b"]))
    fx = feed(g, e2)
    assert fx.equivocators == {town.id("eve")} and p.cid in fx.proposals
    assert g.count_now(p.cid).counts == (1, 0)  # type: ignore[union-attr]
    ex = g.explain(p.cid, town.id("eve"), now=500)
    assert ex.counted is None
    assert {b.state for b in ex.ballots} == {"equivocation"}
    assert g.equivocators() == {town.id("eve")}


def test_a_fork_below_a_ballot_voids_it_even_if_the_ballot_itself_is_unique(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c)
    x = town.tok("dave", "promise", 50, body={"text": "x"})
    town.fork("dave", "promise", 51, x, body={"text": "not x"})
    d = town.vote("dave", p, ["a"])  # on top of the first branch
    g = observer(town, "olivia")
    assert d.cid not in g.cut_for(p.cid)
    assert g.explain(p.cid, town.id("dave"), 500).ballots[0].state == "equivocation"


def test_a_late_ballot_is_kept_but_not_counted_with_the_skew_allowance(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c, closes=1000)
    in_skew = town.vote("bob", p, ["a"], iat=1030)  # 30 s past closing: within allowance
    late = town.vote("carol", p, ["b"], iat=1031)
    g = observer(town, "olivia", skew=30)
    assert g.cut_for(p.cid) == (in_skew.cid,)
    ex = g.explain(p.cid, town.id("carol"), now=1100)
    assert ex.ballots[0].state == "late" and ex.ballots[0].cid == late.cid
    # a stricter observer (no skew allowance) counts neither: observers may differ
    strict = observer(town, "pat", skew=0)
    assert strict.cut_for(p.cid) == ()
    # a late re-vote does not supersede the on-time ballot
    town.vote("bob", p, ["b"], iat=1200)
    g2 = observer(town, "olivia", skew=30)
    assert g2.cut_for(p.cid) == (in_skew.cid,)


def test_open_then_counting_then_decided_on_the_observers_clock(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c, closes=1000)
    for who in ("alice", "bob", "carol"):
        town.vote(who, p, ["b"])
    g = observer(town, "olivia")
    assert g.outcome(p.cid, now=999).state == "open"
    assert g.outcome(p.cid, now=1001).state == "counting"
    assert g.tally_plan(p.cid, now=1030) is None  # not before closes + skew
    assert g.next_deadline(1001) == 1030
    assert g.due_between(990, 1031) == {p.cid}
    # members publish their tallies (each its own node; here one engine plans for all)
    for who in ("alice", "bob", "carol", "dave"):
        node = observer(town, who)
        for t in town.publish_tally(who, node, p, now=1031):
            feed(g, t)
    o = g.outcome(p.cid, now=1100)
    assert (o.state, o.result) == ("decided", "b")
    assert o.needed == 4 and o.support[0].members == 4 and o.electorate == 5
    assert all(t.status == "counted" for t in o.tallies)
    assert o.own is not None and o.own.result == "b"


def test_quorum_failure(town: Town) -> None:
    c = club(town, quorum=(3, 5))
    p = town.propose("alice", c)
    town.vote("alice", p, ["a"])
    town.vote("bob", p, ["a"])  # 2 of 5 < 3/5
    g = observer(town, "olivia")
    own = g.count_now(p.cid)
    assert own is not None and not own.quorum_met and own.result == "a"
    for who in ("alice", "bob", "carol", "dave"):
        for t in town.publish_tally(who, observer(town, who), p, now=1100):
            feed(g, t)
    o = g.outcome(p.cid, now=1200)
    assert (o.state, o.result) == ("failed-quorum", None)


def test_a_proposal_may_tighten_but_not_loosen_its_charters_quorum(town: Town) -> None:
    c = club(town, quorum=(1, 2))
    loose = town.propose("alice", c, quorum=(0, 1))
    tight = town.propose("alice", c, quorum=(4, 5))
    g = observer(town, "olivia")
    assert g.proposal(loose.cid).rules.quorum == (1, 2)  # type: ignore[union-attr]
    assert g.proposal(tight.cid).rules.quorum == (4, 5)  # type: ignore[union-attr]


def test_a_plurality_tie_is_broken_by_option_order_and_reported(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c, options=("x", "y", "z"))
    town.vote("alice", p, ["y"])
    town.vote("bob", p, ["z"])
    town.vote("carol", p, [2])  # by index: "z"
    town.vote("dave", p, ["y"])
    res = observer(town, "olivia").count_now(p.cid)
    assert res is not None and res.counts == (0, 2, 2)
    assert (res.result, res.tied) == ("y", ("y", "z"))


def test_approval_counts_every_approved_option(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c, options=("x", "y", "z"), method="approval")
    town.vote("alice", p, ["x", "y"])
    town.vote("bob", p, ["y"])
    town.vote("carol", p, ["z", "y"])
    town.vote("dave", p, ["y", "y"])  # spoiled: an option twice
    g = observer(town, "olivia")
    res = g.count_now(p.cid)
    assert res is not None and res.counts == (1, 3, 1) and res.result == "y"
    assert g.explain(p.cid, town.id("dave"), 500).ballots[0].state == "spoiled"


def test_a_membership_vote_opens_a_new_view_and_the_next_electorate_is_that_view(
        town: Town) -> None:
    c = club(town)
    join = town.propose("alice", c, add=("frank",))
    for who in ("alice", "bob", "carol"):
        town.vote(who, join, ["yes"])
    town.vote("dave", join, ["no"])
    g = observer(town, "olivia")
    assert g.current_view(c.cid).epoch == 0  # type: ignore[union-attr]
    for who in ("alice", "bob", "carol", "dave"):
        for t in town.publish_tally(who, observer(town, who), join, now=1100):
            feed(g, t)
    assert g.outcome(join.cid, now=1200).result == "yes"
    view = g.current_view(c.cid)
    assert view is not None and (view.cid, view.epoch) == (join.cid, 1)
    assert town.id("frank") in view.members and len(view.members) == 6
    # the next proposal builds on the new view: Frank's ballot counts there ...
    nxt = town.propose("bob", c, view=join, iat=1300, closes=2000)
    f = town.vote("frank", nxt, ["a"], iat=1400)
    # ... but not on a proposal still made under the charter's view (epoch 0)
    old = town.propose("bob", c, iat=1301, closes=2000)
    f_old = town.vote("frank", old, ["a"], iat=1401)
    for t in town.tokens[-4:]:
        feed(g, t)
    assert g.cut_for(nxt.cid) == (f.cid,)
    assert g.cut_for(old.cid) == ()
    assert g.explain(old.cid, town.id("frank"), 1500).ballots[0].state == "non-member"
    assert f_old.cid not in g.cut_for(old.cid)
    listed = {i.cid: i for i in g.proposals(c.cid, now=1500)}
    assert listed[nxt.cid].epoch == 1 and listed[old.cid].epoch == 0
    assert listed[join.cid].membership and listed[join.cid].state == "decided"


def test_a_tied_membership_vote_changes_nothing(town: Town) -> None:
    c = town.charter("alice", ("alice", "bob"))
    kick = town.propose("alice", c, remove=("bob",))
    town.vote("alice", kick, ["yes"])
    town.vote("bob", kick, ["no"])
    g = observer(town, "olivia")
    own = g.count_now(kick.cid)
    assert own is not None and own.result is None and own.tied == ("yes", "no")
    for who in ("alice", "bob"):
        for t in town.publish_tally(who, observer(town, who), kick, now=1100):
            feed(g, t)
    o = g.outcome(kick.cid, now=1200)
    assert (o.state, o.result) == ("decided", None)
    assert g.current_view(c.cid).cid == c.cid  # type: ignore[union-attr]
    assert g.view(kick.cid) is None


def test_a_proposal_under_an_unestablished_view_is_invalid_until_it_is(town: Town) -> None:
    c = club(town)
    join = town.propose("alice", c, add=("frank",))
    nxt = town.propose("bob", c, view=join, iat=20, closes=2000)
    g = observer(town, "olivia")
    o = g.outcome(nxt.cid, now=50)
    assert o.state == "invalid" and "not established" in o.reason
    bad = town.propose("mallory", c)
    wrong = town.tok("alice", "proposal", 30, scope=c.cid, deps=(c.cid,),
                     body={"title": "t", "options": ["a", "b"], "method": "borda",
                           "closes": 1000})
    feed(g, bad)
    feed(g, wrong)
    assert "not a member" in g.outcome(bad.cid, now=50).reason
    assert "not allowed" in g.outcome(wrong.cid, now=50).reason


def test_contested_tallies_reduce_to_the_difference_of_their_cuts(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c)
    a = town.vote("alice", p, ["a"])
    b = town.vote("bob", p, ["b"])
    cb = town.vote("carol", p, ["b"], iat=1020)  # on time, but slow to reach some nodes
    early = [t for t in town.tokens if t.cid != cb.cid]
    # Carol and Dave saw everything; Alice and Eve missed Carol's ballot
    for who in ("carol", "dave"):
        town.publish_tally(who, observer(town, who), p, now=1100)
    for who in ("alice", "eve"):
        town.publish_tally(who, observer(town, who, early), p, now=1100)
    g = observer(town, "olivia")
    o = g.outcome(p.cid, now=1200)
    assert o.state == "contested"
    assert {(s.result, s.members) for s in o.support} == {("b", 2), ("a", 2)}
    ex = g.explain(p.cid, town.id("carol"), now=1200)
    assert ex.counted == cb.cid
    assert dict(ex.attestations) == {town.id("alice"): None, town.id("carol"): cb.cid,
                                     town.id("dave"): cb.cid, town.id("eve"): None}
    by_result = {d.result: d for d in ex.differences}
    assert by_result["a"].missing == (cb.cid,) and by_result["a"].extra == ()
    assert by_result["b"].missing == () == by_result["b"].extra
    assert set(by_result["a"].issuers) == {town.id("alice"), town.id("eve")}
    assert g.cut_difference(p.cid, town.id("dave"), town.id("alice")) == ((cb.cid,), ())
    # Alice and Eve learn of Carol's ballot and re-tally: a newer tally supersedes
    for who in ("alice", "eve"):
        node = observer(town, who)  # now holds every token, its old tally included
        for t in town.publish_tally(who, node, p, now=1300):
            feed(g, t)
    o2 = g.outcome(p.cid, now=1400)
    assert (o2.state, o2.result) == ("decided", "b")
    assert {a.cid, b.cid, cb.cid} == set(g.cut_for(p.cid))


def test_a_false_tally_is_caught_by_recount(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c)
    ballots = [town.vote(w, p, ["a"]) for w in ("alice", "bob", "carol")]
    g = observer(town, "olivia")
    honest = g.count_now(p.cid)
    assert honest is not None
    lie = gov.TallyResult(**{**{f: getattr(honest, f) for f in honest.__dataclass_fields__},
                             "result": "b", "counts": (0, 3)})
    town.tally("eve", p, ballots, lie, iat=1100)
    feed(g, town.tokens[-1])
    info = {t.issuer: t for t in g.outcome(p.cid, 1200).tallies}[town.id("eve")]
    assert info.status == "false" and "recount gives 'a'" in info.reason


def test_a_tally_before_closing_and_a_non_members_tally_do_not_count(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c)
    ballots = [town.vote(w, p, ["a"]) for w in ("alice", "bob", "carol")]
    g = observer(town, "olivia")
    res = g.count_now(p.cid)
    assert res is not None
    town.tally("bob", p, ballots, res, iat=999)
    town.tally("mallory", p, ballots, res, iat=1100)
    for t in town.tokens[-2:]:
        feed(g, t)
    st = {t.issuer: t.status for t in g.outcome(p.cid, 1200).tallies}
    assert st == {town.id("bob"): "premature", town.id("mallory"): "non-member"}


def test_a_cut_larger_than_a_part_is_split_and_reassembled(town: Town,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setattr(tallies, "TALLY_PART_BALLOTS_MAX", 2)
    c = club(town)
    p = town.propose("alice", c)
    for w in MEMBERS:
        town.vote(w, p, ["b"])
    parts = town.publish_tally("carol", observer(town, "carol"), p, now=1100)
    assert len(parts) == 3 and [t.body["part"] for t in parts] == [(1, 3), (2, 3), (3, 3)]
    assert all(len(t.deps) <= 3 for t in parts)
    g = observer(town, "olivia", [t for t in town.tokens if t not in parts])
    feed(g, parts[0])
    feed(g, parts[2])
    info = g.outcome(p.cid, 1200).tallies[0]
    assert info.status == "incomplete"
    feed(g, parts[1])
    info = g.outcome(p.cid, 1200).tallies[0]
    assert info.status == "counted" and info.ballots == 5


def test_explain_answers_was_my_vote_counted(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c)
    mine = town.vote("bob", p, ["a"])
    for w in ("alice", "carol", "dave"):
        town.vote(w, p, ["a"])
    for who in ("alice", "carol", "dave", "eve"):
        town.publish_tally(who, observer(town, who), p, now=1100)
    ex = observer(town, "bob").explain(p.cid, town.id("bob"), now=1200)
    assert ex.counted == mine.cid
    assert ex.outcome.state == "decided" and ex.outcome.result == "a"
    assert ex.outcome.own is not None and ex.outcome.own.counts == (4, 0)
    assert all(cid == mine.cid for _, cid in ex.attestations) and len(ex.attestations) == 4
    assert len(ex.differences) == 1 and ex.differences[0].missing == ()


def test_any_arrival_order_gives_the_same_answers(town: Town) -> None:
    c = club(town)
    join = town.propose("alice", c, add=("frank",))
    for who in ("alice", "bob", "carol"):
        town.vote(who, join, ["yes"])
    for who in ("alice", "bob", "carol", "dave"):
        town.publish_tally(who, observer(town, who), join, now=1100)
    nxt = town.propose("bob", c, view=join, iat=1300, closes=2000, method="ranked",
                       options=("x", "y", "z"))
    town.vote("frank", nxt, ["z", "x"], iat=1400)
    e = town.vote("eve", nxt, ["x"], iat=1400)
    town.fork("eve", "ballot", 1401, e, scope=c.cid, about=nxt.cid, deps=(nxt.cid,),
              body=gov.ballot_body(["y"]))
    town.vote("dave", nxt, ["y", "z", "x"], iat=1400)
    ref = observer(town, "olivia")
    want = (ref.proposals(now=2500), ref.explain(nxt.cid, town.id("frank"), 2500),
            ref.count_now(nxt.cid))
    rng = random.Random(7)
    for _ in range(5):
        toks = list(town.tokens)
        rng.shuffle(toks)
        g = observer(town, "olivia", toks)
        got = (g.proposals(now=2500), g.explain(nxt.cid, town.id("frank"), 2500),
               g.count_now(nxt.cid))
        assert got == want


def test_a_full_tally_part_fits_the_token_limits(town: Town) -> None:
    c = club(town)
    p = town.propose("alice", c, options=tuple(f"o{i}" for i in range(gov.OPTIONS_MAX)),
                     method="ranked")
    g = observer(town, "olivia")
    prop = g.proposal(p.cid)
    assert prop is not None
    cut = tuple(sorted(wire.cid_of(i.to_bytes(4, "big")) for i in range(10_000)))
    k = gov.OPTIONS_MAX
    res = gov.TallyResult(proposal=p.cid, method="ranked", options=prop.options,
                          counts=(10_000,) * (k * k), ballots=10_000, electorate=10_000,
                          quorum_met=True, result="o0", tied=(), cut=cut,
                          digest=gov.cut_digest(cut))
    parts = tallies.split_parts(prop, res)
    assert len(parts) == 3
    for part in parts:
        t = town.tok("carol", "tally", 1100, scope=part.scope, about=part.about,
                     deps=part.deps, body=part.body)
        assert len(t.raw) <= wire.TOKEN_SIZE_MAX_BYTES and len(t.deps) <= wire.DEPS_MAX


def test_a_voter_caught_equivocating_after_outcomes_were_asked_does_not_break_them() -> None:
    """Regression (found by the simulator): a fork by a voter with no tally on the
    proposal, after its tally book existed, made outcome() raise KeyError."""
    import wire
    from trust import Governance
    from trust.governance import ballot_body, charter_body, proposal_body

    a, b, c = (wire.Identity.from_seed(bytes([i]) * 32) for i in (1, 2, 3))

    def tok(ident: wire.Identity, seq: int, prev: str | None, kind: str, body: dict,  # type: ignore[type-arg]
            scope: str | None = None, deps: tuple[str, ...] = (),
            about: str | None = None) -> wire.Token:
        return wire.sign_token(ident, wire.Claims(issuer=ident.agent_id, iat=1000, seq=seq,
                                                  kind=kind, prev=prev, scope=scope, deps=deps,
                                                  about=about, body=body))

    g = Governance(a.agent_id)
    ch = tok(a, 1, None, "charter", charter_body("x", [i.agent_id for i in (a, b, c)]))
    feed(g, ch)
    pr = tok(a, 2, ch.cid, "proposal", proposal_body("p", ["yes", "no"], "single", 2000),
             scope=ch.cid, deps=(ch.cid,))
    feed(g, pr)
    for voter in (b, c):
        feed(g, tok(voter, 1, None, "ballot", ballot_body(["yes"]), scope=ch.cid,
                      deps=(pr.cid,), about=pr.cid))
    assert g.outcome(pr.cid, 1500).state == "open"  # builds the tally book
    fx = feed(g, tok(b, 1, None, "ballot", ballot_body(["no"]), scope=ch.cid,
                       deps=(pr.cid,), about=pr.cid))  # b equivocates
    assert b.agent_id in fx.equivocators
    assert g.outcome(pr.cid, 1500).state == "open"
    expl = g.explain(pr.cid, b.agent_id, 1500)
    assert {s.state for s in expl.ballots} == {"equivocation"}
