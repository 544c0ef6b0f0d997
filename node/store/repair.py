"""`troth store repair`: rebuild a damaged store from its intact part.

Theory of operation (docs/security.md, Disk faults). The damaged file is only
read (`Store(readonly=True)`): `check_rows` (check.py) gives the causally
closed intact tokens in log order. They are written, with their seen_at, into
a fresh store beside it in one transaction; the fresh store must check clean;
then the damaged file (with its -wal/-shm) is renamed `NAME.damaged-TIME`,
never deleted, and the fresh one takes its name. What was left out is fetched
again from peers by sync when the node next runs: every left-out token's
issuer chain now ends before it, so peers' frontiers show it missing.

The one thing peers cannot give back safely is this node's own seq counter:
if the tail of its own chain was damaged, the rebuilt log ends lower, and a
node that signed from there would sign a seq twice. So the highest own seq
any readable trace shows (a row's index columns, the (issuer, seq) index, an
intact token, an earlier repair's floor) is written to the fresh store's meta
(`META_OWN_SEQ_FLOOR`); the core refuses to sign below it until sync has
brought its chain back that far (`node.core.OwnChainBehind`).

The caller holds the home's node lock: no node may run on the store meanwhile.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from .check import Damage
from .sqlite import META_OWN_SEQ_FLOOR, Store, StoreError

__all__ = ["RepairReport", "repair_store"]

_SIDE_FILES = ("-wal", "-shm")


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairReport:
    path: Path
    backup: Path | None  # the damaged file, kept (None: it was intact, nothing done)
    kept: int  # tokens in the rebuilt store
    dropped: tuple[Damage, ...]  # what the rebuild left out or re-derived
    own_seq: int  # the highest own seq the rebuilt store holds
    own_seq_floor: int  # the highest own seq ever signed, as far as the file shows


def repair_store(path: Path) -> RepairReport:
    """Rebuild `path` from its intact part (see the module docstring)."""
    with Store(path, readonly=True) as old:
        report = old.check()
        agent = old.meta("agent")
        floor = 0
        if agent is not None:
            floor = max(int(old.meta(META_OWN_SEQ_FLOOR) or 0), report.seq_max.get(agent, 0),
                        old.max_seq_indexed(agent))
    own_seq = max((t.seq for t, _ in report.intact if t.issuer == agent), default=0)
    if report.ok:
        return RepairReport(path=path, backup=None, kept=len(report.intact), dropped=(),
                            own_seq=own_seq, own_seq_floor=floor)
    fresh = path.with_name(f"{path.name}.rebuilding")
    _remove(fresh)
    with Store(fresh) as new:
        if agent is not None:
            new.set_meta("agent", agent)
        if floor > own_seq:
            new.set_meta(META_OWN_SEQ_FLOOR, str(floor))
        new.append(report.intact)
        again = new.check()
    if not again.ok or again.tokens != len(report.intact):
        raise StoreError(f"{fresh}: the rebuilt store does not check clean: {again.problems}")
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    backup = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for side in ("", *_SIDE_FILES):
        src = path.with_name(path.name + side)
        if src.exists():
            src.rename(backup.with_name(backup.name + side))
    fresh.rename(path)
    _fsync_dir(path.parent)
    return RepairReport(path=path, backup=backup, kept=len(report.intact),
                        dropped=tuple(report.damage), own_seq=own_seq, own_seq_floor=floor)


def _remove(store: Path) -> None:
    for side in ("", *_SIDE_FILES):
        store.with_name(store.name + side).unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """Make the renames durable (a crash after repair must not bring the damaged file back)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
