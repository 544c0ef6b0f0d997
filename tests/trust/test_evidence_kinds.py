"""Stories: verdicts by kind of evidence (docs/trust.md, Verdicts).

Cast: Alice promises and delivers honestly; Mallory claims fulfilments she
never delivered; Bob is the promisee of their promises; Carol is a witness who
has earned Olivia's referral trust by agreeing with checked deliveries; Dave
delivers checkable artifacts; Olivia observes.
"""

from __future__ import annotations

from typing import Any

import pytest

import wire
from trust import Observer, Params
from trust.opinion import from_evidence

from .conftest import World
from .conftest import feed as feed_tokens

NOW = 5000


def promise(w: World, name: str, iat: int, to: str | None = None,
            out: tuple[bytes, ...] = (), **body: Any) -> wire.Token:
    b: dict[str, Any] = {"text": f"{name} promises", "due": 1000, **body}
    if to is not None:
        b["to"] = w.id(to)
    if out:
        b["out"] = [wire.cid_of(a) for a in out]
    return w.tok(name, "promise", iat, body=b)


def deliver(w: World, name: str, iat: int, p: wire.Token, *artifacts: bytes) -> wire.Token:
    return w.tok(name, "fulfil", iat, about=p.cid, body={"artifacts": list(artifacts)})


def carol_earns_referral(w: World, n: int = 8) -> None:
    """Dave delivers n checked artifacts; Carol says kept each time."""
    for i in range(n):
        p = promise(w, "dave", 10 + i, out=(b"art%d" % i,))
        deliver(w, "dave", 500 + i, p, b"art%d" % i)
        w.assess("carol", 600 + i, p, "kept")


def olivia(w: World) -> Observer:
    o = Observer(w.id("olivia"))
    feed_tokens(o, w.tokens)
    return o


def test_dave_delivers_what_he_promised_and_it_is_checked(world: World) -> None:
    good = promise(world, "dave", 1, out=(b"report v1",), f1="render", f2="idle",
                   **{"in": ["data"]})
    f = deliver(world, "dave", 900, good, b"report v1", b"extra")
    bad = promise(world, "dave", 2, out=(b"report v2",))
    g = deliver(world, "dave", 901, bad, b"something else")
    late = promise(world, "dave", 3, out=(b"report v3",))
    deliver(world, "dave", 1500, late, b"report v3")
    # Bob calls the good delivery broken, Carol calls it kept: the hashes decide,
    # and each witness's referral trust moves by agreement with the check.
    world.assess("bob", 950, good, "broken")
    world.assess("carol", 951, good, "kept")
    o = olivia(world)
    v = o.verdict(good.cid, NOW)
    assert (v.state, v.confidence, v.basis, v.evidence) == ("kept", 1.0, "verified", (f.cid,))
    v = o.verdict(bad.cid, NOW)
    assert (v.state, v.basis, v.evidence) == ("broken", "verified", (g.cid,))
    assert "evidence contradicts the promise" in v.reason
    v = o.verdict(late.cid, NOW)
    assert (v.state, v.basis) == ("broken", "deadline")
    assert o.referral(world.id("carol"), NOW).belief == pytest.approx(1 / 3)
    assert o.referral(world.id("bob"), NOW).disbelief == pytest.approx(1 / 3)
    d = o.promise_detail(good.cid)
    assert d is not None
    assert d.out == (wire.cid_of(b"report v1"),) and (d.f1, d.f2) == ("render", "idle")
    assert d.inputs == ("data",) and d.claim is None
    assert d.delivered == ((f.cid, tuple(sorted((wire.cid_of(b"report v1"),
                                                 wire.cid_of(b"extra"))))),)
    assert o.promise_detail("nope") is None


def test_a_checked_delivery_beats_a_trusted_witness(world: World) -> None:
    carol_earns_referral(world)
    p = promise(world, "alice", 100, to="bob", out=(b"site",))
    deliver(world, "alice", 900, p, b"site")
    world.assess("carol", 950, p, "broken")
    world.assess("bob", 951, p, "broken")
    o = olivia(world)
    v = o.verdict(p.cid, NOW)
    assert (v.state, v.confidence, v.basis) == ("kept", 1.0, "verified")
    assert o.referral(world.id("carol"), NOW).disbelief > 0


def test_a_bare_claim_nobody_contradicts_is_kept_below_a_check(world: World) -> None:
    # (a) Alice claims without evidence; nobody says otherwise.
    claimed = promise(world, "alice", 1, to="bob")
    world.fulfil("alice", 900, claimed)
    checked = promise(world, "alice", 2, out=(b"x",))
    deliver(world, "alice", 900, checked, b"x")
    o = olivia(world)
    v = o.verdict(claimed.cid, NOW)
    assert (v.state, v.basis) == ("kept", "claimed")
    assert 0 < v.confidence < o.verdict(checked.cid, NOW).confidence == 1.0


def test_a_claim_the_promisee_denies_is_not_kept(world: World) -> None:
    # (b) Mallory claims; Bob, her promisee, says it never came. Olivia knows
    # neither: the claim and the denial weigh the same, and a bare claim never
    # outweighs the promisee (ties go against the claim: docs/trust.md).
    p = promise(world, "mallory", 1, to="bob")
    world.fulfil("mallory", 900, p)
    world.assess("bob", 950, p, "broken")
    o = olivia(world)
    v = o.verdict(p.cid, NOW)
    assert v.state != "kept"
    assert (v.state, v.basis) == ("broken", "witnessed") and "promisee" in v.reason
    # Olivia does not hold the dispute against Bob: no referral evidence moves.
    ref = o.referral(world.id("bob"), NOW)
    assert ref.belief == ref.disbelief == 0


def test_a_claim_a_trusted_witness_denies_is_broken(world: World) -> None:
    # (c) Carol has earned Olivia's referral trust; she says Mallory's claim is false.
    carol_earns_referral(world)
    p = promise(world, "mallory", 100)
    world.fulfil("mallory", 900, p)
    world.assess("carol", 950, p, "broken")
    o = olivia(world)
    assert o.referral(world.id("carol"), NOW).belief > 0.5
    v = o.verdict(p.cid, NOW)
    assert (v.state, v.basis) == ("broken", "witnessed")
    assert v.confidence > 0
    # a stranger's denial would have weighed nothing
    q = promise(world, "mallory", 101)
    world.fulfil("mallory", 901, q)
    world.assess("eve", 950, q, "broken")
    assert olivia(world).verdict(q.cid, NOW).state == "kept"


def test_a_claim_trusted_witnesses_confirm_is_kept_with_more_confidence(world: World) -> None:
    # (d) the same kind of claim as (a), confirmed by Carol and Bob (both trusted).
    carol_earns_referral(world)
    for i in range(8):  # Bob earns referral trust the same way
        world.assess("bob", 700 + i, world.tokens[3 * i], "kept")
    bare = promise(world, "alice", 100, to="pat")
    world.fulfil("alice", 900, bare)
    seen = promise(world, "alice", 101, to="pat")
    world.fulfil("alice", 901, seen)
    world.assess("carol", 950, seen, "kept")
    world.assess("bob", 951, seen, "kept")
    o = olivia(world)
    va, vd = o.verdict(bare.cid, NOW), o.verdict(seen.cid, NOW)
    assert (va.state, va.basis) == ("kept", "claimed")
    assert (vd.state, vd.basis) == ("kept", "witnessed")
    assert vd.confidence > va.confidence
    assert len(vd.evidence) == 3


def test_a_false_fulfiller_ends_with_low_trust(world: World) -> None:
    # Mallory claims ten fulfilments; each promisee denies it. Alice claims ten
    # and nobody objects. Olivia, a third party, ends trusting Mallory far less.
    promisees = ["bob", "carol", "dave", "eve", "pat"]
    for i in range(10):
        m = promise(world, "mallory", i, to=promisees[i % 5])
        world.fulfil("mallory", 900, m)
        world.assess(promisees[i % 5], 950, m, "broken")
        a = promise(world, "alice", i, to=promisees[i % 5])
        world.fulfil("alice", 900, a)
    o = olivia(world)
    mallory, alice = o.trust(world.id("mallory"), NOW), o.trust(world.id("alice"), NOW)
    assert mallory.expectation == pytest.approx(1 / 12)  # ten broken: BRS (0+1)/(10+2)
    assert alice.expectation == pytest.approx(11 / 12)
    assert mallory.belief == 0 and alice.belief > 0.8
    assert o.trust(world.id("mallory"), NOW) == o._trust_slow(world.id("mallory"), NOW)


def test_effects_of_an_assessment_name_the_verdict_and_the_promiser(world: World) -> None:
    p = promise(world, "mallory", 1, to="bob")
    world.fulfil("mallory", 900, p)
    o = olivia(world)
    assert o.verdict(p.cid, NOW).state == "kept"
    before = o.trust(world.id("mallory"), NOW)
    denial = world.assess("bob", 950, p, "broken")
    fx = o.expand(o.observe(denial))
    assert p.cid in fx.promises and world.id("mallory") in fx.agents
    assert o.verdict(p.cid, NOW).state == "broken"
    assert o.trust(world.id("mallory"), NOW).expectation < before.expectation


def test_confirming_claims_earns_one_referral_unit_per_promiser(world: World) -> None:
    # Syb confirms ten claims of one accomplice; Carol confirms one claim each
    # of five independent promisers. Olivia credits Syb once, Carol five times.
    sams = []
    for i in range(10):
        p = promise(world, "sam", i, to="bob")
        world.fulfil("sam", 900, p)
        world.assess("syb", 950, p, "kept")
        sams.append(p)
    for name in ["alice", "bob", "dave", "eve", "pat"]:
        p = promise(world, name, 1)
        world.fulfil(name, 900, p)
        world.assess("carol", 950, p, "kept")
    o = olivia(world)
    syb, carol = o.referral(world.id("syb"), NOW), o.referral(world.id("carol"), NOW)
    assert syb.belief == pytest.approx(1 / 3)  # r = 1: b = 1/(1+2)
    assert carol.belief == pytest.approx(5 / 7)  # r = 5: b = 5/(5+2)
    slow = from_evidence(*o._referral_evidence_slow(world.id("syb"), NOW))
    assert slow.belief == pytest.approx(syb.belief)
    # Bob, the promisee of Sam's claims, disputes them one by one: a disputed
    # claim calibrates nobody, so Syb's unit stays until the last is disputed.
    for i, p in enumerate(sams):
        denial = world.assess("bob", 2000 + i, p, "broken")
        o.observe(denial)
        left = o.referral(world.id("syb"), NOW).belief
        assert left == (pytest.approx(1 / 3) if i < len(sams) - 1 else 0)


def test_a_claim_does_not_vouch_for_itself(world: World) -> None:
    # Mallory's only promise: her claim weighs as a stranger's (E = 1/2), not as
    # an agent with one kept promise (E = 2/3), against Carol's denial.
    carol_earns_referral(world)
    p = promise(world, "mallory", 100)
    world.fulfil("mallory", 900, p)
    world.assess("carol", 950, p, "broken")
    v = olivia(world).verdict(p.cid, NOW)
    assert (v.state, v.basis) == ("broken", "witnessed")
    assert "against 0.4)" in v.reason  # r' = 2·(1/2)/(3 − 1/2) = 0.4


def test_third_parties_must_outweigh_a_claim_by_a_margin(world: World) -> None:
    # Two witnesses of middling referral trust deny Alice's claim: three checked
    # agreements each, and the denial itself counts against them (Alice's
    # promisee does not dispute), so b = 3/6 and S = 2 × 0.4. Alice has three
    # kept promises (E = 4/5, R = 0.727). S − R is below claim_margin: pending,
    # not broken. Bob, the promisee, decides it.
    for i, name in enumerate(["x1"] * 3 + ["x2"] * 3):
        art = b"art%d" % i
        q = promise(world, "dave", 10 + i, out=(art,))
        deliver(world, "dave", 500 + i, q, art)
        world.assess(name, 600 + i, q, "kept")
    for i in range(3):
        k = promise(world, "alice", i, to="pat")
        world.fulfil("alice", 900, k)
    p = promise(world, "alice", 3, to="bob")
    world.fulfil("alice", 900, p)
    world.assess("x1", 950, p, "broken")
    world.assess("x2", 951, p, "broken")
    o = olivia(world)
    v = o.verdict(p.cid, NOW)
    assert (v.state, v.basis) == ("pending", "none")
    assert "not by enough" in v.reason
    assert 0 < o.params.claim_margin
    # The margin is what holds it: with none, the same witnesses break the claim.
    no_margin = Observer(world.id("olivia"), Params(claim_margin=0.0))
    feed_tokens(no_margin, world.tokens)
    assert no_margin.verdict(p.cid, NOW).state == "broken"
    world.assess("bob", 960, p, "broken")
    assert olivia(world).verdict(p.cid, NOW).state == "broken"
