"""Anti-entropy sync between bare cores over a scripted, lossy network."""

from __future__ import annotations

import pytest

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
