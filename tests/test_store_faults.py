"""Disk faults (docs/security.md, Disk faults): a disk that fills up during a
commit, and a store file damaged on disk (`troth store check` / `repair`).

The full disk is tried twice: injected at the SQLite layer (SQLite's own error
on the Nth commit; runs anywhere) and for real, a `troth run` process whose
home is on a 4 MiB tmpfs (needs root to mount; skipped otherwise). Damage is
done to real store files, byte by byte, as a failing disk would.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import wire
from node.core import Core, OwnChainBehind
from node.store import Store, StoreFull
from node.store.engine import Engine, EngineFailed
from node.store.home import Home
from node.store.repair import repair_store
from tests.harness import Proc, ident, wait_for

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
PAGE_BYTES = 4096  # SQLite's default page size, which the store keeps


def troth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node", *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=60)


def overwrite_inside(path: Path, raw: bytes, at: int = -20, junk: bytes = b"\xff" * 8) -> None:
    """Overwrite bytes inside one token's blob in the file, where SQLite stores it."""
    data = bytearray(path.read_bytes())
    i = data.find(raw)
    assert i >= 0 and data.find(raw, i + 1) < 0, "the token's bytes are in the file once"
    j = i + len(raw) + at
    data[j:j + len(junk)] = junk
    path.write_bytes(bytes(data))


# -- a full disk ------------------------------------------------------------------

class FullAfter:
    """The store's connection, except that the commit after `commits_ok` more
    fails as SQLite fails one that finds no space (SQLITE_FULL)."""

    def __init__(self, db: sqlite3.Connection, commits_ok: int) -> None:
        self._db = db
        self.commits_ok = commits_ok

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            if self.commits_ok == 0:
                raise sqlite3.OperationalError("database or disk is full")
            self.commits_ok -= 1
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_a_full_disk_at_commit_stops_the_engine_and_a_restart_continues(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = Store(path)
    eng = Engine(store, ident(1))
    me = ident(1).agent_id
    handed: dict[int, str] = {}
    for i in range(5):
        tok, _ = eng.issue(kind="promise", now=float(i))
        handed[tok.seq] = tok.cid
    theirs = Core(ident(2)).issue(kind="promise", now=1.0)[0].token  # type: ignore[attr-defined]
    eng.receive_gossip("peer", theirs.raw, 6.0)
    store._db = FullAfter(store._db, commits_ok=2)  # type: ignore[assignment]
    for i in range(2):
        tok, _ = eng.issue(kind="promise", now=7.0 + i)
        handed[tok.seq] = tok.cid
    with pytest.raises(EngineFailed) as caught:
        eng.issue(kind="promise", now=9.0)
    assert caught.value.reason == "disk-full" and "disk is full" in str(caught.value)
    assert isinstance(caught.value.__cause__, StoreFull)
    late = Core(ident(3)).issue(kind="promise", now=1.0)[0].token  # type: ignore[attr-defined]
    with pytest.raises(EngineFailed, match="disk is full"):  # it stays stopped
        eng.receive_gossip("peer", late.raw, 10.0)
    eng.close()
    # Space is freed: the restart holds everything it handed out, and goes on.
    again = Engine(Store(path), ident(1))
    assert dict((s, c) for s, c in again.store.chain(me)) == handed
    assert theirs.cid in again.core.tokens
    tok, _ = again.issue(kind="promise", now=11.0)
    assert tok.seq == max(handed) + 1
    assert again.store.check().ok
    again.close()


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_real_node_on_a_full_disk_stops_cleanly_and_recovers(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    node = Proc(small / "home", [])
    try:
        Home.init(small / "home")
        node.log = tmp_path / "run.log"  # (not on the small disk)
        node.start()
        filler = small / "filler"
        filler.write_bytes(bytes(shutil.disk_usage(small).free - 160 * 1024))
        acked: list[dict[str, Any]] = []
        refused = None
        while refused is None and len(acked) < 10_000:
            try:
                r = node.http.post("/v1/promises", json={"text": "x" * 300})
            except httpx.HTTPError as exc:
                refused = repr(exc)
                break
            if r.status_code == 201:
                acked.append(r.json())
            else:
                refused = f"{r.status_code} {r.text}"
        # The request whose commit failed is answered 503, or its connection
        # closes as the node stops at once: either way it was not acknowledged.
        assert acked and refused is not None, refused
        assert refused.startswith("503") or "disconnected" in refused, refused
        assert node.proc is not None and node.proc.wait(timeout=30) == 1
        node.http.close()
        log = node.log.read_text()
        assert "event=fatal reason=disk-full" in log and "free space on the disk" in log, log
        filler.unlink()
        node.start()
        after = node.promise("after the disk was freed")
        assert after["seq"] == acked[-1]["seq"] + 1
        node.stop()
        with Store(small / "home" / "store.sqlite") as st:
            assert st.check().ok
            chain = dict(st.chain(after["issuer"]))
        assert all(chain[a["seq"]] == a["cid"] for a in acked), "an acknowledged token was lost"
    finally:
        if node.proc is not None and node.proc.poll() is None:
            node.stop()
        subprocess.run(["umount", "-l", str(small)], check=False)


# -- a corrupted store --------------------------------------------------------------

def _store_with(path: Path, n: int) -> tuple[list[wire.Token], list[wire.Token]]:
    """A store of agent 1 with n own tokens and n of agent 2, interleaved."""
    eng = Engine(Store(path), ident(1))
    other = Core(ident(2))
    mine, theirs = [], []
    for i in range(n):
        mine.append(eng.issue(kind="promise", now=float(i), body={"i": i})[0])
        t = other.issue(kind="promise", now=float(i), body={"i": i})[0].token  # type: ignore[attr-defined]
        eng.receive_gossip("peer", t.raw, float(i))
        theirs.append(t)
    eng.close()
    return mine, theirs


def test_repair_keeps_the_own_seq_high_water_mark(tmp_path: Path) -> None:
    """The tail of the node's own chain is damaged: after the repair it holds
    less, but must not sign those seqs again; it does once sync brought them back."""
    path = tmp_path / "store.sqlite"
    mine, _ = _store_with(path, 5)
    overwrite_inside(path, mine[2].raw)
    rep = repair_store(path)
    assert rep.backup is not None and rep.backup.exists()
    assert [d.cid for d in rep.dropped if not d.kept] == [t.cid for t in mine[2:]]
    assert (rep.own_seq, rep.own_seq_floor) == (2, 5)
    eng = Engine(Store(path), ident(1))
    assert eng.core.own_seq() == 2
    with pytest.raises(OwnChainBehind, match="signed up to seq 5"):
        eng.issue(kind="promise", now=20.0)
    assert eng.failed is None  # refused, not failed: nothing changed
    # What sync does: a peer's Tokens frame brings the chain back.
    eng.receive_frame("peer", wire.encode_frame(wire.Tokens(tokens=tuple(
        t.raw for t in mine[2:]))), 21.0)
    tok, _ = eng.issue(kind="promise", now=22.0)
    assert tok.seq == 6 and tok.prev == mine[4].cid
    eng.close()
    assert repair_store(path).backup is None  # intact now: nothing to do


def test_check_and_repair_name_sqlite_structure_damage(tmp_path: Path) -> None:
    """An index entry that no longer matches its row: SQLite's integrity check
    finds it; a rebuild keeps every token (their bytes are intact)."""
    path = tmp_path / "store.sqlite"
    mine, theirs = _store_with(path, 4)
    db = sqlite3.connect(path)
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name='tokens_issuer_seq'"
                      ).fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    page = slice((root - 1) * PAGE_BYTES, root * PAGE_BYTES)
    at = data[page].find(ident(2).agent_id.encode()) + (root - 1) * PAGE_BYTES + 20
    data[at] = ord("X")  # an index key's issuer text, one character
    path.write_bytes(bytes(data))
    out = troth("--json", "store", "check", str(path))
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert any("sqlite integrity_check" in p for p in report["problems"]), report
    assert report["damaged"] == []  # no token lost
    out = troth("--json", "store", "repair", str(path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["kept"] == 8
    assert troth("store", "check", str(path)).returncode == 0


def test_unreadable_pages_hide_no_other_damage(tmp_path: Path) -> None:
    """A table page SQLite cannot read stops a plain scan; the check reads on
    past it and names the rows it lost."""
    path = tmp_path / "store.sqlite"
    mine, theirs = _store_with(path, 30)
    data = bytearray(path.read_bytes())
    where = data.find(mine[15].raw)
    first = (where // PAGE_BYTES) * PAGE_BYTES
    assert data[first] == 0x0D, "a table leaf page"
    data[first] = 0x00  # no page type: "database disk image is malformed"
    path.write_bytes(bytes(data))
    with Store(path, readonly=True) as st:
        report = st.check()
    unreadable = [d for d in report.damage if "unreadable" in d.problem]
    assert unreadable and all(d.cid is None for d in unreadable)
    assert report.tokens + len(unreadable) == 60  # every row accounted for
    rep = repair_store(path)
    with Store(path) as st:
        assert st.check().ok and len(st) == rep.kept
    assert rep.kept < 60 - len(unreadable)  # their chains' later tokens wait for sync


@pytest.mark.slow
def test_a_corrupted_store_is_repaired_and_refilled_from_a_peer(tmp_path: Path) -> None:
    """Two real nodes. B's store file is damaged inside token blobs (its own
    and A's); `troth store check` names them, `troth store repair` rebuilds,
    and B, started again, gets them back from A by sync, then signs on from
    its old seq, not from the repaired one."""
    for name in ("a", "b"):
        Home.init(tmp_path / name)
    a = Proc(tmp_path / "a", [])
    a.start()
    b = Proc(tmp_path / "b", [a.listen[0]])
    b.start()
    try:
        mine = [b.promise(f"b{i}") for i in range(8)]
        theirs = [a.promise(f"a{i}") for i in range(8)]
        wait_for(lambda: a.ident()["frontier_digest"] == b.ident()["frontier_digest"]
                 and b.ident()["tokens"] == 16, "B to hold A's tokens")
        b.stop()
        path = tmp_path / "b" / "store.sqlite"
        with Store(path) as st:
            raws = {c["cid"]: st.get(c["cid"]) for c in mine + theirs}
        victims = [mine[5]["cid"], theirs[2]["cid"]]
        for cid in victims:
            raw = raws[cid]
            assert raw is not None
            overwrite_inside(path, raw)
        out = troth("--json", "store", "check", str(path))
        assert out.returncode == 1
        damaged = json.loads(out.stdout)["damaged"]
        assert set(victims) <= set(damaged)
        # the later tokens of both chains are named too (their chain is broken)
        assert {mine[6]["cid"], mine[7]["cid"], theirs[7]["cid"]} <= set(damaged)
        busy = troth("--home", str(tmp_path / "a"), "store", "repair")
        assert busy.returncode == 1 and "a troth node is running" in busy.stderr
        out = troth("--home", str(tmp_path / "b"), "--json", "store", "repair")
        assert out.returncode == 0, out.stderr
        rep = json.loads(out.stdout)
        assert (rep["own_seq"], rep["own_seq_floor"]) == (5, 8)
        assert Path(rep["backup"]).exists()
        assert troth("--home", str(tmp_path / "b"), "store", "check").returncode == 0
        b.start()
        wait_for(lambda: b.ident()["tokens"] == 16
                 and a.ident()["frontier_digest"] == b.ident()["frontier_digest"],
                 "B to fetch the damaged tokens back from A")
        after = b.promise("after the repair")
        assert after["seq"] == 9 and after["prev"] == mine[7]["cid"]
    finally:
        for p in (a, b):
            if p.proc is not None and p.proc.poll() is None:
                p.stop()
    with Store(path) as st:
        assert st.check().ok
        assert {st.get(c) for c in raws} == set(raws.values())  # the same bytes as before
