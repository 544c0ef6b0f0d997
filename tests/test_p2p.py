"""node/net/ on real loopback sockets: gossip, validation, sync frames, restart.

Real libp2p hosts, so real time: every wait is on a condition (polled by
`wait_until`) or an event under `trio.fail_after`, never a bare sleep.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import cast

import pytest
import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.utils import encode_varint_prefixed

from node.net.p2p import (
    FRAME_SIZE_MAX_BYTES,
    ConnectFailed,
    FrameTimeout,
    FrameTooLarge,
    GossipReceived,
    IdentityMismatch,
    InvalidAddress,
    MalformedFrame,
    NodeClosed,
    P2PError,
    P2PNode,
    PeerConnected,
    PeerDisconnected,
    PublishRejected,
    StartFailed,
    StreamClosed,
    StreamFailed,
    SyncStream,
    encode_frame_prefix,
)
from wire import FRAME_SIZE_MAX_BYTES as WIRE_FRAME_SIZE_MAX_BYTES
from wire import Identity

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "troth/test/1"
WAIT_S = 10.0  # generous: a 2-core CI box running other suites


def seed(n: int) -> bytes:
    return hashlib.sha256(f"p2p-test-{n}".encode()).digest()


async def wait_until(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.01)


async def receive_n(node: P2PNode, n: int, timeout_s: float = WAIT_S) -> list[GossipReceived]:
    got: list[GossipReceived] = []
    with trio.fail_after(timeout_s):
        while len(got) < n:
            got.append(await node.messages.receive())
    return got


def drained(node: P2PNode) -> list[GossipReceived]:
    out: list[GossipReceived] = []
    while True:
        try:
            out.append(node.messages.receive_nowait())
        except trio.WouldBlock:
            return out


@asynccontextmanager
async def nodes(*numbers: int) -> AsyncIterator[list[P2PNode]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(P2PNode.start(seed(n))) for n in numbers]


async def link(a: P2PNode, b: P2PNode) -> None:
    assert await a.connect(b.listen_addrs[0]) == b.peer_id


async def meshed(edges: list[tuple[P2PNode, P2PNode]], topic: str = TOPIC) -> None:
    await wait_until(lambda: all(b.peer_id in a.mesh_peers(topic) and
                                 a.peer_id in b.mesh_peers(topic) for a, b in edges))


# ------------------------------------------------------------ identity ---


async def test_identity_addresses_and_misuse() -> None:
    ident = Identity.from_seed(seed(1))
    async with P2PNode.start(ident.private_bytes(), expected_peer_id=ident.agent_id) as node:
        assert node.peer_id == ident.agent_id
        assert node.port > 0
        assert node.listen_addrs == [f"/ip4/127.0.0.1/tcp/{node.port}/p2p/{ident.agent_id}"]
        assert node.connected_peers() == []
        with pytest.raises(InvalidAddress):
            await node.connect("not a multiaddr")
        with pytest.raises(InvalidAddress):
            await node.connect(f"/ip4/127.0.0.1/tcp/{node.port}")  # no /p2p/
        with pytest.raises(ValueError):
            await node.connect(node.listen_addrs[0])  # ourselves
        await node.subscribe(TOPIC, validator=lambda topic, data: data != b"no")
        with pytest.raises(PublishRejected):
            await node.publish(TOPIC, b"no")
        # A second node cannot share the port (py-libp2p alone would let it:
        # SO_REUSEPORT, and the kernel would split connections between them).
        with pytest.raises(StartFailed):
            async with P2PNode.start(seed(2), listen=f"/ip4/127.0.0.1/tcp/{node.port}"):
                pass
    with pytest.raises(NodeClosed):
        await node.publish(TOPIC, b"late")
    with pytest.raises(IdentityMismatch):
        async with P2PNode.start(seed(1), expected_peer_id=Identity.from_seed(seed(2)).agent_id):
            pass
    with pytest.raises(ValueError):
        async with P2PNode.start(b"short"):
            pass
    for listen in ("/ip4/127.0.0.1/udp/0/quic-v1", "/dns4/localhost/tcp/0"):
        with pytest.raises(InvalidAddress):  # TCP (hence Noise) only, no wildcard lookups
            async with P2PNode.start(seed(3), listen=listen):
                pass
    # An error in the caller's block comes out as itself, not in an ExceptionGroup.
    with pytest.raises(KeyError):
        async with P2PNode.start(seed(3)):
            raise KeyError("mine")


async def test_noise_only_plaintext_is_refused() -> None:
    """multistream-select by hand: /plaintext/2.0.0 gets "na", /noise is accepted."""

    async def read_msg(stream: trio.SocketStream, buf: bytearray) -> bytes:
        while True:
            if buf:
                length, shift, i = 0, 0, 0
                while i < len(buf):
                    length |= (buf[i] & 0x7F) << shift
                    shift += 7
                    i += 1
                    if not buf[i - 1] & 0x80:
                        break
                if len(buf) >= i + length and not buf[i - 1] & 0x80:
                    msg = bytes(buf[i:i + length])
                    del buf[:i + length]
                    return msg
            chunk = await stream.receive_some(4096)
            assert chunk, "listener closed the connection"
            buf += chunk

    def msg(text: str) -> bytes:
        data = text.encode() + b"\n"
        return encode_frame_prefix(len(data)) + data

    async with P2PNode.start(seed(1)) as node:
        with trio.fail_after(WAIT_S):
            stream = await trio.open_tcp_stream("127.0.0.1", node.port)
            buf = bytearray()
            await stream.send_all(msg("/multistream/1.0.0") + msg("/plaintext/2.0.0"))
            assert await read_msg(stream, buf) == b"/multistream/1.0.0\n"
            assert await read_msg(stream, buf) == b"na\n"
            await stream.send_all(msg("/noise"))
            assert await read_msg(stream, buf) == b"/noise\n"
            await stream.aclose()


async def test_peer_events_connect_and_disconnect() -> None:
    async with nodes(1, 2) as (a, b):
        await link(a, b)
        with trio.fail_after(WAIT_S):
            assert await a.peer_events.receive() == PeerConnected(peer_id=b.peer_id)
            assert await b.peer_events.receive() == PeerConnected(peer_id=a.peer_id)
        assert a.connected_peers() == [b.peer_id]
        await a.disconnect(b.peer_id)
        with trio.fail_after(WAIT_S):
            assert await a.peer_events.receive() == PeerDisconnected(peer_id=b.peer_id)
            assert await b.peer_events.receive() == PeerDisconnected(peer_id=a.peer_id)
        assert a.connected_peers() == [] and b.connected_peers() == []
        # A dead address fails with the typed error, and quickly.
        port = b.port
    with pytest.raises(ConnectFailed):
        async with P2PNode.start(seed(3)) as c:
            await c.connect(f"/ip4/127.0.0.1/tcp/{port}/p2p/{b.peer_id}", timeout_s=5)


# -------------------------------------------------------------- gossip ---


async def test_gossip_reaches_all_five_in_a_line() -> None:
    async with nodes(1, 2, 3, 4, 5) as line:
        for node in line:
            await node.subscribe(TOPIC)
        for a, b in zip(line, line[1:], strict=False):
            await link(a, b)
        await meshed(list(zip(line, line[1:], strict=False)))
        await line[0].publish(TOPIC, b"from one end")
        await line[4].publish(TOPIC, b"from the other")
        for i, node in enumerate(line):
            got = await receive_n(node, 1 if i in (0, 4) else 2)
            expected = {b"from one end", b"from the other"} - {
                {0: b"from one end", 4: b"from the other"}.get(i, b"")}
            assert {m.data for m in got} == expected
            assert all(m.topic == TOPIC for m in got)
            assert {m.from_peer for m in got} <= {line[0].peer_id, line[4].peer_id}
        assert line[0].stats.delivered == 1 and line[2].stats.delivered == 2


async def test_a_malformed_pubsub_rpc_costs_its_stream_not_the_node() -> None:
    """py-libp2p let the protobuf error of one malformed RPC escape its
    reader, and that ended the whole node. Now the bad peer's stream is reset,
    counted, and everyone else goes on: the victim still delivers a message
    from an honest neighbour, and the bad peer can come back."""
    async with nodes(1, 2, 3, 4) as (victim, bad, honest, bad2):
        for node in (victim, bad, honest, bad2):
            await node.subscribe(TOPIC)
        for node in (bad, honest, bad2):
            await link(node, victim)
        await meshed([(victim, bad), (victim, honest), (victim, bad2)])
        stream = await bad._host.new_stream(ID.from_base58(victim.peer_id),
                                            [TProtocol("/meshsub/1.1.0")])
        await stream.write(bytes([5]) + b"\xff" * 5)  # a length, then no protobuf
        await wait_until(lambda: victim.stats.broken_streams == 1)
        await honest.publish(TOPIC, b"after the garbage")
        assert [m.data for m in await receive_n(victim, 1)] == [b"after the garbage"]
        # A well-formed RPC whose message has a `key` that is no PublicKey:
        # py-libp2p's signature check raised DecodeError out of push_msg.
        bad_key = rpc_pb2.RPC(publish=[rpc_pb2.Message(
            from_id=b"garbage", data=b"x", seqno=b"123",
            topicIDs=[TOPIC], signature=b"s", key=b"not a key")])
        stream = await bad2._host.new_stream(ID.from_base58(victim.peer_id),
                                            [TProtocol("/meshsub/1.1.0")])
        await stream.write(encode_varint_prefixed(bad_key.SerializeToString()))
        await wait_until(lambda: victim.stats.malformed_messages == 1)
        await honest.publish(TOPIC, b"after the bad key")
        assert [m.data for m in await receive_n(victim, 1)] == [b"after the bad key"]
        assert honest.peer_id in victim.connected_peers()
        assert victim.stats.rejected == 0  # nothing was judged: the RPC never parsed


async def test_validator_rejects_without_delivery_or_forwarding() -> None:
    """a - b - c: b's validator refuses b"bad"; a and c accept anything."""
    async with nodes(1, 2, 3) as (a, b, c):
        await a.subscribe(TOPIC)
        await b.subscribe(TOPIC, validator=lambda topic, data: not data.startswith(b"bad"))
        await c.subscribe(TOPIC)
        await link(a, b)
        await link(b, c)
        await meshed([(a, b), (b, c)])
        await a.publish(TOPIC, b"bad: forged")
        await wait_until(lambda: b.stats.rejected == 1)
        # b refused it before "good" was even published, and b forwards only
        # what passed: if c now gets "good" alone, "bad" never left b.
        await a.publish(TOPIC, b"good")
        assert [m.data for m in await receive_n(c, 1)] == [b"good"]
        assert [m.data for m in await receive_n(b, 1)] == [b"good"]
        assert drained(b) == [] and drained(c) == []
        assert b.stats.rejected == 1 and b.stats.validator_errors == 0
        # py-libp2p counted an invalid message against the relaying neighbour.
        assert b.peer_score(a.peer_id, TOPIC) < 0
        assert b.peer_score(c.peer_id, TOPIC) == 0
        def broken(topic: str, data: bytes) -> bool:
            raise RuntimeError("validator bug")

        c.set_validator(TOPIC, broken)  # a raising validator rejects, never crashes
        await a.publish(TOPIC, b"into the bug")
        await wait_until(lambda: c.stats.validator_errors == 1)
        assert c.stats.rejected == 1
        # A runtime penalty (e.g. for a bad sync frame) lands on the same score;
        # below -10 b drops what c relays and sends c nothing (docs/libp2p.md).
        b.penalise(c.peer_id, 50.0)
        assert b.peer_score(c.peer_id, TOPIC) <= -50.0
        with pytest.raises(ValueError):
            b.penalise(c.peer_id, -1.0)


async def test_burst_of_300_reaches_four_subscribers() -> None:
    """py-libp2p's defaults (10 msg/s, 32-slot queues) would lose most of these."""
    async with nodes(1, 2, 3, 4, 5) as (hub, *subs):
        for node in (hub, *subs):
            await node.subscribe(TOPIC)
        for sub in subs:
            await link(hub, sub)
        await meshed([(hub, sub) for sub in subs])
        payloads = [i.to_bytes(2, "big") + bytes(298) for i in range(300)]
        for data in payloads:
            await hub.publish(TOPIC, data)
        for sub in subs:
            got = await receive_n(sub, 300, timeout_s=20)
            assert sorted(m.data for m in got) == payloads
            assert sub.stats.dropped_messages_queue_full == 0


# ---------------------------------------------------------------- sync ---


async def test_sync_frames_both_ways_large_oversize_and_timeout() -> None:
    outcomes: trio.MemorySendChannel[object]
    outcomes, results = trio.open_memory_channel[object](16)
    scripts: dict[str, str] = {}
    release = trio.Event()

    async def server(peer_id: str, stream: SyncStream) -> None:
        mode = scripts.get(peer_id, "echo")
        try:
            if mode == "echo":
                while True:
                    request = await stream.receive_frame()
                    await stream.send_frame(b"re:" + request[:16] + bytes(len(request)))
            elif mode == "batch":  # read until the client half-closes, then answer
                requests = []
                with pytest.raises(StreamClosed):
                    while True:
                        requests.append(await stream.receive_frame())
                for request in requests:
                    await stream.send_frame(request.upper())
                await outcomes.send("answered")
            elif mode == "slow":
                await stream.receive_frame(timeout_s=1.0)  # room for a loaded machine
            else:
                await release.wait()  # silent: neither answers nor closes
        except StreamClosed:
            await outcomes.send("closed")
        except P2PError as exc:
            await outcomes.send(exc)

    async with nodes(1, 2) as (a, b):
        a.set_sync_handler(server)
        b.set_sync_handler(server)
        await link(a, b)
        with trio.fail_after(WAIT_S):
            # request/response, both directions, up to 900 KiB
            for opener, other in ((a, b), (b, a)):
                stream = await opener.open_sync_stream(other.peer_id)
                for size in (0, 1, 300, 900 * 1024):
                    request = bytes([size % 251]) * size
                    await stream.send_frame(request)
                    reply = await stream.receive_frame()
                    assert reply == b"re:" + request[:16] + bytes(size)
                await stream.close()
                assert await results.receive() == "closed"
            with pytest.raises(ValueError):
                await stream.send_frame(bytes(FRAME_SIZE_MAX_BYTES + 1))

            # half-close: the server still answers after our last request
            scripts[a.peer_id] = "batch"
            stream = await a.open_sync_stream(b.peer_id)
            for request in (b"one", b"two", b"three"):
                await stream.send_frame(request)
            await stream.close()
            assert [await stream.receive_frame() for _ in range(3)] == [b"ONE", b"TWO", b"THREE"]
            assert await results.receive() == "answered"
            with pytest.raises(StreamClosed):
                await stream.receive_frame()
            del scripts[a.peer_id]

            # an oversize length prefix: refused at once, the body never sent
            stream = await a.open_sync_stream(b.peer_id)
            await stream._write_raw(encode_frame_prefix(FRAME_SIZE_MAX_BYTES + 1))
            error = await results.receive()
            assert isinstance(error, FrameTooLarge)
            assert (error.size_bytes, error.limit_bytes) == (FRAME_SIZE_MAX_BYTES + 1,
                                                             FRAME_SIZE_MAX_BYTES)
            # b reset the stream; py-libp2p's yamux reports a reset the peer
            # sent as EOF once it dropped the stream, so either error is fine
            with pytest.raises((StreamFailed, StreamClosed)):
                await stream.receive_frame()

            # a prefix fed one byte at a time is fine; a non-minimal one is garbage
            stream = await a.open_sync_stream(b.peer_id)
            for byte in encode_frame_prefix(70_000):
                await stream._write_raw(bytes([byte]))
            await stream._write_raw(bytes(70_000))
            assert await stream.receive_frame() == b"re:" + bytes(16) + bytes(70_000)
            await stream._write_raw(b"\x85\x00")
            error = await results.receive()
            assert isinstance(error, MalformedFrame)

            # a silent peer: the reader's deadline fires
            scripts[a.peer_id] = "silent"
            stream = await a.open_sync_stream(b.peer_id)
            await stream.send_frame(b"hello?")
            with pytest.raises(FrameTimeout):
                await stream.receive_frame(timeout_s=0.1)
            with pytest.raises(StreamFailed):  # unusable after a timeout
                await stream.receive_frame()
            release.set()

            # half a frame, then nothing: the deadline fires, and a peer that
            # stalls in the middle of a frame is banned (tests/test_sync_hostile.py)
            scripts[a.peer_id] = "slow"
            stream = await a.open_sync_stream(b.peer_id)
            await stream._write_raw(encode_frame_prefix(10) + b"12345")
            error = await results.receive()
            assert isinstance(error, FrameTimeout)
            assert (error.timeout_s, error.received_bytes) == (1.0, 6)
            await wait_until(lambda: a.peer_id not in b.connected_peers())
            assert b.sync_defence.frame_timeouts == 1 and b.sync_peer_info(a.peer_id).banned


def test_frame_limit_matches_the_wire_codec() -> None:
    assert FRAME_SIZE_MAX_BYTES == WIRE_FRAME_SIZE_MAX_BYTES
    # the limit a stream enforces by default, not only the exported name
    stream = SyncStream(cast(INetStream, None), "peer")
    assert stream._frame_size_max_bytes == WIRE_FRAME_SIZE_MAX_BYTES
    assert encode_frame_prefix(0) == b"\x00"
    assert encode_frame_prefix(300) == b"\xac\x02"
    assert encode_frame_prefix(FRAME_SIZE_MAX_BYTES) == b"\x80\x80\x40"


# ------------------------------------------------------------- restart ---


async def test_restart_same_port_and_identity_in_process() -> None:
    async with nodes(1, 3) as (a, c):
        await a.subscribe(TOPIC)
        await c.subscribe(TOPIC)
        async with P2PNode.start(seed(2)) as b:
            port, b_id = b.port, b.peer_id
            await b.subscribe(TOPIC)
            await link(b, a)
            await link(b, c)
            await meshed([(a, b), (b, c)])
            # 20 publishes move b's seqno counter 20 ahead of the clock: with
            # py-libp2p's seconds-seeded counter the restarted b would reuse
            # these ids for ~20 s, and a and c would drop its news as seen.
            for i in range(20):
                await b.publish(TOPIC, b"life 1 #%d" % i)
            assert len(await receive_n(a, 20)) == 20
            assert len(await receive_n(c, 20)) == 20
        await wait_until(lambda: a.connected_peers() == [] and c.connected_peers() == [])
        # while b is down, a dial fails, which puts b in py-libp2p's 60 s
        # negative dial cache; connect() clears it when b is back
        with pytest.raises(ConnectFailed):
            await a.connect(f"/ip4/127.0.0.1/tcp/{port}/p2p/{b_id}", timeout_s=5)
        async with P2PNode.start(seed(2), listen=f"/ip4/127.0.0.1/tcp/{port}") as b2:
            assert (b2.port, b2.peer_id) == (port, b_id)
            await b2.subscribe(TOPIC)
            await a.connect(b2.listen_addrs[0])  # the others reconnect to b
            await c.connect(b2.listen_addrs[0])
            await meshed([(a, b2), (b2, c)])
            await b2.publish(TOPIC, b"life 2")
            assert [m.data for m in await receive_n(a, 1)] == [b"life 2"]
            assert [m.data for m in await receive_n(c, 1)] == [b"life 2"]
            await a.publish(TOPIC, b"to the new b")
            assert [m.data for m in await receive_n(b2, 1)] == [b"to the new b"]
            assert [m.data for m in await receive_n(c, 1)] == [b"to the new b"]


CHILD = """
import sys, trio
from node.net.p2p import P2PNode
async def main():
    seed, port, peer, label, topic = bytes.fromhex(sys.argv[1]), *sys.argv[2:6]
    async with P2PNode.start(seed, listen="/ip4/127.0.0.1/tcp/" + port) as node:
        await node.subscribe(topic)
        await node.connect(peer)
        while not node.mesh_peers(topic):
            await trio.sleep(0.01)
        for i in range(5):
            await node.publish(topic, (label + " " + str(i)).encode())
        print("published", flush=True)
        await trio.sleep_forever()
trio.run(main)
"""


@pytest.mark.slow
async def test_restart_in_a_new_process_after_kill() -> None:
    """A node killed with SIGKILL comes back on its port, and its news gets through."""
    async with P2PNode.start(seed(1)) as a:
        await a.subscribe(TOPIC)
        probe = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = probe[0].socket.getsockname()[1]
        await probe[0].aclose()
        for life in (b"one", b"two"):
            proc = await trio.lowlevel.open_process(
                [sys.executable, "-c", CHILD, seed(2).hex(), str(port), a.listen_addrs[0],
                 life.decode(), TOPIC], stdout=subprocess.PIPE, cwd=ROOT)
            try:
                assert proc.stdout is not None
                with trio.fail_after(30):
                    line = b""
                    while b"\n" not in line:
                        chunk = await proc.stdout.receive_some(100)
                        assert chunk, "child exited early"
                        line += chunk
                    assert line.startswith(b"published")
                    got = await receive_n(a, 5)
                assert sorted(m.data for m in got) == [life + b" %d" % i for i in range(5)]
            finally:
                proc.kill()
                with trio.fail_after(WAIT_S):
                    await proc.wait()
            await wait_until(lambda: a.connected_peers() == [])


async def test_delivered_gossip_names_the_relaying_neighbour() -> None:
    """a - b - c: at c, a's message has from_peer a (the originator) and via b."""
    async with nodes(1, 2, 3) as (a, b, c):
        for node in (a, b, c):
            await node.subscribe(TOPIC)
        await link(a, b)
        await link(b, c)
        await meshed([(a, b), (b, c)])
        await a.publish(TOPIC, b"from a")
        [at_b] = await receive_n(b, 1)
        [at_c] = await receive_n(c, 1)
        assert at_b.from_peer == at_c.from_peer == a.peer_id
        assert at_b.via == a.peer_id
        assert at_c.via == b.peer_id
        assert a.peer_id not in c.connected_peers()
