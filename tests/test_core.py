"""The sans-IO core: issuing, causal delivery, equivocation, bad input."""

from __future__ import annotations

import pytest

import wire
from node.core import (
    ConsensusChanged,
    Core,
    CoreParams,
    EquivocationDetected,
    FrameRejected,
    Persist,
    Publish,
    Send,
    TokenAccepted,
    TokenIssued,
    TokenRejected,
    TrustChanged,
    VerdictChanged,
    topic_for,
)
from tests.harness import ident

VIEW = (VerdictChanged, TrustChanged, ConsensusChanged)


def protocol(outs: list) -> list:  # type: ignore[type-arg]
    """The outputs without the view events (those are tested on their own)."""
    return [o for o in outs if not isinstance(o, VIEW)]


def tok(i: wire.Identity, seq: int, prev: str | None, *, deps: tuple[str, ...] = (),
        body: dict[str, object] | None = None, iat: int = 1000) -> wire.Token:
    return wire.sign_token(i, wire.Claims(issuer=i.agent_id, iat=iat, seq=seq, kind="promise",
                                          prev=prev, deps=deps, body=body or {"n": seq}))


def test_issue_outputs_persist_before_publish() -> None:
    core = Core(ident(1))
    outs = protocol(core.issue(kind="promise", now=5.0, body={"text": "water the plants"}))
    kinds = [type(o) for o in outs]
    assert kinds == [Persist, TokenIssued, TokenAccepted, Publish]
    token = outs[0].token  # type: ignore[union-attr]
    assert token.seq == 1 and token.prev is None and token.iat == 5
    assert outs[-1] == Publish(topic=topic_for(None), data=token.raw)
    second = core.issue(kind="promise", now=6.0)[0].token  # type: ignore[union-attr]
    assert second.seq == 2 and second.prev == token.cid
    assert core.own_seq() == 2


def test_issue_refuses_unknown_deps_and_changes_nothing() -> None:
    core = Core(ident(1))
    other = tok(ident(2), 1, None)
    with pytest.raises(ValueError, match="does not hold"):
        core.issue(kind="promise", now=1.0, deps=(other.cid,))
    assert core.own_seq() == 0 and not core.tokens


def test_causal_delivery_waits_for_prev_and_deps_then_applies_all() -> None:
    alice, bob = ident(1), ident(2)
    a1 = tok(alice, 1, None)
    a2 = tok(alice, 2, a1.cid)
    b1 = tok(bob, 1, None, deps=(a2.cid,))
    core = Core(ident(3))
    core.peer_up("p", 0.0)
    outs = core.receive_gossip("p", b1.raw, 1.0)
    # b1 waits; the core asks the sender for what is missing.
    assert not core.has(b1.cid) and core.pending_count() == 1
    asks = [wire.decode_frame(o.data) for o in outs if isinstance(o, Send)]
    assert asks == [wire.WantCids(cids=(a2.cid,))]
    outs = core.receive_gossip("p", a2.raw, 1.0)
    asks = [wire.decode_frame(o.data) for o in outs if isinstance(o, Send)]
    # a2's prev is a chain gap: asked for as a range of alice's chain.
    assert asks == [wire.WantRange(agent=alice.agent_id, first_seq=1, last_seq=1)]
    outs = core.receive_frame("p", wire.encode_frame(wire.Tokens(tokens=(a1.raw,))), 1.0)
    accepted = [o.token.cid for o in outs if isinstance(o, TokenAccepted)]
    assert accepted == [a1.cid, a2.cid, b1.cid]
    assert core.pending_count() == 0
    assert core.heads[alice.agent_id] == (2, a2.cid)


def test_duplicates_are_ignored_cheaply() -> None:
    a1 = tok(ident(1), 1, None)
    core = Core(ident(3))
    outs = core.receive_gossip("p", a1.raw, 0)
    assert [type(o) for o in protocol(outs)] == [Persist, TokenAccepted]
    assert core.receive_gossip("p", a1.raw, 0) == []
    assert core.stats.duplicate_tokens == 1


def test_equivocation_keeps_both_and_marks_issuer() -> None:
    mallory = ident(7)
    m1 = tok(mallory, 1, None, body={"say": "yes"})
    m1x = tok(mallory, 1, None, body={"say": "no"})
    core = Core(ident(3))
    core.receive_gossip("p", m1.raw, 0)
    outs = core.receive_gossip("q", m1x.raw, 0)
    eq = [o for o in outs if isinstance(o, EquivocationDetected)]
    assert eq == [EquivocationDetected(issuer=mallory.agent_id, seq=1,
                                       cids=tuple(sorted([m1.cid, m1x.cid])))]
    assert core.has(m1.cid) and core.has(m1x.cid)
    assert mallory.agent_id in core.equivocators
    # the head at the tied seq is the smaller cid, whatever the arrival order
    other = Core(ident(4))
    other.receive_gossip("p", m1x.raw, 0)
    other.receive_gossip("p", m1.raw, 0)
    assert other.heads == core.heads and other.digest() == core.digest()


def test_chain_link_to_another_issuers_token_is_rejected() -> None:
    alice, bob = ident(1), ident(2)
    a1 = tok(alice, 1, None)
    b1 = tok(bob, 1, None)
    bad = tok(bob, 2, a1.cid)  # prev names alice's token
    core = Core(ident(3))
    core.receive_gossip("p", a1.raw, 0)
    core.receive_gossip("p", b1.raw, 0)
    outs = core.receive_gossip("p", bad.raw, 0)
    assert [o.reason for o in outs if isinstance(o, TokenRejected)] == ["bad-chain"]
    assert not core.has(bad.cid) and core.heads[bob.agent_id] == (1, b1.cid)


@pytest.mark.parametrize("garbage", [b"", b"\xd2", b"\xd2\x84\x40", b"\x00", b"\x84\x01",
                                     b"\xff" * 100, wire.encode_frame(
                                         wire.WantCids(cids=(wire.cid_of(b"x"),)))[:-3]])
def test_garbage_from_a_peer_becomes_an_event_and_changes_nothing(garbage: bytes) -> None:
    core = Core(ident(3))
    a1 = tok(ident(1), 1, None)
    core.receive_gossip("p", a1.raw, 0)
    before = (dict(core.tokens), dict(core.heads), core.digest())
    outs = core.receive_gossip("p", garbage, 1.0)
    assert len(outs) == 1 and isinstance(outs[0], TokenRejected)
    outs = core.receive_frame("p", garbage, 1.0)
    assert len(outs) == 1 and isinstance(outs[0], FrameRejected)
    assert (dict(core.tokens), dict(core.heads), core.digest()) == before


def test_forged_token_is_rejected() -> None:
    a1 = tok(ident(1), 1, None)
    forged = bytearray(a1.raw)
    forged[-1] ^= 1
    core = Core(ident(3))
    outs = core.receive_gossip("p", bytes(forged), 0)
    assert [(type(o), o.reason) for o in outs] == [(TokenRejected, "bad-signature")]  # type: ignore[union-attr]
    assert not core.tokens


def test_pending_buffer_is_bounded() -> None:
    core = Core(ident(3), CoreParams(pending_max=5))
    alice = ident(1)
    prev = tok(alice, 1, None)
    chain = [prev]
    for s in range(2, 12):
        chain.append(tok(alice, s, chain[-1].cid))
    for t in chain[2:]:  # 9 tokens, none applicable (seq 1 and 2 missing)
        core.receive_gossip("p", t.raw, 0)
    assert core.pending_count() == 5
    assert core.stats.pending_dropped == 4


def test_pending_tokens_expire() -> None:
    core = Core(ident(3), CoreParams(pending_ttl_s=10))
    alice = ident(1)
    a1 = tok(alice, 1, None)
    core.receive_gossip("p", tok(alice, 2, a1.cid).raw, 0)
    assert core.pending_count() == 1
    core.tick(5)
    assert core.pending_count() == 1
    core.tick(11)
    assert core.pending_count() == 0


def test_restore_replays_the_log_to_the_same_state() -> None:
    core = Core(ident(1))
    for i in range(5):
        core.issue(kind="promise", now=i, body={"i": i})
    other = tok(ident(2), 1, None)
    core.receive_gossip("p", other.raw, 9)
    log = [t.raw for t in core.tokens.values()]
    again = Core(ident(1))
    assert again.restore(log) == 6
    assert again.heads == core.heads and again.digest() == core.digest()
    assert again.own_seq() == 5
    nxt = again.issue(kind="promise", now=10)[0].token  # type: ignore[union-attr]
    assert nxt.seq == 6


def test_own_token_seen_from_the_network_advances_own_seq() -> None:
    me = ident(1)
    old = Core(me)
    t1 = old.issue(kind="promise", now=1)[0].token  # type: ignore[union-attr]
    fresh = Core(me)  # e.g. a node restored from an older backup
    fresh.receive_gossip("p", t1.raw, 2)
    assert fresh.own_seq() == 1
    t2 = fresh.issue(kind="promise", now=3)[0].token  # type: ignore[union-attr]
    assert t2.seq == 2 and t2.prev == t1.cid


def test_view_events_follow_the_observer() -> None:
    """A promise past its due time with no fulfilment turns broken on tick."""
    alice = ident(1)
    core = Core(ident(3))
    p = wire.sign_token(alice, wire.Claims(issuer=alice.agent_id, iat=100, seq=1, kind="promise",
                                           body={"text": "call back", "due": 200}))
    outs = core.receive_gossip("p", p.raw, 100.0)
    pending = [o.verdict for o in outs if isinstance(o, VerdictChanged)]
    assert [(v.cid, v.state) for v in pending] == [(p.cid, "pending")]
    assert core.tick(150.0) == []  # nothing changed before due
    late = core.tick(200 + core.observer.params.skew_allowance_s + 1)
    broken = [o.verdict for o in late if isinstance(o, VerdictChanged)]
    assert [(v.cid, v.state) for v in broken] == [(p.cid, "broken")]
    assert any(isinstance(o, TrustChanged) and o.agent == alice.agent_id for o in late)
    assert core.tick(10_000.0) == []  # said once, not again


def test_check_invariants_catches_a_corrupted_core() -> None:
    a1 = tok(ident(1), 1, None)
    a2 = tok(ident(1), 2, a1.cid)
    b2 = tok(ident(2), 2, tok(ident(2), 1, None).cid)
    issuer = ident(1).agent_id

    def fresh() -> Core:
        core = Core(ident(3))
        core.peer_up("p", 0)
        core.receive_gossip("p", a2.raw, 0)  # waits for its prev
        core.receive_gossip("p", a1.raw, 0)
        core.receive_gossip("p", b2.raw, 0)  # waits for b1, which never comes
        core.check_invariants()
        return core

    def bump_digest(core: Core) -> None:
        core.digest()
        core.index._digest += 1

    def mislabel(core: Core) -> None:
        next(iter(core.causal.pending.values())).missing.add(a1.cid)

    for corrupt, rule in [
        (lambda c: c.index.heads.__setitem__(issuer, (1, a1.cid)), "head seq"),
        (lambda c: c.index.chains[issuer].pop(), "chains and forks"),
        (lambda c: c.index.equivocators.add("x"), "equivocators"),
        (bump_digest, "set digest"),
        (lambda c: c.index._fork_count.__setitem__(issuer, 1), "fork counts"),
        (mislabel, "waits for nothing"),
        (lambda c: c.causal.waiters.setdefault(a1.cid, set()).add(a2.cid),
         "applied"),
        (lambda c: c.causal.requested.__setitem__(a1.cid, 0.0), "requested cid is held"),
        (lambda c: c.sync.states.pop("p"), "not connected"),
        (lambda c: c.observer._equivocators.add(issuer), "observer's equivocators"),
        (lambda c: c.observer._tokens.pop(a1.cid), "observer saw other tokens"),
    ]:
        core = fresh()
        corrupt(core)
        with pytest.raises(AssertionError, match=rule):
            core.check_invariants()
