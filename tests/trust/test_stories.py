"""Stories: what one observer concludes, and why two honest observers may differ.

Cast: Alice promises; Bob builds on her work and vouches honestly; Carol
bad-mouths; Mallory's friends stuff ballots; Eve equivocates; Dave's clock
runs ahead; Olivia and Pat are observers.
"""

from __future__ import annotations

import pytest

import wire
from trust import NETWORK_SCOPE, Observer, Params, SeqKey, SlotKey

from .conftest import World
from .conftest import feed as feed_tokens


def feed(o: Observer, w: World) -> None:
    feed_tokens(o, w.tokens)


def test_alice_keeps_her_promise_on_time(world: World) -> None:
    p = world.promise("alice", 100, "ship v1", due=1000)
    f = world.fulfil("alice", 900, p)
    o = Observer(world.id("olivia"))
    feed(o, world)
    v = o.verdict(p.cid, now=950)
    # A bare fulfil is Alice's claim: kept while nobody contradicts it, but
    # with the confidence one report earns, not a check's (docs/trust.md).
    assert (v.state, v.evidence, v.basis) == ("kept", (f.cid,), "claimed")
    assert 0 < v.confidence < 1 and "claimed" in v.reason


def test_silence_after_due_is_suspicion_then_broken(world: World) -> None:
    p = world.promise("alice", 100, due=1000)
    o = Observer(world.id("olivia"), Params(skew_allowance_s=30))
    feed(o, world)
    assert o.verdict(p.cid, now=1000).state == "pending"
    assert o.verdict(p.cid, now=1030).state == "pending"  # within the skew allowance
    early = o.verdict(p.cid, now=1031)
    late = o.verdict(p.cid, now=2000)
    assert early.state == late.state == "broken"
    assert 0.5 < early.confidence < late.confidence < 1  # suspicion grows with silence
    assert o.next_deadline(0) == 1030
    fx = o.due_between(1000, 1031)
    assert fx.promises == {p.cid} and world.id("alice") in fx.agents
    # pending never counts against Alice; the breach does once it happens
    assert o.trust(world.id("alice"), now=1000).disbelief == 0
    assert o.trust(world.id("alice"), now=1031).disbelief == pytest.approx(1 / 3)


def test_a_late_fulfilment_is_still_a_broken_promise(world: World) -> None:
    p = world.promise("alice", 100, due=1000)
    world.fulfil("alice", 1500, p)
    o = Observer(world.id("olivia"))
    feed(o, world)
    v = o.verdict(p.cid, now=1100)
    assert v.state == "broken" and "late" in v.reason


def test_dave_runs_ahead_and_two_honest_observers_disagree(world: World) -> None:
    # Dave's clock is 20 s ahead: he fulfils at true time 995 but dates it 1015.
    # Olivia forgives 30 s of skew, Pat only 10: both apply the same rule to the
    # same tokens; their frames of reference differ, so their verdicts do
    # (docs/design.md, Frames of reference).
    p = world.promise("dave", 100, due=1000)
    world.fulfil("dave", 1015, p)
    olivia = Observer(world.id("olivia"), Params(skew_allowance_s=30))
    pat = Observer(world.id("pat"), Params(skew_allowance_s=10))
    feed(olivia, world)
    feed(pat, world)
    assert olivia.verdict(p.cid, now=1100).state == "kept"
    assert pat.verdict(p.cid, now=1100).state == "broken"
    assert "late" in pat.verdict(p.cid, now=1100).reason


def test_own_assessment_beats_the_promisers_claim(world: World) -> None:
    # Bob sees Alice's fulfil token but checked the delivery himself: it never came.
    # Olivia has only the token. Both honest; they disagree, and each says why.
    p = world.promise("alice", 100, "deliver to bob", due=1000)
    world.fulfil("alice", 900, p)
    a = world.assess("bob", 950, p, "broken")
    bob = Observer(world.id("bob"))
    olivia = Observer(world.id("olivia"))
    feed(bob, world)
    feed(olivia, world)
    vb, vo = bob.verdict(p.cid, now=960), olivia.verdict(p.cid, now=960)
    assert (vb.state, vb.evidence, vb.reason) == ("broken", (a.cid,), "own assessment: broken")
    # Bob is a stranger to Olivia as a witness (no referral history) and not
    # the named promisee: his word weighs nothing yet, the claim stands.
    assert (vo.state, vo.basis) == ("kept", "claimed")


def test_carol_bad_mouths_alice_and_loses_referral_trust(world: World) -> None:
    # Alice fulfils ten promises; Bob says kept, Carol says broken. Then Alice
    # makes an open-ended promise nobody can check directly: Bob says kept and
    # Carol says broken; Olivia follows the assessor whose word matched hers.
    # Her deliveries are checked (artifacts against the promised out): agreeing
    # with an unchecked claim would earn Bob nothing (docs/trust.md, Trust).
    kept = []
    for i in range(10):
        art = b"release %d" % i
        p = world.tok("alice", "promise", 10 * i,
                      body={"text": "p", "due": 10_000, "out": [wire.cid_of(art)]})
        world.tok("alice", "fulfil", 10 * i + 1, about=p.cid, body={"artifacts": [art]})
        world.assess("bob", 10 * i + 2, p, "kept")
        world.assess("carol", 10 * i + 3, p, "broken")
        kept.append(p)
    q = world.promise("alice", 500, "keep the mirror up")
    world.assess("bob", 501, q, "kept")
    world.assess("carol", 502, q, "broken")
    o = Observer(world.id("olivia"))
    feed(o, world)
    now = 600
    assert all(o.verdict(p.cid, now).state == "kept" for p in kept)
    carol = o.referral(world.id("carol"), now)
    bob = o.referral(world.id("bob"), now)
    assert carol.belief == 0 and carol.disbelief == pytest.approx(10 / 12)
    assert bob.belief == pytest.approx(10 / 12)
    v = o.verdict(q.cid, now)
    assert v.state == "kept" and len(v.evidence) == 1
    # Carol's hearsay adds nothing to Alice's trust; Bob's adds a little
    direct_only = Observer(world.id("olivia"))
    feed_tokens(direct_only, (t for t in world.tokens if t.issuer != world.id("bob")))
    assert direct_only.trust(world.id("alice"), now).belief == pytest.approx(10 / 12)
    assert o.trust(world.id("alice"), now).belief > 10 / 12


def test_mallorys_friends_stuff_ballots_and_the_clock_catches_them(world: World) -> None:
    # Mallory never fulfils; her friends (fresh identities) say "kept" anyway.
    # Before the deadline they are strangers (weight 0); after it, Olivia's own
    # clock contradicts them and their referral trust goes to disbelief.
    ps = [world.promise("mallory", i, due=100) for i in range(5)]
    friends = [f"friend{i}" for i in range(3)]
    for f in friends:
        for p in ps:
            world.assess(f, 50, p, "kept")
    o = Observer(world.id("olivia"))
    feed(o, world)
    assert all(o.verdict(p.cid, 90).state == "pending" for p in ps)
    assert o.trust(world.id("mallory"), 90).belief == 0
    assert all(o.verdict(p.cid, 200).state == "broken" for p in ps)
    for f in friends:
        r = o.referral(world.id(f), 200)
        assert r.belief == 0 and r.disbelief == pytest.approx(5 / 7)
    t = o.trust(world.id("mallory"), 200)
    assert t.disbelief == pytest.approx(5 / 7) and t.expectation < 0.2


def test_retraction_breaks_but_cannot_unkeep(world: World) -> None:
    p = world.promise("alice", 1)
    r = world.retract("alice", 2, p)
    q = world.promise("alice", 3)
    world.fulfil("alice", 4, q)
    world.retract("alice", 5, q)
    o = Observer(world.id("olivia"))
    feed(o, world)
    assert o.verdict(p.cid, 10).state == "broken"
    assert o.verdict(p.cid, 10).evidence == (r.cid,)
    assert o.verdict(q.cid, 10).state == "kept"


def test_only_the_promiser_can_fulfil(world: World) -> None:
    p = world.promise("alice", 1, due=100)
    world.fulfil("carol", 2, p)
    o = Observer(world.id("olivia"))
    feed(o, world)
    assert o.verdict(p.cid, 50).state == "pending"
    assert o.verdict(p.cid, 500).state == "broken"


def test_eve_equivocates(world: World) -> None:
    first = world.promise("eve", 1)
    a = world.promise("eve", 2, "to bob: yes")
    b = world.tok("eve", "promise", 2, body={"text": "to carol: no"}, seq=2, prev=first.cid)
    world.fulfil("eve", 3, a)
    world.tok("bob", "ack", 4, deps=(a.cid,))
    world.tok("carol", "ack", 4, deps=(b.cid,))
    o = Observer(world.id("olivia"))
    feed(o, world)
    v = o.verdict(a.cid, 10)
    assert v.state == "broken" and set(v.evidence) == {a.cid, b.cid}
    assert "equivocated" in v.reason
    assert o.equivocators() == {world.id("eve")}
    assert o.trust(world.id("eve"), 10).expectation == 0
    c = o.consensus(SeqKey(world.id("eve"), 2), now=10)
    # Eve accepts both (counts for neither); Bob and Carol are strangers (belief 0)
    # and only Olivia's own weight would count: she built on neither.
    assert c.state == "contested" and c.support == 0


def test_consensus_by_trusted_builders_and_sybils_weigh_nothing(world: World) -> None:
    scope = world.promise("alice", 1, "charterless scope").cid
    x = world.tok("alice", "claim", 2, scope=scope, body={"slot": "leader"})
    y = world.tok("mallory", "claim", 2, scope=scope, body={"slot": "leader"})
    # Bob and Carol earn trust: each keeps two promises (belief 1/2)
    for name in ("bob", "carol"):
        for i in range(2):
            p = world.promise(name, 10 + i)
            world.fulfil(name, 11 + i, p)
    world.tok("bob", "build", 20, deps=(x.cid,))
    mid = world.tok("carol", "build", 21, deps=(world.tokens[-1].cid,))  # via Bob's token
    for i in range(50):  # a thousand fresh faces would do no better
        world.tok(f"sybil{i}", "build", 22, deps=(y.cid,))
    o = Observer(world.id("olivia"))
    feed(o, world)
    key = SlotKey(scope, "leader")
    c = o.consensus(key, now=30)
    # electorate: Olivia 1 (herself), Bob 1/2, Carol 1/2; Alice, Mallory and the
    # sybils have no kept promise on record here, so belief 0.
    assert c.leader == x.cid
    assert c.support == pytest.approx(1.0 / 2.0)  # Bob + Carol = 1 of total 2 (Olivia 1)
    assert c.state == "contested"
    assert o.support(y.cid, now=30) == 0
    # Olivia builds on x herself: 2/2 -> settled
    o.observe(world.tok("olivia", "build", 31, deps=(mid.cid,)))
    c = o.consensus(key, now=30)
    assert (c.state, c.leader, c.support) == ("settled", x.cid, 1.0)
    assert c.alternatives == ((y.cid, 0.0),)


def test_accepting_both_rivals_counts_for_neither(world: World) -> None:
    scope = world.promise("alice", 1).cid
    x = world.tok("alice", "claim", 2, scope=scope, body={"slot": "s"})
    y = world.tok("bob", "claim", 2, scope=scope, body={"slot": "s"})
    o = Observer(world.id("olivia"))
    feed(o, world)
    o.observe(world.tok("olivia", "build", 3, deps=(x.cid,)))
    assert o.consensus(SlotKey(scope, "s"), now=5).state == "settled"
    o.observe(world.tok("olivia", "build", 4, deps=(y.cid,)))
    c = o.consensus(SlotKey(scope, "s"), now=5)
    assert (c.state, c.support) == ("contested", 0.0)
    assert c.leader == min(x.cid, y.cid)  # ties by cid


def test_charter_members_weigh_one_each(world: World) -> None:
    charter = world.tok("alice", "charter", 1, body={"members": (world.id("bob"),
                                                                  world.id("carol"),
                                                                  world.id("dave"))})
    x = world.tok("alice", "claim", 2, scope=charter.cid, body={"slot": "chair"})
    world.tok("bob", "vote", 3, deps=(x.cid,))
    world.tok("carol", "vote", 3, deps=(x.cid,))
    o = Observer(world.id("olivia"))
    feed(o, world)
    c = o.consensus(SlotKey(charter.cid, "chair"))
    assert c.support == pytest.approx(2 / 3) and c.state == "settled"


def test_effects_name_what_changed(world: World) -> None:
    p = world.promise("alice", 1, due=100)
    o = Observer(world.id("olivia"))
    fx = o.observe(p)
    assert fx.promises == {p.cid} and fx.agents == {world.id("alice")}
    a = world.assess("bob", 2, p, "kept")
    fx = o.observe(a)
    assert fx.referrals == {world.id("bob")} and world.id("bob") in fx.agents
    fx = o.observe(world.fulfil("alice", 3, p))
    assert fx.promises == {p.cid} and fx.referrals == {world.id("bob")}
    assert not o.observe(p)  # idempotent
    full = o.expand(fx)
    assert full.promises >= fx.promises


def test_tokens_about_unseen_promises_wait_for_them(world: World) -> None:
    p = world.promise("alice", 1, due=100)
    f = world.fulfil("alice", 2, p)
    o = Observer(world.id("olivia"))
    o.observe(f)
    assert o.verdict(p.cid, 50).reason == "promise not seen"
    fx = o.observe(p)
    assert o.verdict(p.cid, 50).state == "kept" and p.cid in fx.promises


def test_every_verdict_names_its_basis(world: World) -> None:
    # Olivia's reasons, by kind of evidence: a fulfil, a retraction, a lapse,
    # her own check, and a promise nobody has spoken of yet.
    kept = world.promise("alice", 100, "a", due=1000)
    world.fulfil("alice", 900, kept)
    gone = world.promise("alice", 110, "b", due=1000)
    world.retract("alice", 120, gone)
    lapsed = world.promise("alice", 130, "c", due=1000)
    mine = world.promise("alice", 140, "d", due=5000)
    world.assess("olivia", 150, mine, "broken")
    quiet = world.promise("alice", 160, "e", due=5000)
    o = Observer(world.id("olivia"))
    feed(o, world)
    assert o.verdict(gone.cid, now=2000).basis == "retracted"
    assert o.verdict(lapsed.cid, now=2000).basis == "deadline"
    assert o.verdict(mine.cid, now=2000).basis == "own"
    assert o.verdict(quiet.cid, now=2000).basis == "none"
    assert o.verdict(kept.cid, now=2000).basis in ("claimed", "verified")
    # A bare fulfil (no artifacts, nothing promised to check) is only a claim.
    assert o.verdict(kept.cid, now=2000).basis == "claimed"


def test_an_unscoped_slot_is_the_whole_networks(world: World) -> None:
    # Alice and Bob claim the slot "name/alice" with no scope; Olivia builds on
    # Alice's. A scoped claim of the same name is another set.
    x = world.tok("alice", "claim", 2, body={"slot": "name/alice"})
    y = world.tok("bob", "claim", 2, body={"slot": "name/alice"})
    scope = world.promise("carol", 1).cid
    z = world.tok("carol", "claim", 3, scope=scope, body={"slot": "name/alice"})
    o = Observer(world.id("olivia"))
    feed(o, world)
    key = SlotKey(NETWORK_SCOPE, "name/alice")
    assert key in o.conflict_keys() and SlotKey(scope, "name/alice") in o.conflict_keys()
    fx = o.observe(world.tok("olivia", "build", 4, deps=(x.cid,)))
    assert key in fx.conflicts
    c = o.consensus(key, now=5)
    assert (c.state, c.leader, c.support) == ("settled", x.cid, 1.0)
    assert c.alternatives == ((y.cid, 0.0),)
    assert o.consensus(SlotKey(scope, "name/alice"), now=5).leader == z.cid
