"""Anti-entropy sync between bare cores over a scripted, lossy network."""

from __future__ import annotations

import pytest

import wire
from node.core import Core, CoreParams
from tests.harness import Net, ident


def _fill(net: Net, per_agent: int) -> None:
    for agent in sorted(net.cores):
        for i in range(per_agent):
            net.issue(agent, kind="promise", body={"text": f"promise {i} of {agent[-6:]}"})


def test_two_cores_converge_after_issuing_apart() -> None:
    net = Net.of(2)
    _fill(net, 20)  # not connected yet: each holds only its own 20
    a, b = sorted(net.cores)
    assert len(net.cores[a].tokens) == 20
    net.connect(a, b)
    net.deliver_all()
    assert net.converged() and len(net.cores[a].tokens) == 40


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("loss", "dup", "reorder"), [
    (0.0, 0.0, True), (0.3, 0.0, False), (0.2, 0.3, True), (0.5, 0.1, True)])
def test_groups_converge_under_loss_duplication_and_reordering(
        seed: int, loss: float, dup: float, reorder: bool) -> None:
    net = Net.of(5, CoreParams(sync_interval_s=1.0, request_retry_s=1.0), seed=seed, loss=loss,
                 dup=dup, reorder=reorder)
    ids = sorted(net.cores)
    for i in range(len(ids) - 1):  # a line: tokens must travel several hops
        net.connect(ids[i], ids[i + 1])
    for round_ in range(4):
        for j, agent in enumerate(ids):
            deps = ()
            core = net.cores[agent]
            if core.tokens and (round_ + j) % 2:
                deps = (sorted(core.tokens)[seed % len(core.tokens)],)  # build on something held
            net.issue(agent, kind="promise", body={"r": round_}, deps=deps)
        net.deliver_all()
    net.run_until_converged(max_steps=300)
    total = {len(c.tokens) for c in net.cores.values()}
    assert total == {20}
    digests = {c.digest() for c in net.cores.values()}
    assert len(digests) == 1


def test_partition_then_heal_converges() -> None:
    net = Net.of(4, CoreParams(sync_interval_s=1.0), seed=3)
    ids = sorted(net.cores)
    net.connect(ids[0], ids[1])
    net.connect(ids[2], ids[3])
    _fill(net, 5)
    net.deliver_all()
    assert len(net.cores[ids[0]].tokens) == 10 and len(net.cores[ids[2]].tokens) == 10
    net.connect(ids[1], ids[2])  # heal
    steps = net.run_until_converged()
    assert len(net.cores[ids[3]].tokens) == 20 and steps < 20


def _bytes_to_reconcile(total: int, k: int) -> int:
    """Two cores hold the same `total` tokens except `k` that only one has."""
    agents = [ident(100 + i) for i in range(10)]
    shared = Core(None)
    makers = {a.agent_id: Core(a) for a in agents}
    for i in range(total):
        maker = makers[agents[i % len(agents)].agent_id]
        maker.issue(kind="promise", now=float(i), body={"i": i})
    log = [t for m in makers.values() for t in m.tokens.values()]
    log.sort(key=lambda t: (t.seq, t.issuer))
    behind = Core(None)
    behind.restore(t.raw for t in log[: total - k])
    ahead = Core(None)
    ahead.restore(t.raw for t in log)
    assert shared is not None
    net = Net(cores={"ahead": ahead, "behind": behind})
    net.connect("ahead", "behind")
    net.deliver_all()
    assert net.converged()
    return net.bytes_moved


def test_bytes_moved_grow_with_the_difference_not_the_total() -> None:
    small_total = _bytes_to_reconcile(400, 20)
    big_total = _bytes_to_reconcile(2000, 20)
    bigger_diff = _bytes_to_reconcile(2000, 200)
    # 5x the total with the same difference costs about the same ...
    assert big_total < small_total * 1.2
    # ... while 10x the difference costs several times more.
    assert bigger_diff > big_total * 5


def _forked_chain() -> tuple[list[wire.Token], wire.Token]:
    """Mallory's chain 1..5 with a rival token at seq 2 (an equivocation below the head)."""
    mallory = ident(66)

    def tok(seq: int, prev: str | None, n: int) -> wire.Token:
        return wire.sign_token(mallory, wire.Claims(issuer=mallory.agent_id, iat=seq, seq=seq,
                                                    kind="promise", prev=prev, body={"n": n}))

    t1 = tok(1, None, 1)
    main = [t1]
    for s in range(2, 6):
        main.append(tok(s, main[-1].cid, s))
    rival = tok(2, t1.cid, 99)
    return main, rival


@pytest.mark.parametrize("holder_opens", [True, False])
def test_a_fork_below_the_head_is_repaired_by_sync(holder_opens: bool) -> None:
    main, rival = _forked_chain()
    net = Net.of(2, CoreParams(sync_interval_s=1.0))
    a, b = sorted(net.cores)
    holder, other = (a, b) if holder_opens else (b, a)
    for t in main:
        net.cores[holder].receive_gossip("x", t.raw, 0.0)
        net.cores[other].receive_gossip("x", t.raw, 0.0)
    net.cores[holder].receive_gossip("x", rival.raw, 0.0)  # only the holder saw the rival
    assert net.cores[holder].heads == net.cores[other].heads  # same heads, different forks
    assert net.cores[holder].digest() != net.cores[other].digest()
    net.connect(a, b)
    net.run_until_converged()
    assert net.cores[other].has(rival.cid)
    assert rival.issuer in net.cores[other].equivocators
    assert net.cores[a].digest() == net.cores[b].digest()


def test_different_rivals_with_equal_counts_converge() -> None:
    """Two nodes each hold one *different* rival of an equivocator (same count)."""
    x = ident(9)

    def tok(seq: int, prev: str | None, text: str) -> wire.Token:
        return wire.sign_token(x, wire.Claims(issuer=x.agent_id, iat=0, seq=seq,
                                              kind="promise", prev=prev, body={"text": text}))

    t1 = tok(1, None, "root")
    rivals = sorted([tok(2, t1.cid, f"r{i}") for i in range(3)], key=lambda t: t.cid)
    head = tok(3, rivals[0].cid, "top")
    net = Net.of(2, CoreParams(sync_interval_s=1.0))
    a, b = (net.cores[k] for k in sorted(net.cores))
    for core, extra in ((a, rivals[1]), (b, rivals[2])):
        for t in (t1, rivals[0], head, extra):
            core.receive_gossip("gossip", t.raw, 0.0)
    assert a.digest() != b.digest()  # the rival sets differ, so must the digests
    net.connect_all()
    net.run_until_converged(max_steps=20)
    assert rivals[2].cid in a.tokens and rivals[1].cid in b.tokens


def test_an_unsolicited_frontier_is_ignored() -> None:
    """A Frontier is only acted on in answer to our Hello: an empty one from a
    stranger must not make us serve our whole store."""
    core = Core(ident(1))
    for i in range(50):
        core.issue(kind="promise", now=float(i), body={"i": i})
    outs = core.receive_frame("stranger", wire.encode_frame(wire.Frontier(entries=())), 100.0)
    assert outs == [] and core.stats.extra["unsolicited_frontier"] == 1


def test_the_frontier_is_encoded_once_per_change_of_the_heads() -> None:
    core = Core(ident(901), CoreParams())
    other = ident(902).agent_id
    hello = wire.encode_frame(wire.Hello(digest=b"\x01" * 32, agents=0))

    def frontier_frames() -> list[bytes]:
        return [o.data for o in core.receive_frame(other, hello, 1.0) if hasattr(o, "data")]

    core.issue(kind="promise", now=1.0, body={"n": 1})
    first = frontier_frames()
    again = frontier_frames()
    assert len(first) == 1 and again[0] is first[0]  # the same bytes object: not re-encoded
    core.issue(kind="promise", now=2.0, body={"n": 2})  # the head moves
    moved = frontier_frames()
    assert moved[0] != first[0]
    entries = wire.decode_frame(moved[0]).entries  # type: ignore[union-attr]
    assert [(e.agent, e.seq, e.head) for e in entries] == [
        (a, s, h) for a, (s, h) in sorted(core.heads.items())]
