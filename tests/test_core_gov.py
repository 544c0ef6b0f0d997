"""Governance through the node core: nodes tally by themselves when a vote closes."""

from __future__ import annotations

from node.core import CoreParams, OutcomeChanged
from tests.harness import Net
from trust import governance


def test_members_publish_tallies_at_close_and_all_see_the_decision() -> None:
    net = Net.of(5, CoreParams(sync_interval_s=1.0), seed=7, loss=0.1, reorder=True)
    net.connect_all()
    ids = sorted(net.cores)
    members, outsider = ids[:4], ids[4]
    chair = members[0]
    charter = net.issue(chair, kind="charter",
                        body=governance.charter_body("garden club", members))
    net.run_until_converged()
    view = net.cores[chair].governance.current_view(charter.cid)
    assert view is not None and view.members == frozenset(members)
    closes = int(net.now) + 10
    prop = net.issue(chair, kind="proposal", scope=charter.cid, deps=(view.cid,),
                     body=governance.proposal_body("Buy a lawnmower?", ["yes", "no"], "single",
                                              closes))
    net.run_until_converged()

    def vote(agent: str, choice: str) -> None:
        net.issue(agent, kind="ballot", scope=charter.cid, about=prop.cid, deps=(prop.cid,),
                  body=governance.ballot_body([choice]))

    vote(members[0], "yes")
    vote(members[1], "no")
    vote(members[1], "yes")  # changes her mind: supersedes her first ballot
    vote(members[2], "yes")
    vote(members[3], "no")
    vote(outsider, "no")  # not a member: kept as evidence, never counted
    net.run_until_converged()
    outcome = net.cores[outsider].governance.outcome(prop.cid, net.now)
    assert outcome.state == "open"
    # time passes beyond closing + skew; every member's node tallies by itself
    for _ in range(60):
        net.step(1.0)
        if all(c.governance.outcome(prop.cid, net.now).state == "decided"
               for c in net.cores.values()):
            break
    net.run_until_converged()
    for agent, core in net.cores.items():
        o = core.governance.outcome(prop.cid, net.now)
        assert (o.state, o.result) == ("decided", "yes"), (agent[-6:], o.state, o.reason)
    tallies = [t for t in net.cores[outsider].tokens.values() if t.kind == "tally"]
    assert sorted({t.issuer for t in tallies}) == sorted(members)  # members only
    expl = net.cores[outsider].governance.explain(prop.cid, members[1], net.now)
    assert [b.state for b in expl.ballots] == ["superseded", "counted"]
    out = net.cores[outsider].governance.explain(prop.cid, outsider, net.now)
    assert [b.state for b in out.ballots] == ["non-member"]


def test_outcome_changes_are_emitted_as_outputs() -> None:
    net = Net.of(2, CoreParams(sync_interval_s=1.0))
    net.connect_all()
    a, b = sorted(net.cores)
    charter = net.issue(a, kind="charter", body=governance.charter_body("pair", [a, b]))
    net.deliver_all()
    view = net.cores[a].governance.current_view(charter.cid)
    assert view is not None
    prop = net.issue(a, kind="proposal", scope=charter.cid, deps=(view.cid,),
                     body=governance.proposal_body("Meet on Friday?", ["yes", "no"], "single",
                                              int(net.now) + 5))
    outs = net.cores[b].receive_gossip(a, prop.raw, net.now)
    changed = [o.outcome for o in outs if isinstance(o, OutcomeChanged)]
    assert [(o.proposal, o.state) for o in changed] == [(prop.cid, "open")]


def test_a_close_crossed_by_a_receive_still_gets_its_tally() -> None:
    """Regression: a receive() whose `now` passed the closing time used to hide the
    deadline from the next tick(), so the node never published its tally."""
    import wire
    from node.core import Core
    from tests.harness import ident

    me = Core(ident(1))
    agent = me.agent_id
    assert agent is not None
    charter = me.issue(kind="charter", now=1000.0,
                       body=governance.charter_body("c", [agent]))[0].token  # type: ignore[union-attr]
    view = me.governance.current_view(charter.cid)
    assert view is not None
    prop = me.issue(kind="proposal", now=1000.0, scope=charter.cid, deps=(view.cid,),
                    body=governance.proposal_body("q?", ["yes", "no"], "single", 1010))[0].token  # type: ignore[union-attr]
    me.issue(kind="ballot", now=1000.0, scope=charter.cid, about=prop.cid, deps=(prop.cid,),
             body=governance.ballot_body(["yes"]))
    me.tick(1001.0)
    hello = wire.encode_frame(wire.Hello(digest=bytes(32), agents=0))
    me.receive_frame(ident(2).agent_id, hello, 4600.0)  # any frame, well past closing + skew
    me.tick(4601.0)
    assert [t.kind for t in me.tokens.values()].count("tally") == 1
