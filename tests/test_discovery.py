"""Discovery: the peer book (node/net/peerbook.py), the `/troth/peers/1`
messages (node/net/exchange.py), and nodes that find each other through one
bootstrap peer and find each other again from their books after a restart
(node/net/discovery.py; real runtimes on 127.0.0.1)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from node.app.runtime import Runtime
from node.net.discovery import Discovery
from node.net.exchange import (
    EXCHANGE_FRAME_MAX_BYTES,
    PEERS_PER_REPLY_MAX,
    PEERS_PROTOCOL,
    PeerAddrs,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)
from node.net.p2p import P2PError, P2PNode
from node.net.peerbook import (
    ADDRS_PER_PEER_MAX,
    BACKOFF_MAX_S,
    FORGET_AFTER_S,
    PEERS_MAX,
    BookCorrupt,
    PeerBook,
    load_book,
    save_book,
)
from node.store.home import Config, Home
from wire import Identity, InvalidFrame
from wire.cbor import dumps

from .test_runtime import run_in, wait_until

OWN = Identity.generate().agent_id
IDS = [Identity.generate().agent_id for _ in range(6)]


# -- the peer book -------------------------------------------------------------

def test_backoff_doubles_to_its_cap_with_jitter_and_a_connection_resets_it() -> None:
    book = PeerBook(OWN)
    rng = random.Random(7)
    book.add(IDS[0], ["/ip4/10.0.0.1/tcp/4001"], "bootstrap", 0.0, pinned=True)
    waits = [book.round_failed(IDS[0], 0.0, rng) for _ in range(12)]
    assert all(0.8 * min(BACKOFF_MAX_S, 2.0 ** i) <= w < 1.2 * min(BACKOFF_MAX_S, 2.0 ** i)
               for i, w in enumerate(waits)), waits
    assert book.due(waits[-1] - 0.1, set()) == []
    assert [e.peer_id for e in book.due(waits[-1], set())] == [IDS[0]]
    assert book.due(waits[-1], {IDS[0]}) == []  # connected: nothing to dial
    book.connected(IDS[0], 100.0)
    assert book.get(IDS[0]).failures == 0  # type: ignore[union-attr]
    book.restart(100.0)
    assert [e.peer_id for e in book.due(100.0, set())] == [IDS[0]]


def test_dial_outcomes_are_kept_per_address_and_order_the_next_dial() -> None:
    book = PeerBook(OWN)
    book.add(IDS[0], ["/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.2/tcp/1"], "identify", 0.0)
    book.add(IDS[0], [f"/ip4/10.0.0.3/tcp/1/p2p/{IDS[0]}"], "exchange", 1.0)
    entry = book.get(IDS[0])
    assert entry is not None
    assert [a.addr for a in entry.addrs][-1] == "/ip4/10.0.0.3/tcp/1"  # /p2p/ suffix dropped
    book.tried(IDS[0], "/ip4/10.0.0.3/tcp/1", 2.0, "connect-failed: refused")
    book.tried(IDS[0], "/ip4/10.0.0.1/tcp/1", 3.0, None)
    assert [(a.addr, a.outcome) for a in entry.dial_order()] == [
        ("/ip4/10.0.0.1/tcp/1", "ok"), ("/ip4/10.0.0.2/tcp/1", "untried"),
        ("/ip4/10.0.0.3/tcp/1", "failed")]


def test_the_book_is_bounded_and_never_drops_a_peer_it_reached_for_hearsay() -> None:
    book = PeerBook(OWN)
    assert not book.add(OWN, ["/ip4/10.0.0.1/tcp/1"], "exchange", 0.0)
    book.add(IDS[0], [f"/ip4/10.1.0.{i}/tcp/1" for i in range(30)], "exchange", 0.0)
    assert len(book.get(IDS[0]).addrs) == ADDRS_PER_PEER_MAX  # type: ignore[union-attr]
    book.connected(IDS[0], 1.0)
    for _ in range(PEERS_MAX + 50):
        book.add(Identity.generate().agent_id, ["/ip4/10.2.0.1/tcp/1"], "exchange", 2.0)
        book.check_invariants()
    assert len(book) == PEERS_MAX
    assert IDS[0] in book


def test_peers_unseen_for_a_month_are_forgotten_but_bootstrap_peers_never() -> None:
    book = PeerBook(OWN)
    book.add(IDS[0], ["/ip4/10.0.0.1/tcp/1"], "bootstrap", 0.0, pinned=True)
    book.add(IDS[1], ["/ip4/10.0.0.2/tcp/1"], "identify", 0.0)
    book.connected(IDS[1], 10.0)
    book.add(IDS[2], ["/ip4/10.0.0.3/tcp/1"], "exchange", 5.0)
    assert book.forget_stale(FORGET_AFTER_S + 5.0) == []
    assert book.forget_stale(FORGET_AFTER_S + 10.5) == [IDS[1], IDS[2]]
    assert [e.peer_id for e in book.entries()] == [IDS[0]]


def test_the_book_survives_a_restart_and_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    book = PeerBook(OWN)
    book.add(IDS[0], ["/ip4/10.0.0.1/tcp/1"], "bootstrap", 5.0, pinned=True)
    book.add(IDS[1], ["/ip6/fd00::1/tcp/2"], "identify", 6.0)
    book.connected(IDS[1], 7.0)
    path = tmp_path / "peers.json"
    save_book(book, path)
    again = load_book(path, OWN)
    assert again.to_json() == book.to_json()
    assert len(load_book(path, IDS[5])) == 0  # another identity's book is not ours
    path.write_text(json.dumps({"version": 1, "own_id": OWN, "peers": [{"peer_id": 3}]}))
    with pytest.raises(BookCorrupt):
        load_book(path, OWN)
    path.write_text("{")
    with pytest.raises(BookCorrupt):
        load_book(path, OWN)


# -- the /troth/peers/1 messages ------------------------------------------------

def test_messages_round_trip_and_limits_hold_both_ways() -> None:
    peers = [PeerAddrs(peer_id=IDS[0], addrs=("/ip4/10.0.0.1/tcp/4001", "/ip6/::1/tcp/9"))]
    assert decode_reply(encode_reply(peers)) == peers
    assert decode_request(encode_request(PEERS_PER_REPLY_MAX)) == PEERS_PER_REPLY_MAX
    with pytest.raises(ValueError):
        encode_request(PEERS_PER_REPLY_MAX + 1)
    too_many = dumps({"peers": [{"id": b"x", "addrs": []}] * (PEERS_PER_REPLY_MAX + 1)})
    with pytest.raises(InvalidFrame, match="limit-exceeded"):
        decode_reply(too_many)
    with pytest.raises(InvalidFrame, match="too-large"):
        decode_reply(b"\x00" * (EXCHANGE_FRAME_MAX_BYTES + 1))
    good = encode_reply(peers)
    for cut in range(len(good)):
        with pytest.raises(InvalidFrame):
            decode_reply(good[:cut])
    with pytest.raises(InvalidFrame):
        decode_reply(good + b"\x00")


@pytest.mark.parametrize("addr", ["/ip4/0.0.0.0/tcp/4001", "/ip4/10.0.0.1/tcp/0",
                                  "/ip4/10.0.0.1/udp/4001", "/unix/tmp/x", "garbage",
                                  "/ip4/10.0.0.1/tcp/1/p2p/" + IDS[0]])
def test_an_address_nobody_could_dial_spoils_the_reply(addr: str) -> None:
    from wire import agent_id_to_bytes

    with pytest.raises(InvalidFrame, match="bad-reply"):
        decode_reply(dumps({"peers": [{"id": agent_id_to_bytes(IDS[0]), "addrs": [addr]}]}))


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_invalid_frame(data: bytes) -> None:
    for decode in (decode_reply, decode_request):
        try:
            decode(data)
        except InvalidFrame:
            pass


# -- the exchange between real hosts ---------------------------------------------

async def test_an_answer_is_rate_limited_per_asker_and_never_names_the_asker() -> None:
    seeds = [bytes([i]) * 32 for i in (1, 2, 3)]
    async with P2PNode.start(seeds[0]) as hub, P2PNode.start(seeds[1]) as a, \
            P2PNode.start(seeds[2]) as b:
        found = Discovery(hub, None)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(found.run)
            await a.connect(hub.listen_addrs[0])
            await b.connect(hub.listen_addrs[0])
            await wait_until(lambda: {a.peer_id, b.peer_id} <= {
                e.peer_id for e in found.book.entries() if e.addrs}, "the hub to book both")

            async def ask(who: P2PNode) -> list[PeerAddrs]:
                stream = await who.open_stream(hub.peer_id, PEERS_PROTOCOL,
                                               frame_size_max_bytes=EXCHANGE_FRAME_MAX_BYTES)
                await stream.send_frame(encode_request(8))
                return decode_reply(await stream.receive_frame())

            (told,) = await ask(a)
            assert told.peer_id == b.peer_id
            assert told.addrs == (b.listen_addrs[0].rsplit("/p2p/", 1)[0],)
            with pytest.raises((P2PError, InvalidFrame)):  # asked again at once: reset
                await ask(a)
            assert found.exchanges_answered == 1 and found.exchanges_refused == 1
            nursery.cancel_scope.cancel()


async def test_a_booked_address_nobody_could_dial_is_never_passed_on() -> None:
    """A bootstrap address is booked as the operator wrote it; an answer must
    still hold only addresses a peer could dial, or the asker refuses it whole."""
    good, bad = IDS[0], IDS[1]
    async with P2PNode.start(bytes([4]) * 32) as node:
        found = Discovery(node, None, bootstrap=(f"/ip4/10.0.0.1/tcp/4001/p2p/{good}",
                                                 f"/ip4/10.0.0.2/tcp/0/p2p/{bad}"))
        offered = found.offer(IDS[2], PEERS_PER_REPLY_MAX)
        assert offered == [PeerAddrs(peer_id=good, addrs=("/ip4/10.0.0.1/tcp/4001",))]
        assert decode_reply(encode_reply(offered)) == offered


@pytest.mark.slow
async def test_members_find_each_other_through_one_peer_and_again_from_their_books(
        tmp_path: Path) -> None:
    """hub, a and b: a and b bootstrap from the hub and meet through it; the
    hub goes; a restarts with no bootstrap list and finds b from its book."""
    homes = {n: Home.init(tmp_path / n) for n in ("hub", "a", "b")}

    def runtime(name: str, bootstrap: tuple[str, ...] = (), port: int = 0) -> Runtime:
        home, identity = homes[name]
        return Runtime(home, identity, Config(sync_interval_s=1.0, bootstrap=bootstrap,
                                              listen=(f"/ip4/127.0.0.1/tcp/{port}",)))

    hub = runtime("hub")
    async with trio.open_nursery() as outer:
        await run_in(outer, hub)
        a, b = runtime("a", (hub.listen_addrs()[0],)), runtime("b", (hub.listen_addrs()[0],))
        async with trio.open_nursery() as nursery:
            await run_in(nursery, a, b)
            assert a.p2p is not None and b.p2p is not None
            a_id, b_id = a.identity.agent_id, b.identity.agent_id
            await wait_until(lambda: b_id in a.p2p.connected_peers()  # type: ignore[union-attr]
                             and a_id in b.p2p.connected_peers(),  # type: ignore[union-attr]
                             "a and b to meet through the hub")
            hub.stop()
            await wait_until(lambda: a.p2p is not None and
                             hub.identity.agent_id not in a.p2p.connected_peers(), "hub gone")
            rows = {r["peer"]: r for r in a.peers()}
            assert rows[b_id]["reached"] == "direct" and rows[b_id]["connected"]
            assert rows[b_id]["remote_addr"].startswith("/ip4/127.0.0.1/tcp/")
            assert rows[hub.identity.agent_id]["bootstrap"] is True
            b_port = b.p2p.port
            a.stop()
            b.stop()
        booked = json.loads(homes["a"][0].peers_path.read_text())
        assert {p["peer_id"] for p in booked["peers"]} == {b_id, hub.identity.agent_id}

        again = runtime("a")  # no bootstrap list: only its book
        b2 = runtime("b", port=b_port)  # b is where it was (a member's port is fixed)
        async with trio.open_nursery() as nursery:
            await run_in(nursery, b2, again)
            await wait_until(lambda: again.p2p is not None and
                             b_id in again.p2p.connected_peers(), "a to find b from its book")
            hub_row = {r["peer"]: r for r in again.peers()}[hub.identity.agent_id]
            assert hub_row["reached"] == "not connected" and not hub_row["connected"]
            again.stop()
            b2.stop()
