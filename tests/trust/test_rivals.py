"""`Observer.rivals`: each member of a conflict set with its support and accepters,
ranked as `consensus` ranks them (the query behind `troth conflicts`)."""

from __future__ import annotations

import pytest

from trust import Observer, SlotKey

from .conftest import World, feed


def test_rivals_agree_with_consensus_and_name_the_builders(world: World) -> None:
    charter = world.tok("alice", "charter", 1, body={"members": (
        world.id("alice"), world.id("bob"), world.id("carol"), world.id("dave"))})
    x = world.tok("alice", "claim", 2, scope=charter.cid, body={"slot": "chair"})
    y = world.tok("bob", "claim", 2, scope=charter.cid, body={"slot": "chair"})
    world.tok("carol", "vote", 2, deps=(x.cid,))
    world.tok("dave", "vote", 2, deps=(x.cid, y.cid))  # both: counts for neither
    o = Observer(world.id("olivia"))
    feed(o, world.tokens)
    key = SlotKey(charter.cid, "chair")
    c = o.consensus(key)
    rivals = o.rivals(key)
    assert [r.cid for r in rivals] == [x.cid, y.cid] and c.leader == x.cid
    assert rivals[0].support == pytest.approx(c.support) == pytest.approx(2 / 4)
    assert rivals[0].accepters == {world.id(n) for n in ("alice", "carol", "dave")}
    assert rivals[0].split == {world.id("dave")}
    assert rivals[1].support == pytest.approx(1 / 4) == pytest.approx(c.alternatives[0][1])
    assert o.accepters(x.cid) == rivals[0].accepters
    assert o.conflict_keys_of(x.cid) == (key,)
    assert o.rivals(SlotKey(charter.cid, "nobody")) == []
