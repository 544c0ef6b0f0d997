"""Finding and keeping members: the peer book, redial with backoff, peer exchange.

Theory of operation
-------------------
`Discovery` runs beside a `P2PNode` (the runtime starts `run()` as a task) and
owns the node's dialling policy; py-libp2p's own auto-dialler is off
(host.py). Every `ROUND_S` it:

1. notes which peers connected or went away since the last round (the book's
   `last seen`), and copies each connected peer's self-advertised addresses
   (learned by libp2p identify) into the book;
2. dials the peers the book says are due (not connected, backoff passed), at
   most `DIALS_AT_ONCE_MAX` at a time and only while fewer than
   `CONNECTED_TARGET` peers are connected (bootstrap peers always). A dial
   tries the peer's addresses one by one (last good first) and the book keeps
   each one's outcome, which `rows()` shows (`troth peers`);
3. asks a newly connected peer, and one random connected peer every
   `EXCHANGE_INTERVAL_S` (more often just after start), whom it knows
   (`/troth/peers/1`, exchange.py), and puts the answer in the book, where
   step 2 finds it;
4. saves the book to the node's home every `SAVE_INTERVAL_S` if it changed,
   and when it stops, forgetting peers unseen for a month; at start it loads
   it and dials every known peer.

Answering `/troth/peers/1`: at most `EXCHANGE_STREAMS_INBOUND_MAX` at once,
one answer per asking peer per `EXCHANGE_ANSWER_MIN_INTERVAL_S` (more is
refused), at most `PEERS_PER_REPLY_MAX` peers (connected ones first, with
the addresses they advertise now, then those seen most recently; never
peers we only heard of), never the asker itself, and loopback addresses only
to a peer that reached us over loopback (elsewhere they would name the
asker's own host). Why a peer exchange and not gossipsub PX, rendezvous or
the Kademlia DHT: docs/decisions/0011-discovery.md.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import multiaddr
import trio

from wire import InvalidFrame

from .addrs import scope_of
from .errors import P2PError
from .exchange import (
    EXCHANGE_FRAME_MAX_BYTES,
    PEERS_PER_REPLY_MAX,
    PEERS_PROTOCOL,
    PeerAddrs,
    check_exchange_addr,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)
from .host import parse_p2p_addr
from .p2p import P2PNode
from .peerbook import (
    ADDRS_PER_PEER_MAX,
    BookCorrupt,
    PeerBook,
    PeerEntry,
    load_book,
    save_book,
)
from .sync import SyncStream

__all__ = ["Discovery", "ROUND_S", "CONNECTED_TARGET", "EXCHANGE_INTERVAL_S"]

log = logging.getLogger("troth.discovery")

# How often connections are reconciled and due peers dialled.
ROUND_S = 1.0
# Stop dialling peers we merely know of once this many are connected:
# gossipsub needs ~6 mesh peers a topic, sync any one; 32 leaves slack.
CONNECTED_TARGET = 32
# Dials in flight at once (each tries a peer's addresses one by one).
DIALS_AT_ONCE_MAX = 4
# One address gets this long to connect (a silent one, e.g. a host that
# moved, would otherwise hold a dial slot for py-libp2p's 10 s).
DIAL_ADDR_TIMEOUT_S = 5.0
# Ask one random connected peer for its peers this often (besides every
# newly connected one at once): first after EXCHANGE_FIRST_S, then twice as
# long each time up to EXCHANGE_INTERVAL_S. Members that start together ask
# before the others are known: the early asks find them within seconds.
EXCHANGE_FIRST_S = 5.0
EXCHANGE_INTERVAL_S = 30.0
EXCHANGE_TIMEOUT_S = 5.0
EXCHANGE_STREAMS_INBOUND_MAX = 8
# A peer asking more often than this gets its stream reset.
EXCHANGE_ANSWER_MIN_INTERVAL_S = 5.0
# Askers remembered for that rate limit (oldest forgotten first).
EXCHANGE_ASKERS_MAX = 1024
SAVE_INTERVAL_S = 10.0


class Discovery:
    def __init__(self, node: P2PNode, book_path: Path | None, *,
                 bootstrap: tuple[str, ...] = (), exchange: bool = True,
                 clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        """`bootstrap`: full multiaddrs (`.../p2p/<id>`), kept in the book for
        good. `exchange`: ask and answer `/troth/peers/1` (off, the node only
        redials the peers it has met). `book_path` None keeps no file."""
        self._node = node
        self._path = book_path
        self._exchange = exchange
        self._clock = clock
        self._rng = rng or random.Random()
        self.book = self._load()
        now = clock()
        self.book.restart(now)
        for addr in bootstrap:
            info = parse_p2p_addr(addr)
            self.book.add(info.peer_id.to_base58(), [str(a) for a in info.addrs], "bootstrap",
                          now, pinned=True)
        self._connected: set[str] = set()
        self._dialling: set[str] = set()
        self._asked: dict[str, float] = {}  # asker -> when we last answered it
        self._dirty = True
        self.exchanges_answered = 0
        self.exchanges_refused = 0
        self.exchange_errors = 0

    def _load(self) -> PeerBook:
        own = self._node.peer_id
        if self._path is None:
            return PeerBook(own)
        try:
            return load_book(self._path, own)
        except BookCorrupt as exc:
            aside = self._path.with_name(self._path.name + ".corrupt")
            self._path.replace(aside)
            log.warning("event=peer_book_unreadable error=%s moved_to=%s", exc, aside)
            return PeerBook(own)

    # -- the task ------------------------------------------------------------

    async def run(self) -> None:
        if self._exchange:
            self._node.serve_protocol(PEERS_PROTOCOL, self._answer,
                                      streams_max=EXCHANGE_STREAMS_INBOUND_MAX,
                                      frame_size_max_bytes=EXCHANGE_FRAME_MAX_BYTES)
        saved_at = asked_at = self._clock()
        ask_every = EXCHANGE_FIRST_S
        try:
            async with trio.open_nursery() as nursery:
                while True:
                    now = self._clock()
                    for peer in self._reconcile(now):
                        if self._exchange:
                            nursery.start_soon(self._ask, peer)
                    if self._exchange and self._connected and now - asked_at >= ask_every:
                        asked_at = now
                        ask_every = min(EXCHANGE_INTERVAL_S, ask_every * 2)
                        nursery.start_soon(self._ask, self._rng.choice(sorted(self._connected)))
                    self._dial_due(now, nursery)
                    if now - saved_at >= SAVE_INTERVAL_S:
                        for gone in self.book.forget_stale(now):
                            log.info("event=peer_forgotten peer=%s", gone)
                            self._dirty = True
                        self.save()
                        saved_at = now
                    await trio.sleep(ROUND_S)
        finally:
            self.save()

    def save(self) -> None:
        if self._path is None or not self._dirty:
            return
        try:
            save_book(self.book, self._path)
            self._dirty = False
        except OSError as exc:
            log.warning("event=peer_book_not_saved error=%s", exc)

    def _reconcile(self, now: float) -> list[str]:
        """Book the connections made and lost since the last round; the new ones."""
        connected = set(self._node.connected_peers())
        new = connected - self._connected
        for peer in self._connected - connected:
            self.book.disconnected(peer, now)
        for peer in connected:
            own = self._usable(peer, self._node.peer_addrs(peer))
            self.book.add(peer, own, "identify", now)
            self.book.connected(peer, now)
        self._connected = connected
        if connected:  # (their last seen moved)
            self._dirty = True
        return sorted(new)

    def _usable(self, peer: str, addrs: list[str]) -> list[str]:
        """What is worth keeping of what `peer` advertises: dialable, and its
        loopback addresses only if it is on our host (reached over loopback)."""
        local = self._over_loopback(peer)
        return [a for a in addrs if check_exchange_addr(a) and (local or _scope(a) != "loopback")]

    def _over_loopback(self, peer: str) -> bool:
        """Is `peer` on our host (our connection to it runs over loopback)?"""
        remote = self._node.remote_addr(peer)
        return remote is not None and _scope(remote) == "loopback"

    # -- dialling -------------------------------------------------------------

    def _dial_due(self, now: float, nursery: trio.Nursery) -> None:
        room = len(self._connected) < CONNECTED_TARGET
        for entry in self.book.due(now, self._connected):
            if len(self._dialling) >= DIALS_AT_ONCE_MAX:
                return
            if entry.peer_id in self._dialling or not (room or entry.pinned):
                continue
            self._dialling.add(entry.peer_id)
            nursery.start_soon(self._dial, entry)

    async def _dial(self, entry: PeerEntry) -> None:
        peer = entry.peer_id
        try:
            for addr in entry.dial_order():
                if peer in self._node.connected_peers():
                    return  # it dialled us meanwhile
                try:
                    await self._node.connect(f"{addr.addr}/p2p/{peer}",
                                             timeout_s=DIAL_ADDR_TIMEOUT_S)
                except P2PError as exc:
                    self.book.tried(peer, addr.addr, self._clock(), _short(exc))
                    continue
                self.book.tried(peer, addr.addr, self._clock(), None)
                log.info("event=dialled peer=%s addr=%s", peer, addr.addr)
                return
            if peer in self._node.connected_peers():
                return  # it dialled us while we tried addresses it has left
            wait = self.book.round_failed(peer, self._clock(), self._rng)
            log.info("event=dial_failed peer=%s addrs=%d retry_in_s=%.1f", peer,
                     len(entry.addrs), wait)
        finally:
            self._dirty = True
            self._dialling.discard(peer)

    # -- peer exchange ------------------------------------------------------------

    async def _ask(self, peer: str) -> None:
        """Ask `peer` whom it knows; book the answer."""
        try:
            stream = await self._node.open_stream(
                peer, PEERS_PROTOCOL, timeout_s=EXCHANGE_TIMEOUT_S,
                frame_size_max_bytes=EXCHANGE_FRAME_MAX_BYTES)
            try:
                await stream.send_frame(encode_request(PEERS_PER_REPLY_MAX),
                                        timeout_s=EXCHANGE_TIMEOUT_S)
                reply = decode_reply(await stream.receive_frame(timeout_s=EXCHANGE_TIMEOUT_S))
            finally:
                await stream.close()
        except (P2PError, InvalidFrame) as exc:
            self.exchange_errors += 1
            log.debug("event=peer_exchange_failed peer=%s error=%s", peer, exc)
            return
        now = self._clock()
        learned = 0
        for item in reply:
            if item.peer_id == self._node.peer_id or item.peer_id in self._connected:
                continue
            learned += self.book.add(item.peer_id, list(item.addrs), "exchange", now)
        self._dirty = True
        log.info("event=peer_exchange peer=%s offered=%d booked=%d", peer, len(reply), learned)

    async def _answer(self, peer: str, stream: SyncStream) -> None:
        now = self._clock()
        last = self._asked.get(peer)
        if last is not None and now - last < EXCHANGE_ANSWER_MIN_INTERVAL_S:
            self.exchanges_refused += 1
            await stream.reset()
            return
        self._asked[peer] = now
        if len(self._asked) > EXCHANGE_ASKERS_MAX:
            oldest = min(self._asked, key=self._asked.__getitem__)
            del self._asked[oldest]
        try:
            want = decode_request(await stream.receive_frame(timeout_s=EXCHANGE_TIMEOUT_S))
        except InvalidFrame as exc:
            self.exchanges_refused += 1
            log.debug("event=peer_exchange_refused peer=%s error=%s", peer, exc)
            await stream.reset()
            return
        await stream.send_frame(encode_reply(self.offer(peer, want)),
                                timeout_s=EXCHANGE_TIMEOUT_S)
        self.exchanges_answered += 1

    def offer(self, asker: str, want: int) -> list[PeerAddrs]:
        """The peers we tell `asker` about: connected first, then most recently seen."""
        local = self._over_loopback(asker)
        connected = set(self._node.connected_peers()) - {asker}
        out: dict[str, tuple[str, ...]] = {}
        for peer in sorted(connected):  # as identify told us just now
            addrs = [a for a in self._usable(peer, self._node.peer_addrs(peer))
                     if local or _scope(a) != "loopback"]
            if addrs:
                out[peer] = tuple(addrs[:ADDRS_PER_PEER_MAX])
        seen = [e for e in self.book.entries() if e.peer_id not in connected and
                e.peer_id != asker and (e.last_seen_at is not None or e.pinned)]
        seen.sort(key=lambda e: -(e.last_seen_at or 0.0))  # (hearsay is not passed on)
        for entry in seen:
            addrs = [a.addr for a in entry.dial_order()
                     if a.outcome != "failed" and check_exchange_addr(a.addr) and
                     (local or _scope(a.addr) != "loopback")]
            if addrs:
                out[entry.peer_id] = tuple(addrs)
        return [PeerAddrs(peer_id=p, addrs=a) for p, a in list(out.items())[:want]]

    # -- what `troth peers` shows ----------------------------------------------------

    def rows(self) -> dict[str, dict[str, Any]]:
        """Per booked peer: how it is reached, which addresses were tried and how it went."""
        now = self._clock()
        connected = set(self._node.connected_peers())
        routes = self._node.peer_routes()
        out = {}
        for entry in self.book.entries():
            remote = self._node.remote_addr(entry.peer_id) \
                if entry.peer_id in connected else None
            via = None if remote is None else routes.get(entry.peer_id)
            tried = [a for a in entry.addrs if a.last_tried_at is not None]
            newest = max(tried, key=lambda a: a.last_tried_at or 0.0, default=None)
            out[entry.peer_id] = {
                "reached": "not connected" if remote is None else
                           ("relayed" if via else "direct"),
                "via": via,
                "remote_addr": remote,
                "last_seen_s_ago": _ago(now, entry.last_seen_at),
                "failures": entry.failures,
                "next_dial_in_s": None if remote is not None else
                                  round(max(0.0, entry.next_dial_at - now), 1),
                "bootstrap": entry.pinned,
                "last_dial_error": None if newest is None else newest.last_error,
                "addrs": [{"addr": a.addr, "source": a.source, "outcome": a.outcome,
                           "last_tried_s_ago": _ago(now, a.last_tried_at),
                           "error": a.last_error} for a in entry.dial_order()],
            }
        return out


@functools.lru_cache(maxsize=4096)  # per address, per connected peer, per round
def _scope(text: str) -> str:
    try:
        return scope_of(multiaddr.Multiaddr(text))
    except Exception:  # noqa: BLE001 - multiaddr raises several types for bad text
        return "public"


def _ago(now: float, then: float | None) -> float | None:
    return None if then is None else round(max(0.0, now - then), 1)


def _short(exc: P2PError) -> str:
    return str(exc)[:200]
