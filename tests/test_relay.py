"""node/net relays and reachability on loopback: real hosts, real circuits.

A relay R (hop on) and members A, B; B reaches A only at A's circuit address
through R. Everything a member does over a direct connection (gossip, the
`/troth/sync/1` stream) must work over the relayed one, and the relay's
limits must bite. Real time: every wait is on a condition, never a bare sleep.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio

from node.net.discovery import Discovery
from node.net.p2p import (
    ConnectFailed,
    InvalidAddress,
    P2PNode,
    PeerConnected,
    Reachability,
    RelayParams,
    StreamClosed,
    StreamFailed,
    SyncStream,
)
from tests.test_p2p import wait_until

TOPIC = "troth/test/1"
WAIT_S = 10.0


def seed(n: int) -> bytes:
    return hashlib.sha256(f"relay-test-{n}".encode()).digest()


@asynccontextmanager
async def relay_and_members(params: RelayParams | None = None
                            ) -> AsyncIterator[tuple[P2PNode, P2PNode, P2PNode]]:
    async with AsyncExitStack() as stack:
        relay = await stack.enter_async_context(
            P2PNode.start(seed(0), relay=params or RelayParams(hop=True)))
        a = await stack.enter_async_context(P2PNode.start(seed(1)))
        b = await stack.enter_async_context(P2PNode.start(seed(2)))
        yield relay, a, b


async def echo_handler(peer_id: str, stream: SyncStream) -> None:
    while True:
        try:
            frame = await stream.receive_frame()
        except StreamClosed:
            return
        await stream.send_frame(frame)


async def test_a_member_reached_only_through_a_relay_gossips_and_syncs_over_it() -> None:
    async with relay_and_members() as (relay, a, b):
        held = await a.reserve(relay.listen_addrs[0])
        assert held.relay == relay.peer_id
        assert held.addr == f"{relay.listen_addrs[0]}/p2p-circuit/p2p/{a.peer_id}"
        assert a.relay_addrs == [held.addr]
        assert relay.relay_status.reservations_served == 1

        for node in (a, b):
            await node.subscribe(TOPIC)
        a.set_sync_handler(echo_handler)
        assert await b.connect(held.addr) == a.peer_id
        assert b.peer_routes()[a.peer_id] == relay.peer_id
        await wait_until(lambda: a.peer_routes().get(b.peer_id) == relay.peer_id)
        assert relay.relay_status.circuits_served == 1
        # B never dialled A's own address: it has no direct connection to A.
        assert b.peer_routes()[relay.peer_id] is None
        # what `troth peers` shows of them (the peer book's rows)
        book = Discovery(b, None, bootstrap=(relay.listen_addrs[0], held.addr))
        rows = book.rows()
        assert (rows[a.peer_id]["reached"], rows[a.peer_id]["via"]) == ("relayed", relay.peer_id)
        assert (rows[relay.peer_id]["reached"], rows[relay.peer_id]["via"]) == ("direct", None)

        # the sync protocol, frame by frame, over the circuit
        stream = await b.open_sync_stream(a.peer_id)
        for size in (1, 1000, 300_000):
            await stream.send_frame(bytes([size % 251]) * size)
            assert await stream.receive_frame() == bytes([size % 251]) * size
        await stream.close()

        # gossip both ways over the circuit (the relay is not subscribed:
        # nothing can reach the other member except through the circuit)
        await wait_until(lambda: b.peer_id in a.mesh_peers(TOPIC)
                         and a.peer_id in b.mesh_peers(TOPIC))
        await a.publish(TOPIC, b"from a")
        await b.publish(TOPIC, b"from b")
        with trio.fail_after(WAIT_S):
            got_b = await b.messages.receive()
            got_a = await a.messages.receive()
        assert (got_b.data, got_b.from_peer, got_b.via) == (b"from a", a.peer_id, a.peer_id)
        assert (got_a.data, got_a.from_peer, got_a.via) == (b"from b", b.peer_id, b.peer_id)


async def test_without_a_reservation_the_relay_refuses_and_nothing_is_connected() -> None:
    async with relay_and_members() as (relay, a, b):
        await a.connect(relay.listen_addrs[0])  # connected, but no slot reserved
        circuit = f"{relay.listen_addrs[0]}/p2p-circuit/p2p/{a.peer_id}"
        with pytest.raises(ConnectFailed):
            await b.connect(circuit)
        assert a.peer_id not in b.connected_peers()


async def test_a_node_that_is_not_a_relay_refuses_reservations() -> None:
    async with relay_and_members(RelayParams(hop=False)) as (relay, a, _):
        with pytest.raises(ConnectFailed):
            await a.reserve(relay.listen_addrs[0])
        assert a.relay_addrs == []
        assert relay.relay_status.reservations_served == 0


async def test_the_operator_caps_reservations() -> None:
    async with relay_and_members(RelayParams(hop=True, max_reservations=1)) as (relay, a, b):
        await a.reserve(relay.listen_addrs[0])
        with pytest.raises(ConnectFailed):
            await b.reserve(relay.listen_addrs[0])
        assert relay.relay_status.reservations_served == 1


async def test_a_circuit_over_its_byte_limit_is_reset_and_can_be_redialled() -> None:
    params = RelayParams(hop=True, max_circuit_bytes=64 * 1024)
    async with relay_and_members(params) as (relay, a, b):
        held = await a.reserve(relay.listen_addrs[0])
        a.set_sync_handler(echo_handler)
        await b.connect(held.addr)
        stream = await b.open_sync_stream(a.peer_id)
        with pytest.raises((StreamFailed, StreamClosed)):
            for _ in range(10):
                await stream.send_frame(b"x" * 20_000)
                await stream.receive_frame()
        await wait_until(lambda: a.peer_id not in b.connected_peers())
        # The member's reservation outlives the circuit: a new dial works.
        await b.connect(held.addr)
        assert b.peer_routes()[a.peer_id] == relay.peer_id


async def test_connection_events_fire_for_relayed_peers() -> None:
    async with relay_and_members() as (relay, a, b):
        held = await a.reserve(relay.listen_addrs[0])
        await b.connect(held.addr)
        with trio.fail_after(WAIT_S):
            while True:
                event = await a.peer_events.receive()
                if isinstance(event, PeerConnected) and event.peer_id == b.peer_id:
                    break


async def test_bad_circuit_addresses_are_refused_before_any_dial() -> None:
    async with relay_and_members() as (relay, a, b):
        bad = [f"{relay.listen_addrs[0]}/p2p-circuit/p2p/{relay.peer_id}",  # relay = target
               f"/p2p/{relay.peer_id}/p2p-circuit/p2p/{a.peer_id}"]  # no relay address
        for addr in bad:
            with pytest.raises(InvalidAddress):
                await b.connect(addr)
        with pytest.raises(ValueError):
            await b.connect(f"{a.listen_addrs[0]}/p2p-circuit/p2p/{b.peer_id}")
        assert b.connected_peers() == []


async def test_dial_back_finds_a_listening_node_public_and_a_silent_address_private() -> None:
    async with relay_and_members() as (relay, a, _):
        await a.connect(relay.listen_addrs[0])
        assert a.reachability is Reachability.UNKNOWN
        assert await a.check_reachability([relay.peer_id]) is Reachability.PUBLIC
        # the same request, advertising a port nobody listens on: the relay's
        # probe fails (py-libp2p's own dial-back said "reachable" to this,
        # since it only checked it was connected to us)
        with trio.socket.socket() as sock:
            await sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]
        silent = [f"/ip4/127.0.0.1/tcp/{closed_port}"]
        assert await a.check_reachability([relay.peer_id], silent) is Reachability.PRIVATE


async def test_a_node_listening_on_every_interface_is_found_public() -> None:
    """0.0.0.0 names no address to dial back: the request carries the address
    our traffic to the asked peer leaves from (here 127.0.0.1)."""
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(P2PNode.start(seed(0)))
        wild = await stack.enter_async_context(P2PNode.start(seed(1), listen="/ip4/0.0.0.0/tcp/0"))
        await wild.connect(server.listen_addrs[0])
        assert await wild.check_reachability([server.peer_id]) is Reachability.PUBLIC


async def test_a_circuit_past_its_duration_is_reset_at_its_next_bytes() -> None:
    """py-libp2p's relay checks a circuit's age when bytes arrive: an idle
    circuit outlives its limit, the first frame after it ends the circuit."""
    limit_s = 3  # room for the first exchange on a loaded machine
    async with relay_and_members(RelayParams(hop=True, max_circuit_duration_s=limit_s)) as (
            relay, a, b):
        held = await a.reserve(relay.listen_addrs[0])
        a.set_sync_handler(echo_handler)
        born = trio.current_time()
        await b.connect(held.addr)
        stream = await b.open_sync_stream(a.peer_id)
        await stream.send_frame(b"young")
        assert await stream.receive_frame() == b"young"
        await trio.sleep_until(born + limit_s + 0.5)  # the limit is the relay's wall clock
        with pytest.raises((StreamFailed, StreamClosed)):
            await stream.send_frame(b"old")
            await stream.receive_frame()
        await wait_until(lambda: a.peer_id not in b.connected_peers())
