"""The durable store: append, reopen and replay, check."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from node.core import Core, Publish
from node.store import Store, StoreError
from node.store.engine import Engine
from tests.harness import ident


def test_reopening_replays_into_the_same_state(tmp_path: Path) -> None:
    db = tmp_path / "node.sqlite"
    eng = Engine(Store(db), ident(1))
    other = Core(ident(2))
    for i in range(10):
        eng.issue(kind="promise", now=float(i), body={"i": i})
        outs = other.issue(kind="promise", now=float(i))
        eng.receive_gossip("peer", outs[0].token.raw, float(i))  # type: ignore[union-attr]
    heads, digest = dict(eng.core.heads), eng.core.digest()
    eng.close()
    again = Engine(Store(db), ident(1))
    assert again.core.heads == heads and again.core.digest() == digest
    assert len(again.store) == 20
    tok, _ = again.issue(kind="promise", now=99.0)
    assert tok.seq == 11
    report = again.store.check()
    assert report.ok and report.tokens == 21
    again.close()


def test_issue_many_is_durable_together_and_stops_at_a_refusal(tmp_path: Path) -> None:
    db = tmp_path / "node.sqlite"
    eng = Engine(Store(db), ident(1))
    commits = []
    append = eng.store.append
    eng.store.append = lambda rows, **kw: (commits.append(len(rows)), append(rows, **kw))[1]  # type: ignore[method-assign]
    burst = eng.issue_many([{"kind": "promise", "body": {"i": i}} for i in range(3)], now=1.0)
    assert [t.seq for t in burst.tokens] == [1, 2, 3] and burst.refused is None
    assert commits == [3]  # one transaction for the burst
    assert [o.data for o in burst.outputs if isinstance(o, Publish)] == [
        t.raw for t in burst.tokens]
    # A request the core refuses (a dep it does not hold) stops the batch there.
    part = eng.issue_many([{"kind": "promise"}, {"kind": "promise", "deps": ("nope",)},
                           {"kind": "promise"}], now=2.0)
    assert [t.seq for t in part.tokens] == [4]
    assert isinstance(part.refused, ValueError) and "does not hold" in str(part.refused)
    eng.close()
    again = Engine(Store(db), ident(1))
    assert again.core.own_seq() == 4
    again.close()


def test_store_belongs_to_one_identity(tmp_path: Path) -> None:
    db = tmp_path / "node.sqlite"
    Engine(Store(db), ident(1)).close()
    with pytest.raises(StoreError, match="belongs to"):
        Engine(Store(db), ident(2))


def test_append_is_idempotent_and_indexes_deps(tmp_path: Path) -> None:
    core = Core(ident(1))
    t1 = core.issue(kind="promise", now=1)[0].token  # type: ignore[union-attr]
    t2 = core.issue(kind="assess", now=2, deps=(t1.cid,), about=t1.cid)[0].token  # type: ignore[union-attr]
    with Store(tmp_path / "s.sqlite") as st:
        assert st.append([t1, t2]) == 2
        assert st.append([t1]) == 0
        assert st.dependents(t1.cid) == [t2.cid]
        assert st.chain(t1.issuer) == [(1, t1.cid), (2, t2.cid)]
        assert st.get(t2.cid) == t2.raw and max(s for s, _ in st.chain(t1.issuer)) == 2


def test_check_finds_tampered_rows(tmp_path: Path) -> None:
    core = Core(ident(1))
    toks = [core.issue(kind="promise", now=i)[0].token for i in range(3)]  # type: ignore[union-attr]
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.append(toks)
    db = sqlite3.connect(path)
    raw = bytearray(toks[1].raw)
    raw[-1] ^= 0xFF
    db.execute("UPDATE tokens SET raw=? WHERE cid=?", (bytes(raw), toks[1].cid))
    db.execute("UPDATE tokens SET seq=7 WHERE cid=?", (toks[2].cid,))
    db.commit()
    db.close()
    with Store(path) as st:
        report = st.check()
    assert not report.ok
    text = "\n".join(report.problems)
    assert "does not verify" in text and "index columns disagree" in text


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "junk.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(bad)


def test_a_failed_store_write_stops_the_engine_and_a_restart_recovers(tmp_path: Path) -> None:
    """Review fix: when SQLite refuses a write, the core's memory is ahead of the
    disk; the engine must refuse everything after (no publish of what is not
    durable), and a restart resumes from the disk without reusing a seq."""
    import sqlite3

    from node.core import Publish
    from node.store.engine import EngineFailed

    db = tmp_path / "node.sqlite"
    failures: list[EngineFailed] = []
    eng = Engine(Store(db), ident(1), on_failure=failures.append)
    first, _ = eng.issue(kind="promise", now=1.0)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(EngineFailed):
        eng.issue(kind="promise", now=2.0)
    assert failures and eng.failed is not None
    with pytest.raises(EngineFailed):
        eng.receive_gossip("peer", first.raw, 3.0)
    blocker.execute("ROLLBACK")
    blocker.close()
    eng.close()
    again = Engine(Store(db), ident(1))
    assert again.core.own_seq() == 1  # the refused token never existed
    token, outs = again.issue(kind="promise", now=4.0)
    assert token.seq == 2 and any(isinstance(o, Publish) for o in outs)
    again.close()


def test_debug_engine_checks_the_core_after_every_batch(tmp_path: Path) -> None:
    """In debug mode a corrupted core stops the engine at the next batch."""
    from node.store.engine import EngineFailed

    eng = Engine(Store(tmp_path / "node.sqlite"), ident(1), debug=True)
    eng.issue(kind="promise", now=1.0)
    eng.core.index.equivocators.add("nobody")
    with pytest.raises(EngineFailed, match="equivocators"):
        eng.tick(2.0)


def test_a_received_batch_commits_without_fsync_and_an_own_one_with_it(tmp_path: Path) -> None:
    """ADR 0019: only batches holding the node's own tokens wait for the disk."""
    eng = Engine(Store(tmp_path / "node.sqlite"), ident(1))
    statements: list[str] = []
    eng.store._db.set_trace_callback(statements.append)
    other = Core(ident(2))
    theirs = next(o for o in other.issue(kind="promise", now=1.0) if isinstance(o, Publish))
    eng.receive_gossip("peer", theirs.data, 1.0)
    assert statements[0] == "PRAGMA synchronous=NORMAL" and "COMMIT" in statements
    assert statements[-1] == "PRAGMA synchronous=FULL"
    statements.clear()
    eng.issue(kind="promise", now=2.0)
    assert "COMMIT" in statements and not any("synchronous" in s for s in statements)
    assert eng.store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL between writes
    eng.close()
