"""The peer book: every peer this node knows how to reach, kept across restarts.

Theory of operation
-------------------
`PeerBook` owns, per peer: its addresses (each with where we learned it and
what happened when we last dialled it), when we last saw it connected, its
consecutive failed dial rounds and when it may be dialled next. It takes time
(`now`, seconds since the epoch) and randomness (a `random.Random`, for the
backoff jitter) as arguments and does no I/O; `load_book`/`save_book` move it
to and from a JSON file in the node's home (written to a temporary file,
fsynced and renamed, so a crash leaves the old book or the new one).

Invariants (`check_invariants`): at most `PEERS_MAX` peers and
`ADDRS_PER_PEER_MAX` addresses per peer; every address is a multiaddr text
without `/p2p/`; our own id is never in the book.

Backoff: a peer whose dial round failed `n` times in a row waits
`min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2**(n-1))`, times a jitter in [0.8, 1.2)
so that members that lost the same hub do not redial in lockstep. A node that
starts again dials everyone at once (`restart`): what failed before it
stopped may be back, and it may be the one that moved.

When full, the book makes room by forgetting the peer least worth keeping:
never seen connected before one that was, then the longest unseen, then the
most failed; peers from the operator's bootstrap list are never forgotten. A
peer exchange flood can thus only churn among peers nobody has reached yet.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PeerBook", "PeerEntry", "AddrEntry", "load_book", "save_book", "BookCorrupt",
    "PEERS_MAX", "ADDRS_PER_PEER_MAX", "BACKOFF_MIN_S", "BACKOFF_MAX_S", "FORGET_AFTER_S",
    "ADDR_TEXT_MAX",
]

# Peers kept: a community of a few hundred members fits; each costs ~1 KiB
# in the file and, at worst, one dial per BACKOFF_MAX_S.
PEERS_MAX = 512
# Addresses kept per peer: IPv4 + IPv6 on a couple of interfaces plus an
# announced one; a peer that moves gets its newest ones kept.
ADDRS_PER_PEER_MAX = 8
# The longest multiaddr text accepted (a DNS name and a relay circuit fit).
ADDR_TEXT_MAX = 512
BACKOFF_MIN_S = 1.0
# A member away for a day is tried every 5 minutes: cheap, and it is found
# again within minutes of coming back (it also dials us when it starts).
BACKOFF_MAX_S = 300.0
# A peer not seen for a month is forgotten (bootstrap peers never are).
FORGET_AFTER_S = 30 * 86_400.0
_JITTER = (0.8, 1.2)

# Where an address came from: the operator's list, the peer itself (libp2p
# identify), another peer (peer exchange) or the local network (mDNS).
SOURCES = ("bootstrap", "identify", "exchange", "mdns")


class BookCorrupt(Exception):
    """The peer book file cannot be read as a peer book."""


@dataclass(slots=True, kw_only=True)
class AddrEntry:
    addr: str
    source: str
    learned_at: float
    last_tried_at: float | None = None
    last_ok_at: float | None = None
    last_error: str | None = None

    @property
    def outcome(self) -> str:
        """`untried`, `ok` or `failed`: what the last dial at this address did."""
        if self.last_tried_at is None:
            return "untried"
        return "failed" if self.last_error is not None else "ok"


@dataclass(slots=True, kw_only=True)
class PeerEntry:
    peer_id: str
    addrs: list[AddrEntry] = field(default_factory=list)
    last_seen_at: float | None = None
    failures: int = 0
    next_dial_at: float = 0.0
    pinned: bool = False

    def addr(self, text: str) -> AddrEntry | None:
        return next((a for a in self.addrs if a.addr == text), None)

    def dial_order(self) -> list[AddrEntry]:
        """Addresses that worked last first, then untried, then failed (newest first)."""
        rank = {"ok": 0, "untried": 1, "failed": 2}
        return sorted(self.addrs, key=lambda a: (rank[a.outcome], -a.learned_at))


class PeerBook:
    def __init__(self, own_id: str) -> None:
        self.own_id = own_id
        self._peers: dict[str, PeerEntry] = {}

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self._peers

    def get(self, peer_id: str) -> PeerEntry | None:
        return self._peers.get(peer_id)

    def entries(self) -> list[PeerEntry]:
        return sorted(self._peers.values(), key=lambda p: p.peer_id)

    # -- learning addresses ------------------------------------------------

    def add(self, peer_id: str, addrs: list[str], source: str, now: float, *,
            pinned: bool = False) -> bool:
        """Learn `addrs` for `peer_id`. False if the book had no room for a new peer."""
        if source not in SOURCES:
            raise ValueError(f"unknown address source {source!r}")
        if peer_id == self.own_id:
            return False
        entry = self._peers.get(peer_id)
        if entry is None:
            if len(self._peers) >= PEERS_MAX and not self._make_room(pinned):
                return False
            entry = self._peers[peer_id] = PeerEntry(peer_id=peer_id, next_dial_at=now)
        entry.pinned = entry.pinned or pinned
        suffix = f"/p2p/{peer_id}"
        for text in addrs:
            text = text.removesuffix(suffix)
            if len(text) > ADDR_TEXT_MAX or not text.startswith("/"):
                continue
            known = entry.addr(text)
            if known is None:
                entry.addrs.append(AddrEntry(addr=text, source=source, learned_at=now))
            elif _SOURCE_TRUST[source] > _SOURCE_TRUST[known.source]:
                known.source = source
        self._trim_addrs(entry)
        return True

    def _trim_addrs(self, entry: PeerEntry) -> None:
        """Keep the `ADDRS_PER_PEER_MAX` most useful: worked, then newest."""
        if len(entry.addrs) <= ADDRS_PER_PEER_MAX:
            return
        keep = sorted(entry.addrs, key=lambda a: (a.last_ok_at is None and a.source != "bootstrap",
                                                  a.last_error is not None, -a.learned_at))
        entry.addrs = keep[:ADDRS_PER_PEER_MAX]

    def _make_room(self, for_pinned: bool) -> bool:
        candidates = [p for p in self._peers.values() if not p.pinned]
        if not candidates:
            return False
        victim = min(candidates, key=lambda p: (p.last_seen_at is not None,
                                                p.last_seen_at or 0.0, -p.failures))
        if victim.last_seen_at is not None and not for_pinned:
            return False  # never drop a peer we reached for one we only heard of
        del self._peers[victim.peer_id]
        return True

    # -- what happened when we dialled or saw a peer -------------------------

    def tried(self, peer_id: str, addr: str, now: float, error: str | None) -> None:
        """A dial of `addr` ended: `error` None means it connected."""
        entry = self._peers.get(peer_id)
        if entry is None:
            return
        known = entry.addr(addr)
        if known is None:
            return
        known.last_tried_at = now
        known.last_error = None if error is None else error[:200]
        if error is None:
            known.last_ok_at = now

    def connected(self, peer_id: str, now: float) -> None:
        entry = self._peers.get(peer_id)
        if entry is None:
            return
        entry.last_seen_at = now
        entry.failures = 0
        entry.next_dial_at = now + BACKOFF_MIN_S

    def disconnected(self, peer_id: str, now: float) -> None:
        """Seen until now; redial soon (a restart or a dropped link)."""
        self.connected(peer_id, now)

    def round_failed(self, peer_id: str, now: float, rng: random.Random) -> float:
        """No address of `peer_id` answered: back off. Returns the wait in seconds."""
        entry = self._peers.get(peer_id)
        if entry is None:
            return 0.0
        entry.failures += 1
        wait = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2.0 ** (entry.failures - 1))
        wait *= rng.uniform(*_JITTER)
        entry.next_dial_at = now + wait
        return wait

    def due(self, now: float, connected: set[str]) -> list[PeerEntry]:
        """Peers not connected whose backoff has passed, soonest-due first."""
        ready = [p for p in self._peers.values()
                 if p.peer_id not in connected and p.addrs and p.next_dial_at <= now]
        return sorted(ready, key=lambda p: (p.next_dial_at, p.peer_id))

    def restart(self, now: float) -> None:
        """A fresh start: everyone is due now, failures kept for the backoff's sake."""
        for entry in self._peers.values():
            entry.next_dial_at = now

    def forget_stale(self, now: float) -> list[str]:
        """Drop peers unseen for `FORGET_AFTER_S` (never seen: since first learned)."""
        gone = []
        for entry in list(self._peers.values()):
            seen = entry.last_seen_at
            if seen is None:
                seen = max((a.learned_at for a in entry.addrs), default=now)
            if not entry.pinned and now - seen > FORGET_AFTER_S:
                del self._peers[entry.peer_id]
                gone.append(entry.peer_id)
        return gone

    def check_invariants(self) -> None:
        assert len(self._peers) <= PEERS_MAX, len(self._peers)
        assert self.own_id not in self._peers
        for pid, entry in self._peers.items():
            assert entry.peer_id == pid
            assert len(entry.addrs) <= ADDRS_PER_PEER_MAX, (pid, len(entry.addrs))
            assert len({a.addr for a in entry.addrs}) == len(entry.addrs), pid
            assert all(a.source in SOURCES for a in entry.addrs), pid

    # -- the file ----------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "own_id": self.own_id,
                "peers": [asdict(p) for p in self.entries()]}

    @classmethod
    def from_json(cls, data: Any, own_id: str) -> PeerBook:
        if not isinstance(data, dict) or data.get("version") != 1 or \
                not isinstance(data.get("peers"), list):
            raise BookCorrupt("not a version 1 peer book")
        book = cls(own_id)
        if data.get("own_id") != own_id:
            return book  # another identity's book (the home's identity was replaced)
        try:
            for raw in data["peers"][:PEERS_MAX]:
                addrs = [AddrEntry(**a) for a in raw.pop("addrs")]
                entry = PeerEntry(**raw, addrs=addrs)
                if entry.peer_id == own_id or any(a.source not in SOURCES for a in addrs):
                    raise BookCorrupt(f"bad entry for {entry.peer_id!r}")
                entry.addrs = entry.addrs[:ADDRS_PER_PEER_MAX]
                book._peers[entry.peer_id] = entry
        except (TypeError, AttributeError, KeyError) as exc:
            raise BookCorrupt(f"bad entry: {exc}") from None
        return book


# Which source wins when two say the same address: the operator over the
# peer itself over hearsay.
_SOURCE_TRUST = {"exchange": 0, "mdns": 1, "identify": 2, "bootstrap": 3}


def load_book(path: Path, own_id: str) -> PeerBook:
    """The book at `path`; an empty one if there is none. `BookCorrupt` if unreadable."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return PeerBook(own_id)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BookCorrupt(f"{path}: not JSON: {exc}") from None
    return PeerBook.from_json(data, own_id)


def save_book(book: PeerBook, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(book.to_json(), fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
