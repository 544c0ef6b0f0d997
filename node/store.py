"""The durable store: an append-only SQLite log of verified tokens.

Theory of operation: the log is the node's memory. Every token the core
accepts (its own included) is appended here, in the order the core applied
it, which is a causal order (a token is applied only after its `prev` and its
`deps`). Every derived view (chains, frontier, verdicts, trust, tallies) is
rebuilt by replaying the log in that order into a fresh core.

Durability: WAL journal with `synchronous=FULL`, one transaction per batch of
appends. `append` returns only after the commit, so the driver can hand a
token to the network only after it is on disk; that is what keeps a node from
ever signing two tokens with one seq across a crash (DESIGN §5).

Rows hold the exact token bytes; everything else in a row is an index derived
from them, and `check()` re-derives and compares it all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import wire

__all__ = ["Store", "StoreError", "CheckReport"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    n      INTEGER PRIMARY KEY,          -- append (= apply) order
    cid    TEXT NOT NULL UNIQUE,
    issuer TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    iat    INTEGER NOT NULL,
    raw    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_issuer_seq ON tokens (issuer, seq);
CREATE TABLE IF NOT EXISTS deps (cid TEXT NOT NULL, dep TEXT NOT NULL, PRIMARY KEY (cid, dep))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deps_dep ON deps (dep);
"""


class StoreError(Exception):
    """The store file cannot be used (wrong schema, corrupt, unwritable)."""


@dataclass(slots=True)
class CheckReport:
    tokens: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Store:
    """An open store file. Not thread-safe; one writer (the node) at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
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
            elif row[0] != str(SCHEMA_VERSION):
                raise StoreError(f"{self.path}: schema {row[0]}, this troth reads {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------
    def append(self, tokens: Iterable[wire.Token]) -> int:
        """Append verified tokens durably, in one transaction. Returns how many.

        A cid already present is skipped (appending is idempotent).
        """
        rows = [(t.cid, t.issuer, t.seq, t.kind, t.iat, t.raw) for t in tokens]
        if not rows:
            return 0
        dep_rows = [(t.cid, d) for t in tokens for d in t.deps] if rows else []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO tokens (cid, issuer, seq, kind, iat, raw) "
                "VALUES (?, ?, ?, ?, ?, ?)", rows)
            added = db.total_changes - before
            if dep_rows:
                db.executemany("INSERT OR IGNORE INTO deps VALUES (?, ?)", dep_rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return added

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- reading ---------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM tokens").fetchone()[0])

    def raw_log(self) -> Iterator[bytes]:
        """Every stored token's bytes, in append order."""
        for (raw,) in self._db.execute("SELECT raw FROM tokens ORDER BY n"):
            yield bytes(raw)

    def get(self, cid: str) -> bytes | None:
        row = self._db.execute("SELECT raw FROM tokens WHERE cid=?", (cid,)).fetchone()
        return None if row is None else bytes(row[0])

    def chain(self, issuer: str) -> list[tuple[int, str]]:
        """(seq, cid) of every stored token of one issuer, by seq."""
        return [(int(s), str(c)) for s, c in self._db.execute(
            "SELECT seq, cid FROM tokens WHERE issuer=? ORDER BY seq, cid", (issuer,))]

    def max_seq(self, issuer: str) -> int:
        row = self._db.execute("SELECT max(seq) FROM tokens WHERE issuer=?", (issuer,)).fetchone()
        return int(row[0] or 0)

    def dependents(self, cid: str) -> list[str]:
        """Cids of the stored tokens that list `cid` in their deps."""
        return [str(c) for (c,) in self._db.execute("SELECT cid FROM deps WHERE dep=?", (cid,))]

    def check(self) -> CheckReport:
        """Re-verify every token and every derived column and chain link."""
        report = CheckReport()
        seen: dict[str, tuple[str, int]] = {}
        for n, cid, issuer, seq, kind, iat, raw in self._db.execute(
                "SELECT n, cid, issuer, seq, kind, iat, raw FROM tokens ORDER BY n"):
            report.tokens += 1
            try:
                tok = wire.decode_token(bytes(raw))
            except wire.InvalidToken as exc:
                report.problems.append(f"row {n} ({cid}): does not verify: {exc}")
                continue
            if (tok.cid, tok.issuer, tok.seq, tok.kind, tok.iat) != (cid, issuer, seq, kind, iat):
                report.problems.append(f"row {n} ({cid}): index columns disagree with the bytes")
            if tok.prev is not None:
                link = seen.get(tok.prev)
                if link is None:
                    report.problems.append(
                        f"row {n} ({cid}): prev {tok.prev} is not stored before it")
                elif link != (tok.issuer, tok.seq - 1):
                    report.problems.append(
                        f"row {n} ({cid}): prev is not seq {tok.seq - 1} of the same issuer")
            for d in tok.deps:
                if d not in seen:
                    report.problems.append(f"row {n} ({cid}): dep {d} is not stored before it")
            seen[tok.cid] = (tok.issuer, tok.seq)
        return report
