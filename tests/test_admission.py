"""Admission in the core: the horizon, strangers' quota and budget, and sync
fetching a stranger who enters the horizon (node/core/admission.py)."""

from __future__ import annotations

import pytest

import wire
from node.core import Core, CoreParams, Output, Persist, Send
from node.core.admission import AdmissionParams
from node.core.sync import STRANGER_PULLS_MAX
from tests.harness import Net, ident

QUOTA, BUDGET, WINDOW_S = 3, 10, 1000.0


def _victim_net(others: int, *, hops_max: int = 2) -> tuple[Net, str, list[str]]:
    """One core with admission (the victim) and `others` without, all linked."""
    params = CoreParams(sync_interval_s=1.0, request_retry_s=1.0,
                        admission=AdmissionParams(hops_max=hops_max, stranger_quota=QUOTA,
                                                  stranger_budget=BUDGET,
                                                  stranger_budget_window_s=WINDOW_S))
    victim = Core(ident(1), params)
    assert victim.agent_id is not None
    cores = {victim.agent_id: victim}
    for i in range(others):
        c = Core(ident(i + 2), CoreParams(sync_interval_s=1.0, request_retry_s=1.0))
        assert c.agent_id is not None
        cores[c.agent_id] = c
    net = Net(cores=cores)
    net.connect_all()
    return net, victim.agent_id, [a for a in cores if a != victim.agent_id]


def _chain(net: Net, agent: str, n: int, **kw: object) -> list[wire.Token]:
    return [net.issue(agent, kind="promise", body={"text": f"{i}"}, **kw) for i in range(n)]


def _held_of(core: Core, agent: str) -> int:
    return len(core.chains.get(agent, ()))


def test_a_stranger_gets_its_quota_and_the_rest_is_ignored_not_stored() -> None:
    net, me, (s,) = _victim_net(1)
    _chain(net, s, 5)
    net.deliver_all()
    v = net.cores[me]
    assert _held_of(v, s) == QUOTA and v.pending_count() == 0
    report = v.admission.report(net.now) if v.admission else {}
    assert report["admitted"] == {"inside": 0, "needed": 0, "stranger": QUOTA}
    assert report["ignored"] == {"stranger-quota": 2}
    assert report["stranger_budget_used"] == QUOTA
    # Sync rounds do not pull the rest back in.
    for _ in range(5):
        net.step()
    assert _held_of(v, s) == QUOTA


def test_the_shared_budget_bounds_all_strangers_together() -> None:
    net, me, strangers = _victim_net(5)
    for s in strangers:
        _chain(net, s, QUOTA)
    net.deliver_all()
    for _ in range(5):
        net.step()
    v = net.cores[me]
    held = sum(_held_of(v, s) for s in strangers)
    assert held == BUDGET  # 5 x 3 offered, 10 taken
    assert v.admission is not None and v.admission.budget_used == BUDGET
    assert v.admission.counts.get("stranger-budget", 0) >= 5


def test_the_budget_refills_as_its_charges_age_and_a_restart_rebuilds_it() -> None:
    """In scripted time: the budget is spent at t=0 by 4 strangers; at t=600
    a fifth is ignored; once the window has passed the budget is back, and
    the fifth is heard (sync pulls what was ignored). Store growth: at most
    BUDGET strangers' tokens in any window. A restart from the log (with the
    stored seen_at) rebuilds the same window."""
    net, me, strangers = _victim_net(5)
    v = net.cores[me]
    persisted: list[tuple[bytes, float | None]] = []
    route = net.route

    def recording(src: str, outs: list[Output]) -> None:
        if src == me:
            persisted.extend((o.token.raw, o.seen_at) for o in outs if isinstance(o, Persist))
        route(src, outs)

    net.route = recording  # type: ignore[method-assign]
    for s in strangers[:4]:
        _chain(net, s, QUOTA)
    net.deliver_all()
    adm = v.admission
    assert adm is not None
    assert (adm.budget_used, adm.budget_left(0.0), adm.budget_refills_at(0.0)) == (
        BUDGET, 0, WINDOW_S)
    assert adm.report(0.0)["stranger_budget_refill_in_s"] == WINDOW_S
    late = strangers[4]
    net.step(600.0)
    _chain(net, late, QUOTA)
    net.deliver_all()
    assert _held_of(v, late) == 0 and adm.counts["stranger-budget"] >= 2 + QUOTA
    assert adm.report(net.now)["stranger_budget_refill_in_s"] == WINDOW_S - 600.0
    restarted = Core(ident(1), v.params)
    restarted.restore(persisted)
    radm = restarted.admission
    assert radm is not None and radm.charged == adm.charged
    assert (radm.budget_left(net.now), radm.budget_refills_at(net.now)) == (0, WINDOW_S)
    # The window passes: the charges of t=0 age out, and sync rounds pull
    # the late stranger's quota (and what the budget ignored of the others).
    for _ in range(4):
        net.step(100.0)
    assert net.now == 1000.0 and adm.budget_left(net.now) > 0
    for _ in range(3):
        net.step(1.0)
    assert _held_of(v, late) == QUOTA
    # In the second window: the late stranger's quota and the two the budget
    # ignored at t=0: 5 of a budget of 10 (store growth <= BUDGET a window).
    held = sum(_held_of(v, s) for s in strangers)
    assert (held, adm.budget_used) == (BUDGET + QUOTA + 2, QUOTA + 2)
    assert adm.budget_refills_at(net.now) == WINDOW_S + 1000.0  # what was taken at 1000
    v.check_invariants()
    restarted = Core(ident(1), v.params)
    restarted.restore(persisted)
    assert restarted.admission is not None
    assert restarted.admission.report(net.now) | {"admitted": 0, "ignored": 0} == \
        adm.report(net.now) | {"admitted": 0, "ignored": 0}
    restarted.check_invariants()


def test_an_issuer_the_node_builds_on_is_inside_and_never_dropped() -> None:
    net, me, (friend,) = _victim_net(1)
    first = net.issue(friend, kind="promise", body={"text": "hello"})
    net.deliver_all()
    net.issue(me, kind="assess", about=first.cid, body={"verdict": "kept"})
    _chain(net, friend, 40)
    net.deliver_all()
    v = net.cores[me]
    assert v.admission is not None and v.admission.dist[friend] == 1
    assert _held_of(v, friend) == 41
    assert v.admission.budget_used == 0  # its first token was refunded on entry


def test_hops_bound_the_horizon() -> None:
    net, me, (a, b, c) = _victim_net(3, hops_max=2)
    ta = net.issue(a, kind="promise", body={"text": "a"})
    net.deliver_all()
    net.issue(me, kind="promise", body={"text": "on a"}, deps=(ta.cid,))  # a at 1
    tb = net.issue(b, kind="promise", body={"text": "b"})
    net.deliver_all()
    ta2 = net.issue(a, kind="assess", about=tb.cid, body={"verdict": "kept"})  # b at 2
    tc = _chain(net, c, 5)[-1]  # past c's quota: ignored for now
    net.deliver_all()
    assert tc.cid not in net.cores[me].tokens
    net.issue(b, kind="promise", body={"text": "on c"}, deps=(tc.cid,))  # c would be at 3
    net.deliver_all()
    adm = net.cores[me].admission
    assert adm is not None and ta2.cid in net.cores[me].tokens
    assert (adm.dist.get(a), adm.dist.get(b), adm.dist.get(c)) == (1, 2, None)
    # ...yet c's token that b built on is held: the causal past of an inside token.
    assert tc.cid in net.cores[me].tokens


def test_a_stranger_who_enters_the_horizon_is_fetched_by_sync() -> None:
    net, me, (friend, s) = _victim_net(2)
    tf = net.issue(friend, kind="promise", body={"text": "f"})
    net.deliver_all()
    net.issue(me, kind="promise", body={"text": "on f"}, deps=(tf.cid,))
    early = _chain(net, s, 8)
    net.deliver_all()
    v = net.cores[me]
    assert _held_of(v, s) == QUOTA
    # The friend admits s to its community: s is inside (a member), and the
    # next sync rounds fetch the five tokens ignored before.
    net.issue(friend, kind="charter", body={"name": "c", "members": sorted([friend, s, me])})
    net.deliver_all()
    assert v.admission is not None and v.admission.inside(s)
    for _ in range(4):
        net.step()
    assert _held_of(v, s) == 8 and all(t.cid in v.tokens for t in early)
    assert v.admission.budget_used == 0


def test_what_an_inside_token_builds_on_is_fetched_whole() -> None:
    net, me, (friend, s) = _victim_net(2, hops_max=1)
    tf = net.issue(friend, kind="promise", body={"text": "f"})
    net.deliver_all()
    net.issue(me, kind="promise", body={"text": "on f"}, deps=(tf.cid,))  # friend at 1 = max
    chain = _chain(net, s, 7)
    net.deliver_all()
    net.issue(friend, kind="promise", body={"text": "on s"}, deps=(chain[-1].cid,))
    net.deliver_all()
    for _ in range(4):
        net.step()
    v = net.cores[me]
    assert v.admission is not None and not v.admission.inside(s)  # beyond hops_max...
    assert _held_of(v, s) == 7 and v.pending_count() == 0  # ...but its whole past is held


def test_a_sybil_charter_of_a_stranger_admits_nobody() -> None:
    net, me, (s,) = _victim_net(1)
    sybils = sorted(ident(100 + i).agent_id for i in range(20))
    net.issue(s, kind="charter", body={"name": "sybils", "members": [*sybils, me]})
    net.deliver_all()
    adm = net.cores[me].admission
    assert adm is not None and set(adm.dist) == {me}


def test_restore_rebuilds_the_horizon_and_the_charges() -> None:
    net, me, (friend, s) = _victim_net(2)
    tf = net.issue(friend, kind="promise", body={"text": "f"})
    net.deliver_all()
    net.issue(me, kind="promise", body={"text": "on f"}, deps=(tf.cid,))
    _chain(net, s, 5)
    net.deliver_all()
    v = net.cores[me]
    again = Core(ident(1), v.params)
    log = [t.raw for t in _apply_order(v)]
    again.restore(log)
    assert again.admission is not None and v.admission is not None
    assert again.admission.dist == v.admission.dist
    assert again.admission.charged == v.admission.charged
    again.check_invariants()


def _apply_order(core: Core) -> list[wire.Token]:
    """Tokens parents first (a valid log order)."""
    out: list[wire.Token] = []
    seen: set[str] = set()

    def visit(cid: str) -> None:
        if cid in seen:
            return
        seen.add(cid)
        t = core.tokens[cid]
        for p in (t.prev, *t.deps):
            if p is not None:
                visit(p)
        out.append(t)
    for cid in sorted(core.tokens):
        visit(cid)
    return out


@pytest.mark.parametrize("reverse", [False, True])
def test_the_horizon_does_not_depend_on_arrival_order(reverse: bool) -> None:
    src, me, (a, b) = _victim_net(2)
    ta = src.issue(a, kind="promise", body={"text": "a"})
    src.deliver_all()
    src.issue(me, kind="promise", body={"text": "on a"}, deps=(ta.cid,))
    tb = src.issue(b, kind="promise", body={"text": "b"})
    src.deliver_all()
    src.issue(a, kind="promise", body={"text": "on b"}, deps=(tb.cid,))
    src.deliver_all()
    order = _apply_order(src.cores[a])
    fresh = Core(ident(1), src.cores[me].params)
    items = [(a, t.raw) for t in (reversed(order) if reverse else order) if t.issuer != me]
    fresh.receive_gossip_many(items, 0.0)
    own = [t for t in order if t.issuer == me]
    fresh.receive_gossip_many([(a, t.raw) for t in own], 0.0)
    fresh.check_invariants()
    assert fresh.admission is not None and src.cores[me].admission is not None
    assert fresh.admission.dist == src.cores[me].admission.dist


def test_the_gossip_pre_filter_counts_what_it_ignores() -> None:
    net, me, (s,) = _victim_net(1)
    toks = _chain(net, s, 5)
    v = Core(ident(1), net.cores[me].params)
    heads = [wire.peek_token(t.raw) for t in toks]
    assert v.judge_gossip(heads[0], toks[0].cid, 0.0) == "stranger"  # kept here, not spread
    assert v.judge_gossip(heads[4], toks[4].cid, 0.0) == "stranger-quota"
    assert v.admission is not None
    assert v.admission.report(0.0)["ignored"] == {"stranger-quota": 1}
    # Admission off: everything passes.
    assert Core(ident(1)).judge_gossip(heads[4], toks[4].cid, 0.0) is None


def test_sync_pushes_only_the_horizon_and_strangers_are_pulled_by_who_wants_them() -> None:
    net, me, (s,) = _victim_net(1)
    _chain(net, s, QUOTA)
    _chain(net, me, 2)
    net.deliver_all()
    assert _held_of(net.cores[me], s) == QUOTA
    # A newcomer with no room for strangers, linked to the victim only.
    full = Core(ident(50), CoreParams(sync_interval_s=1.0, admission=AdmissionParams(
        stranger_quota=QUOTA, stranger_budget=0)))
    assert full.agent_id is not None
    net.cores[full.agent_id] = full
    full.issue(kind="promise", body={"text": "hi", "to": me}, now=net.now)  # me: inside
    net.connect(me, full.agent_id)
    for _ in range(6):
        net.step()
    assert full.admission is not None
    assert _held_of(full, me) == 2  # the victim's own (inside its horizon): pushed
    # s's were not: pushed, they would arrive every round and be ignored every round.
    assert full.admission.counts == {"inside": 2} and _held_of(full, s) == 0


def test_one_frontier_makes_the_core_ask_for_only_a_few_strangers() -> None:
    # A peer's frontier names many strangers (a flood of fresh identities):
    # one round asks for STRANGER_PULLS_MAX of their chains, each up to the
    # quota; the next round, while those requests are recent, the next few.
    params = CoreParams(admission=AdmissionParams(stranger_quota=QUOTA, stranger_budget=BUDGET))
    core = Core(ident(1), params)
    peer = ident(2).agent_id
    core.peer_up(peer, 0.0)
    core.tick(params.sync_interval_s)  # a round: our Hello, which the Frontier answers
    strangers = sorted(ident(100 + i).agent_id for i in range(3 * STRANGER_PULLS_MAX))
    head = wire.cid_of(b"head")
    frontier = wire.encode_frame(wire.Frontier(entries=tuple(
        wire.FrontierEntry(agent=a, seq=50, head=head) for a in strangers)))

    def ranges(now: float) -> list[wire.WantRange]:
        frames = [wire.decode_frame(o.data) for o in core.receive_frame(peer, frontier, now)
                  if isinstance(o, Send)]
        return [f for f in frames if isinstance(f, wire.WantRange)]

    t = params.sync_interval_s
    asked = ranges(t + 0.5)
    assert [(r.agent, r.first_seq, r.last_seq) for r in asked] == [
        (a, 1, QUOTA) for a in strangers[:STRANGER_PULLS_MAX]]
    n = STRANGER_PULLS_MAX
    assert [r.agent for r in ranges(t + 1.0)] == strangers[n:2 * n]
