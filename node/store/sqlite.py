"""The durable store: an append-only SQLite log of verified tokens.

Theory of operation: the log is the node's memory. Every token the core
accepts (its own included) is appended here, in the order the core applied
it, which is a causal order (a token is applied only after its `prev` and its
`deps`). Every derived view (chains, frontier, verdicts, trust, tallies) is
rebuilt by replaying the log in that order into a fresh core.

Durability: WAL journal, one transaction per batch of appends. `append`
returns only after the commit, so the driver can hand a token to the network
only after it is stored; that is what keeps a node from ever signing two
tokens with one seq across a crash (docs/architecture.md, Outputs contract).
Every write is `synchronous=FULL` (an fsync per commit) except an append with
`fsync=False`, which the engine asks for when a batch holds none of the node's
own tokens: committed to the WAL, so it survives the process being killed,
and made durable against a power cut by the next fsync'd commit (SQLite's
WAL checksums drop a torn tail; what is lost is refetched by sync).
docs/decisions/0019-received-tokens-fsync.md says why.

Rows hold the exact token bytes; everything else in a row is an index derived
from them, and `check()` re-derives and compares it all, except `seen_at`:
when this node applied (received or issued) the token, on its own clock, written
in the same transaction as the token. It is the node's own observation, not a
fact of the bytes (governance judges lateness-on-arrival by it), and NULL in
rows written before schema 2.

A full disk makes `append` roll its transaction back and raise `StoreFull`
(the engine then stops the node; docs/security.md, Disk faults). A damaged
file is read row by row (`rows`), so `troth store check` names every damaged
token and `troth store repair` (repair.py) can rebuild from the rest.

Schema history: 1 = tokens, deps, meta; 2 = adds `tokens.seen_at` (a schema-1
store is migrated in place on open).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import wire

from .check import CheckReport, Damage, StoredRow, check_rows

__all__ = ["Store", "StoreError", "StoreFull", "CheckReport"]

# A scan that hits an unreadable page probes the rows after it one by one, up
# to the highest row number SQLite still reports, or this many if it reports none.
_PROBE_ROWS_MAX = 1_000_000

SCHEMA_VERSION = 2
# meta key: the highest seq the store's agent is known to have signed, written
# by `troth store repair` when the rebuilt log holds less of its own chain
# (repair.py); the engine hands it to the core, which then refuses to sign below it.
META_OWN_SEQ_FLOOR = "own_seq_floor"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    n      INTEGER PRIMARY KEY,          -- append (= apply) order
    cid    TEXT NOT NULL UNIQUE,
    issuer TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    iat    INTEGER NOT NULL,
    raw    BLOB NOT NULL,
    seen_at REAL                          -- arrival here (node clock); NULL: unknown
);
CREATE INDEX IF NOT EXISTS tokens_issuer_seq ON tokens (issuer, seq);
CREATE TABLE IF NOT EXISTS deps (cid TEXT NOT NULL, dep TEXT NOT NULL, PRIMARY KEY (cid, dep))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deps_dep ON deps (dep);
"""


class StoreError(Exception):
    """The store file cannot be used (wrong schema, corrupt, unwritable)."""


class StoreFull(StoreError):
    """The file system holding the store is full. The write was rolled back:
    everything committed before it is intact; free space and restart."""


def _disk_full(exc: sqlite3.OperationalError) -> bool:
    return (getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            or "database or disk is full" in str(exc))


class Store:
    """An open store file. Not thread-safe; one writer (the node) at a time."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        """Open (creating or migrating as needed), or with `readonly` only read:
        nothing is created, migrated or written (`troth store check`)."""
        self.path = Path(path)
        if readonly:
            self._open_readonly()
            return
        try:
            # Fail fast on a locked database (one node per home is enforced by
            # a file lock; a long busy wait would stall the node's event loop).
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=2.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=OFF")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] == "1":
                self._migrate_1_to_2()
            elif row[0] != str(SCHEMA_VERSION):
                raise StoreError(f"{self.path}: schema {row[0]}, this troth reads {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def _open_readonly(self) -> None:
        from urllib.parse import quote

        try:
            self._db = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro",
                                       uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=2.0)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a readable troth store ({exc})") from None
        if row is None or row[0] not in ("1", str(SCHEMA_VERSION)):
            raise StoreError(f"{self.path}: schema {row[0] if row else 'unknown'}, this troth "
                             f"reads {SCHEMA_VERSION}")

    def _migrate_1_to_2(self) -> None:
        """Add the nullable `seen_at` column (old rows: NULL = arrival unknown)."""
        with self.transaction() as db:
            cols = {r[1] for r in db.execute("PRAGMA table_info(tokens)")}
            if "seen_at" not in cols:
                db.execute("ALTER TABLE tokens ADD COLUMN seen_at REAL")
            db.execute("UPDATE meta SET value='2' WHERE key='schema'")

    def close(self) -> None:
        self._db.close()

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection, for a table another module owns in this file
        (node/store/answers.py); it keeps to its own table."""
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the connection (BEGIN IMMEDIATE: the write
        lock at once), committed when the block ends, rolled back if it raises."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # (SQLite ends some failed transactions itself)
                db.execute("ROLLBACK")
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------
    def append(self, tokens: Iterable[wire.Token | tuple[wire.Token, float | None]], *,
               fsync: bool = True) -> int:
        """Append verified tokens, in one transaction. Returns how many.

        Each item is a token or (token, seen_at). A cid already present is
        skipped (appending is idempotent; the first seen_at stays).
        `fsync=False`: commit without waiting for the disk (see the module
        docstring: for tokens received, never for the node's own).
        """
        items = [t if isinstance(t, tuple) else (t, None) for t in tokens]
        rows = [(t.cid, t.issuer, t.seq, t.kind, t.iat, t.raw, at) for t, at in items]
        if not rows:
            return 0
        dep_rows = [(t.cid, d) for t, _ in items for d in t.deps]
        if not fsync:
            self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.transaction() as db:
                before = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO tokens (cid, issuer, seq, kind, iat, raw, seen_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                added = db.total_changes - before
                if dep_rows:
                    db.executemany("INSERT OR IGNORE INTO deps VALUES (?, ?)", dep_rows)
        except sqlite3.OperationalError as exc:
            if _disk_full(exc):
                raise StoreFull(f"{self.path}: the disk is full ({exc}); nothing was written "
                                "in this batch, everything before it is stored") from exc
            raise
        finally:
            if not fsync:
                self._db.execute("PRAGMA synchronous=FULL")  # every other write fsyncs
        return added

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- reading ---------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM tokens").fetchone()[0])

    def log(self) -> Iterator[tuple[bytes, float | None]]:
        """(bytes, seen_at) of every stored token, in append order: `Core.restore`'s input."""
        for raw, at in self._db.execute("SELECT raw, seen_at FROM tokens ORDER BY n"):
            yield bytes(raw), None if at is None else float(at)

    def seen_at(self, cid: str) -> float | None:
        """When this node applied the token (its clock), if recorded."""
        row = self._db.execute("SELECT seen_at FROM tokens WHERE cid=?", (cid,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def get(self, cid: str) -> bytes | None:
        row = self._db.execute("SELECT raw FROM tokens WHERE cid=?", (cid,)).fetchone()
        return None if row is None else bytes(row[0])

    def chain(self, issuer: str) -> list[tuple[int, str]]:
        """(seq, cid) of every stored token of one issuer, by seq."""
        return [(int(s), str(c)) for s, c in self._db.execute(
            "SELECT seq, cid FROM tokens WHERE issuer=? ORDER BY seq, cid", (issuer,))]

    def dependents(self, cid: str) -> list[str]:
        """Cids of the stored tokens that list `cid` in their deps."""
        return [str(c) for (c,) in self._db.execute("SELECT cid FROM deps WHERE dep=?", (cid,))]

    def rows(self) -> Iterator[StoredRow | Damage]:
        """Every row, in log order, as SQLite returns it (nothing verified).

        A damaged file can fail part way through a scan: then the rows after
        the last one read are probed one by one, and each row SQLite cannot
        read is yielded as a `Damage`, so one bad page hides nothing else."""
        try:
            names = {str(r[1]) for r in self._db.execute("PRAGMA table_info(tokens)")}
        except sqlite3.DatabaseError:
            names = set()
        at = "seen_at" if "seen_at" in names else "NULL"  # (a schema-1 file read as it is)
        columns = f"n, cid, issuer, seq, kind, iat, raw, {at}"
        last = 0
        try:
            for r in self._db.execute(f"SELECT {columns} FROM tokens ORDER BY n"):
                last = int(r[0])
                yield _row(r)
            return
        except sqlite3.DatabaseError:
            pass
        try:
            top = int(self._db.execute("SELECT max(n) FROM tokens").fetchone()[0] or last)
        except sqlite3.DatabaseError:
            top = last + _PROBE_ROWS_MAX
        for n in range(last + 1, top + 1):
            try:
                r = self._db.execute(f"SELECT {columns} FROM tokens WHERE n=?", (n,)).fetchone()
            except sqlite3.DatabaseError as exc:
                yield Damage(row=n, cid=None, problem=f"unreadable: {exc}")
                continue
            if r is not None:
                yield _row(r)

    def integrity(self) -> list[Damage]:
        """SQLite's own structural check of the file (`PRAGMA integrity_check`)."""
        try:
            lines = [str(r[0]) for r in self._db.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            lines = [str(exc)]
        return [Damage(row=None, cid=None, problem=f"sqlite integrity_check: {line}")
                for line in lines if line != "ok"]

    def max_seq_indexed(self, issuer: str) -> int:
        """The highest seq of `issuer` the (issuer, seq) index shows (0: none or
        unreadable). The index is its own b-tree: it may outlive damaged rows."""
        try:
            row = self._db.execute("SELECT max(seq) FROM tokens WHERE issuer=?",
                                   (issuer,)).fetchone()
        except sqlite3.DatabaseError:
            return 0
        return int(row[0] or 0)

    def check(self) -> CheckReport:
        """Re-verify every token, its index columns and chain links, and the
        file's structure (node/store/check.py)."""
        return check_rows(self.rows(), self.integrity())


def _row(r: Any) -> StoredRow:
    n, cid, issuer, seq, kind, iat, raw, at = r
    return StoredRow(n=int(n), cid=str(cid), issuer=str(issuer), seq=int(seq), kind=str(kind),
                     iat=int(iat), raw=bytes(raw), seen_at=None if at is None else float(at))
