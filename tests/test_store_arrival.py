"""Arrival times in the durable store: a backdated ballot stays late across restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import wire
from node.core import Core, Persist, Publish, Send
from node.store import Store, StoreError
from node.store.engine import Engine
from node.store.sqlite import SCHEMA_VERSION
from tests.harness import ident
from trust import governance

CLOSES = 1000


def _token(outs: list) -> wire.Token:  # type: ignore[type-arg]
    return next(o.token for o in outs if isinstance(o, Persist))


def _vote_setup(db: Path) -> tuple[Engine, Core, Core, wire.Token]:
    """Alice (an Engine on `db`), Bob and Carol (bare cores) in a 3-member club;
    a yes/no proposal closing at 1000; Alice votes yes and Bob no (a tie: yes wins)."""
    alice = Engine(Store(db), ident(1))
    bob, carol = Core(ident(2)), Core(ident(3))
    members = [alice.core.agent_id, bob.agent_id, carol.agent_id]
    charter, _ = alice.issue(kind="charter", now=1.0,
                             body=governance.charter_body("club", members))  # type: ignore[arg-type]
    prop, _ = alice.issue(kind="proposal", now=2.0, scope=charter.cid, deps=(charter.cid,),
                          body=governance.proposal_body("q?", ["yes", "no"], "single", CLOSES))
    for other in (bob, carol):
        other.receive_gossip("alice", charter.raw, 3.0)
        other.receive_gossip("alice", prop.raw, 3.0)
    alice.issue(kind="ballot", now=100.0, scope=charter.cid, about=prop.cid, deps=(prop.cid,),
                body=governance.ballot_body(["yes"]))
    nay = _token(bob.issue(kind="ballot", now=110.0, scope=charter.cid, about=prop.cid,
                           deps=(prop.cid,), body=governance.ballot_body(["no"])))
    alice.receive_gossip("bob", nay.raw, 111.0)
    return alice, bob, carol, prop


def _tallies(core: Core) -> int:
    return sum(t.kind == "tally" for t in core.tokens.values())


def test_a_backdated_ballot_after_close_changes_nothing_even_after_restart(
        tmp_path: Path) -> None:
    db = tmp_path / "alice.sqlite"
    alice, bob, carol, prop = _vote_setup(db)
    for t in list(alice.core.tokens.values()):
        bob.receive_gossip("alice", t.raw, 112.0)
    # after closes + skew both honest members tally "yes"
    outs = alice.tick(1100.0)
    for o in outs:
        if isinstance(o, Publish):
            bob.receive_gossip("alice", o.data, 1100.0)
        elif isinstance(o, Send):
            bob.receive_frame("alice", o.data, 1100.0)
    for o in bob.tick(1100.0):
        if isinstance(o, Persist) and o.token.kind == "tally":
            alice.receive_gossip("bob", o.token.raw, 1101.0)
    out = alice.core.governance.outcome(prop.cid, 1101.0)
    assert (out.state, out.result) == ("decided", "yes")
    assert _tallies(alice.core) == 2
    # Carol signs a ballot dated before closing and publishes it hours later
    late = _token(carol.issue(kind="ballot", now=990.0, scope=prop.scope, about=prop.cid,
                              deps=(prop.cid,), body=governance.ballot_body(["no"])))
    assert late.iat == 990
    alice.receive_gossip("carol", late.raw, 5000.0)
    alice.tick(5001.0)
    assert _tallies(alice.core) == 2  # no re-tally
    assert alice.store.seen_at(late.cid) == 5000.0
    g = alice.core.governance
    assert late.cid not in g.cut_for(prop.cid)
    assert (g.outcome(prop.cid, 5001.0).state, g.outcome(prop.cid, 5001.0).result) == (
        "decided", "yes")
    ex = g.explain(prop.cid, carol.agent_id or "", 5001.0)
    assert [s.state for s in ex.ballots] == ["late-on-arrival"]
    alice.close()
    # restart from the file: the arrival time comes back with the token
    again = Engine(Store(db), ident(1))
    g = again.core.governance
    assert g.seen_at(late.cid) == 5000.0
    assert late.cid not in g.cut_for(prop.cid)
    assert g.tally_plan(prop.cid, 6000.0) is None
    again.tick(6000.0)
    assert _tallies(again.core) == 2
    out = g.outcome(prop.cid, 6000.0)
    assert (out.state, out.result) == ("decided", "yes")
    again.close()


def test_a_ballot_arriving_on_time_counts_and_is_tallied(tmp_path: Path) -> None:
    db = tmp_path / "alice.sqlite"
    alice, _bob, carol, prop = _vote_setup(db)
    ballot = _token(carol.issue(kind="ballot", now=990.0, scope=prop.scope, about=prop.cid,
                                deps=(prop.cid,), body=governance.ballot_body(["no"])))
    alice.receive_gossip("carol", ballot.raw, 1020.0)  # after closing, within the skew allowance
    assert ballot.cid in alice.core.governance.cut_for(prop.cid)
    alice.close()
    again = Engine(Store(db), ident(1))
    assert ballot.cid in again.core.governance.cut_for(prop.cid)
    again.tick(1100.0)
    tally = [t for t in again.core.tokens.values() if t.kind == "tally"]
    assert len(tally) == 1 and tally[0].body["result"] == "no"
    again.close()


_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tokens (
    n      INTEGER PRIMARY KEY,
    cid    TEXT NOT NULL UNIQUE,
    issuer TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    iat    INTEGER NOT NULL,
    raw    BLOB NOT NULL
);
CREATE INDEX tokens_issuer_seq ON tokens (issuer, seq);
CREATE TABLE deps (cid TEXT NOT NULL, dep TEXT NOT NULL, PRIMARY KEY (cid, dep)) WITHOUT ROWID;
CREATE INDEX deps_dep ON deps (dep);
"""


def _schema_1_store(db: Path, n: int) -> Core:
    """A store as a schema-1 troth wrote it: n own promises of ident(1), no seen_at."""
    me = Core(ident(1))
    toks = [_token(me.issue(kind="promise", now=float(i), body={"i": i})) for i in range(n)]
    con = sqlite3.connect(db)
    con.executescript(_SCHEMA_1)
    con.execute("INSERT INTO meta VALUES ('schema', '1')")
    con.execute("INSERT INTO meta VALUES ('agent', ?)", (me.agent_id,))
    con.executemany("INSERT INTO tokens (cid, issuer, seq, kind, iat, raw) VALUES (?,?,?,?,?,?)",
                    [(t.cid, t.issuer, t.seq, t.kind, t.iat, t.raw) for t in toks])
    con.commit()
    con.close()
    return me


def test_a_schema_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    _schema_1_store(db, 3)
    eng = Engine(Store(db), ident(1))
    assert eng.store.meta("schema") == str(SCHEMA_VERSION) == "2"
    assert [at for _, at in eng.store.log()] == [None, None, None]  # arrival unknown
    assert eng.core.own_seq() == 3
    tok, _ = eng.issue(kind="promise", now=50.0)
    assert eng.store.seen_at(tok.cid) == 50.0
    assert eng.store.check().ok
    eng.close()
    again = Store(db)  # a migrated store opens as schema 2, no second migration
    assert len(again) == 4 and again.meta("schema") == "2"
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    Store(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='3' WHERE key='schema'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema 3"):
        Store(db)


def test_restore_takes_bare_bytes_or_bytes_with_arrival() -> None:
    me = Core(ident(1))
    toks = [_token(me.issue(kind="promise", now=float(i))) for i in range(3)]
    bare, timed = Core(ident(1)), Core(ident(1))
    assert bare.restore(t.raw for t in toks) == 3
    assert timed.restore([(toks[0].raw, 0.0), (toks[1].raw, None), toks[2].raw]) == 3
    assert bare.digest() == timed.digest() == me.digest()


def test_a_ballot_held_back_by_a_withheld_parent_arrives_when_it_applies(
        tmp_path: Path) -> None:
    """Arrival is when the ballot is applied: sending it early with a missing
    `prev` and releasing the parent after the close does not make it on time."""
    db = tmp_path / "alice.sqlite"
    alice, _bob, carol, prop = _vote_setup(db)
    withheld = _token(carol.issue(kind="promise", now=980.0, body={"x": 1}))
    late = _token(carol.issue(kind="ballot", now=990.0, scope=prop.scope, about=prop.cid,
                              deps=(prop.cid,), body=governance.ballot_body(["no"])))
    alice.receive_gossip("carol", late.raw, 995.0)  # before closing: waits for its prev
    assert not alice.core.has(late.cid)
    alice.receive_gossip("carol", withheld.raw, 5000.0)  # the parent, hours later
    assert alice.core.has(late.cid)
    assert alice.store.seen_at(late.cid) == 5000.0
    assert late.cid not in alice.core.governance.cut_for(prop.cid)
    alice.close()


def test_a_read_only_check_neither_migrates_nor_writes(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    _schema_1_store(db, 2)
    before = db.read_bytes()
    with Store(db, readonly=True) as st:
        report = st.check()
    assert report.ok and report.tokens == 2
    assert db.read_bytes() == before  # still schema 1: an older troth can still read it
    other = tmp_path / "not-troth.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a readable troth store"):
        Store(other, readonly=True)
    assert "meta" not in str(sqlite3.connect(other).execute(
        "SELECT name FROM sqlite_master").fetchall())  # nothing created in a foreign file
