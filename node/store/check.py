"""What `troth store check` finds in a store, and what a repair can keep.

Theory of operation: a store row holds a token's exact bytes and index
columns derived from them (sqlite.py). `check_rows` re-derives everything from
the bytes, in log order, and sorts each row into one of two piles:

    intact   the bytes verify and the token's prev and deps are intact rows
             before it: replaying exactly these (in this order) into a core
             works, so a repair rebuilds the store from them
    damage   bytes that no longer decode or verify, a row SQLite cannot read,
             or a token whose prev/deps are not intact before it (a broken
             chain): left out of a rebuild, fetched again from peers by sync.
             Index columns that disagree with intact bytes (a cid mismatch
             among them) are damage too, but the token is kept (`kept`): the
             columns are re-derived from the bytes.

It also remembers the highest seq any readable column or token shows per
issuer (`seq_max`), because a node must never sign a seq again that it signed
once, even if the token itself was lost (repair.py keeps it as a floor).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import wire

__all__ = ["StoredRow", "Damage", "CheckReport", "check_rows"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRow:
    """One row of the `tokens` table as SQLite returned it (nothing verified)."""
    n: int
    cid: str
    issuer: str
    seq: int
    kind: str
    iat: int
    raw: bytes
    seen_at: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Damage:
    """One problem. `row`: the log position (None: the file as a whole);
    `cid`: what the row's cid column says (None: unreadable); `kept`: a repair
    keeps the token (its bytes are intact)."""
    row: int | None
    cid: str | None
    problem: str
    kept: bool = False

    def __str__(self) -> str:
        if self.row is None:
            return self.problem
        return f"row {self.row} ({self.cid or 'unreadable'}): {self.problem}"


@dataclass(slots=True)
class CheckReport:
    tokens: int = 0  # rows read
    damage: list[Damage] = field(default_factory=list)
    # The causally closed intact part, in log order, with each token's seen_at.
    intact: list[tuple[wire.Token, float | None]] = field(default_factory=list, repr=False)
    # Per issuer, the highest seq any readable index column or token shows.
    seq_max: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.damage

    @property
    def problems(self) -> list[str]:
        return [str(d) for d in self.damage]

    @property
    def damaged_cids(self) -> list[str]:
        """The tokens a repair leaves out (as their rows name them), in log order."""
        return [d.cid for d in self.damage if d.cid is not None and not d.kept]


def _note_seq(seq_max: dict[str, int], issuer: object, seq: object) -> None:
    if isinstance(issuer, str) and type(seq) is int and seq > seq_max.get(issuer, 0):
        seq_max[issuer] = seq


def check_rows(rows: Iterable[StoredRow | Damage],
               file_damage: Iterable[Damage] = ()) -> CheckReport:
    """Sort `rows` (log order; a Damage stands for a row SQLite could not
    read) into intact tokens and damage; `file_damage` (SQLite's own
    integrity check) is reported first."""
    report = CheckReport(damage=list(file_damage))
    damage = report.damage.append
    kept: dict[str, wire.Token] = {}
    for row in rows:
        if isinstance(row, Damage):
            damage(row)
            continue
        report.tokens += 1
        _note_seq(report.seq_max, row.issuer, row.seq)
        try:
            tok = wire.decode_token(row.raw)
        except wire.InvalidToken as exc:
            damage(Damage(row=row.n, cid=row.cid, problem=f"does not verify: {exc}"))
            continue
        _note_seq(report.seq_max, tok.issuer, tok.seq)
        if tok.cid != row.cid:
            damage(Damage(row=row.n, cid=row.cid, kept=True,
                          problem=f"cid mismatch: the bytes are {tok.cid}"))
        elif (tok.issuer, tok.seq, tok.kind, tok.iat) != (row.issuer, row.seq, row.kind, row.iat):
            damage(Damage(row=row.n, cid=row.cid, kept=True,
                          problem="index columns disagree with the bytes"))
        if tok.cid in kept:
            continue  # (a second row of one token: only a damaged cid column allows it)
        broken = _broken_link(tok, kept)
        if broken:
            damage(Damage(row=row.n, cid=tok.cid, problem=broken))
            continue
        kept[tok.cid] = tok
        report.intact.append((tok, row.seen_at))
    return report


def _broken_link(tok: wire.Token, kept: dict[str, wire.Token]) -> str | None:
    if tok.prev is not None:
        parent = kept.get(tok.prev)
        if parent is None:
            return f"broken chain: prev {tok.prev} is not stored intact before it"
        if (parent.issuer, parent.seq) != (tok.issuer, tok.seq - 1):
            return f"broken chain: prev is not seq {tok.seq - 1} of the same issuer"
    for d in tok.deps:
        if d not in kept:
            return f"broken chain: dep {d} is not stored intact before it"
    return None
