"""The answers of the API's POST requests, by idempotency key, kept in the store file.

Theory of operation: node/app/idempotency.py reserves a key (with a digest of
the request and this node's own seq before it runs) in one committed
transaction before the request may sign anything, and writes the answer in
another once it has one. Both live in the node's SQLite file, in this table
alone, so a key survives `kill -9` exactly as the tokens do; a row without an
answer is a request that was cut off mid-way (its node died), which the app
resolves from the store's chain when the node starts again.

Retention: answered rows older than `RETENTION_S` (24 h) go, and beyond
`ANSWERS_MAX` the oldest answered rows go, both pruned when a key is reserved.
The table is a cache of answers, not part of the token log: `troth store check`
ignores it and a rebuilt store may start without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .sqlite import Store

__all__ = ["AnswerLog", "Answer", "RETENTION_S", "ANSWERS_MAX"]

# A client retries within seconds or minutes; a day covers a laptop asleep.
RETENTION_S = 24 * 3600.0
# ~1 KiB to 256 KiB a row (an answer holds one token): bounded on disk.
ANSWERS_MAX = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key         TEXT PRIMARY KEY,        -- the client's Idempotency-Key
    fingerprint TEXT NOT NULL,           -- digest of the route and the request body
    created     REAL NOT NULL,           -- node clock, for retention
    base_seq    INTEGER NOT NULL,        -- this node's own seq before the request ran
    many        INTEGER NOT NULL,        -- 1: the answer is a list of tokens
    status      INTEGER,                 -- NULL: no answer yet (cut off mid-request)
    body        TEXT                     -- the answer's JSON text
);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created);
"""


@dataclass(frozen=True, slots=True)
class Answer:
    key: str
    fingerprint: str
    created: float
    base_seq: int
    many: bool
    status: int | None
    body: str | None


class AnswerLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._db = store.db
        self._db.executescript(_SCHEMA)

    def get(self, key: str) -> Answer | None:
        row = self._db.execute("SELECT key, fingerprint, created, base_seq, many, status, body "
                               "FROM answers WHERE key=?", (key,)).fetchone()
        return None if row is None else _answer(row)

    def pending(self) -> list[Answer]:
        """Reserved keys without an answer (requests cut off by a crash)."""
        return [_answer(r) for r in self._db.execute(
            "SELECT key, fingerprint, created, base_seq, many, status, body FROM answers "
            "WHERE status IS NULL ORDER BY created")]

    def reserve(self, key: str, fingerprint: str, *, base_seq: int, many: bool,
                now: float) -> None:
        """Record that the request `key` is about to run (committed on return),
        and prune answered rows past the retention bounds."""
        self._write(
            ("DELETE FROM answers WHERE status IS NOT NULL AND created < ?",
             (now - RETENTION_S,)),
            ("DELETE FROM answers WHERE key IN (SELECT key FROM answers WHERE status IS NOT NULL "
             "ORDER BY created DESC LIMIT -1 OFFSET ?)", (ANSWERS_MAX - 1,)),
            ("INSERT INTO answers (key, fingerprint, created, base_seq, many) "
             "VALUES (?, ?, ?, ?, ?)", (key, fingerprint, now, base_seq, int(many))))

    def answer(self, key: str, status: int, body: str) -> None:
        self._write(("UPDATE answers SET status=?, body=? WHERE key=?", (status, body, key)))

    def forget(self, key: str) -> None:
        """Drop a reservation whose request signed nothing: the key is free again."""
        self._write(("DELETE FROM answers WHERE key=?", (key,)))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM answers").fetchone()[0])

    def _write(self, *statements: tuple[str, tuple[object, ...]]) -> None:
        with self._store.transaction() as db:
            for sql, args in statements:
                db.execute(sql, args)


def _answer(row: Any) -> Answer:
    key, fingerprint, created, base_seq, many, status, body = row
    return Answer(key=key, fingerprint=fingerprint, created=created, base_seq=base_seq,
                  many=bool(many), status=status, body=body)
