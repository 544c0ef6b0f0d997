"""The real node runtime: trio + py-libp2p hosts on 127.0.0.1, in one process.

Synchronisation is by condition (poll with a deadline), never by a bare sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio

import wire
from node.app.runtime import Runtime
from node.core import DEFAULT_TOPIC
from node.net.p2p import P2PNode
from node.store.home import Config, Home

WAIT_S = 20.0


async def wait_until(cond: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    with trio.move_on_after(timeout_s):
        while not cond():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


async def run_in(nursery: trio.Nursery, *runtimes: Runtime) -> None:
    """Run each runtime as a task of `nursery`; return once every one is listening."""
    for rt in runtimes:
        await nursery.start(lambda task_status, rt=rt: rt.run(handle_signals=False,
                                                              task_status=task_status))


def make_runtime(tmp: Path, name: str) -> Runtime:
    home, identity = Home.init(tmp / name)
    # These tests wire fixed topologies (a line, a ring): no peer exchange,
    # which would connect everyone (tests/test_discovery.py tests it).
    config = Config(sync_interval_s=1.0, peer_exchange=False)
    return Runtime(home, identity, config)


@pytest.fixture
async def five(tmp_path: Path) -> AsyncIterator[list[Runtime]]:
    nodes = [make_runtime(tmp_path, f"n{i}") for i in range(5)]
    async with trio.open_nursery() as nursery:
        await run_in(nursery, *nodes)
        # a ring plus one chord: every token needs more than one hop for some
        for i in range(5):
            assert nodes[i].p2p is not None
            await nodes[i].p2p.connect(nodes[(i + 1) % 5].listen_addrs()[0])
        await nodes[0].p2p.connect(nodes[2].listen_addrs()[0])  # type: ignore[union-attr]
        await wait_until(lambda: all(len(rt.p2p.connected_peers()) >= 2 for rt in nodes
                                     if rt.p2p), "the ring to connect")
        yield nodes
        for rt in nodes:
            rt.stop()


def holds(rt: Runtime, cid: str) -> bool:
    return rt.engine is not None and rt.engine.core.has(cid)


async def test_a_token_issued_at_one_node_appears_at_all(five: list[Runtime]) -> None:
    tokens = []
    for i, rt in enumerate(five):
        assert rt.engine is not None
        tok, outs = rt.engine.issue(kind="promise", now=rt.clock(), body={"text": f"p{i}"})
        rt._dispatch(outs)
        tokens.append(tok)
    for tok in tokens:
        await wait_until(lambda tok=tok: all(holds(rt, tok.cid) for rt in five),
                         f"{tok.cid} everywhere")
    sets = {frozenset(rt.engine.core.tokens) for rt in five if rt.engine}
    assert len(sets) == 1


async def test_sync_recovers_what_gossip_never_carried(five: list[Runtime]) -> None:
    """A token that reaches a node's store without gossip is pulled by the others."""
    quiet = five[3]
    assert quiet.engine is not None
    tok, _outs = quiet.engine.issue(kind="promise", now=quiet.clock(), body={"text": "hush"})
    # _outs (the Publish) is deliberately dropped: only anti-entropy can spread it.
    await wait_until(lambda: all(holds(rt, tok.cid) for rt in five), "sync to spread it")


async def test_forged_gossip_is_rejected_not_forwarded_and_the_forger_penalised(
        five: list[Runtime], tmp_path: Path) -> None:
    forger_id = wire.Identity.from_seed(b"forger".ljust(32, b"\0"))
    victim = five[0]
    genuine = wire.sign_token(forger_id, wire.Claims(issuer=forger_id.agent_id, iat=1, seq=1,
                                                     kind="promise", body={"text": "honest"}))
    forged = bytearray(genuine.raw)
    forged[-1] ^= 0x01  # signature no longer verifies
    async with P2PNode.start(forger_id.private_bytes()) as forger:
        await forger.subscribe(DEFAULT_TOPIC)  # no validator: it will publish garbage
        await forger.connect(victim.listen_addrs()[0])
        assert victim.p2p is not None
        await wait_until(lambda: forger.peer_id in victim.p2p.topic_peers(DEFAULT_TOPIC)
                         and victim.p2p.peer_id in forger.topic_peers(DEFAULT_TOPIC),
                         "the forger to join the topic")
        rejected_before = victim.p2p.stats.rejected
        others_before = [rt.p2p.stats.rejected for rt in five[1:] if rt.p2p]
        await forger.publish(DEFAULT_TOPIC, bytes(forged))
        await wait_until(lambda: victim.p2p.stats.rejected > rejected_before,
                         "the victim's validator to reject it")
        assert victim.p2p.peer_score(forger.peer_id, DEFAULT_TOPIC) < 0
        # then a genuine token from the same peer still gets through to all
        await forger.publish(DEFAULT_TOPIC, genuine.raw)
        await wait_until(lambda: all(holds(rt, genuine.cid) for rt in five),
                         "the genuine token everywhere")
        # Not forwarded: no other node's validator ever saw the forged copy
        # (the genuine one, published after it, has already reached them all).
        assert [rt.p2p.stats.rejected for rt in five[1:] if rt.p2p] == others_before
    bad_cid = wire.cid_of(bytes(forged))
    assert not any(holds(rt, bad_cid) for rt in five)


async def test_restart_resumes_from_the_store(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, "solo")
    async with trio.open_nursery() as nursery:
        await run_in(nursery, rt)
        assert rt.engine is not None
        first, _ = rt.engine.issue(kind="promise", now=rt.clock(), body={"text": "one"})
        rt.stop()
    assert rt.home.runtime() is None  # node.json removed on a clean stop
    again = Runtime(rt.home, rt.identity, rt.config)
    async with trio.open_nursery() as nursery:
        await run_in(nursery, again)
        assert again.engine is not None and again.engine.core.has(first.cid)
        second, _ = again.engine.issue(kind="promise", now=again.clock(), body={"text": "two"})
        assert second.seq == 2 and second.prev == first.cid
        again.stop()


async def test_discovered_peers_are_dialled(tmp_path: Path) -> None:
    """mDNS puts found peers in the peerstore; a node with mdns on dials them.

    No multicast here (network tests stay on 127.0.0.1, and mDNS would send to
    224.0.0.251): mDNS stays off, the test fills the peerstore as py-libp2p's
    mDNS listener would, and runs the runtime's discovery loop (what
    `mdns = true` starts) to check our side.
    """
    finder = make_runtime(tmp_path, "lan")
    other = make_runtime(tmp_path, "neighbour")
    async with trio.open_nursery() as nursery:
        await run_in(nursery, finder, other)
        assert finder.p2p is not None and other.p2p is not None
        assert finder._nursery is not None
        finder._nursery.start_soon(finder._discovery)
        found = finder.p2p.remember(other.listen_addrs()[0])
        assert found == other.identity.agent_id
        await wait_until(lambda: found in finder.p2p.connected_peers(), "the dial")
        finder.stop()
        other.stop()


async def test_one_node_per_home(tmp_path: Path) -> None:
    """Two processes on one home would each sign their own next seq."""
    from node.store.home import HomeError

    first = make_runtime(tmp_path, "shared")
    second = Runtime(first.home, first.identity, first.config)
    async with trio.open_nursery() as nursery:
        await run_in(nursery, first)
        with pytest.raises(HomeError, match="another troth node"):
            await second.run(handle_signals=False)
        first.stop()


async def test_peers_lists_neighbours_not_gossip_originators(tmp_path: Path) -> None:
    """a - b - c: c hears a's tokens through b; only b is c's peer, and b's
    stopping makes b unreachable without leaking onto a."""
    a, b, c = (make_runtime(tmp_path, n) for n in "abc")
    async with trio.open_nursery() as nursery:
        await run_in(nursery, a, b, c)
        assert a.p2p is not None and c.p2p is not None
        await a.p2p.connect(b.listen_addrs()[0])
        await c.p2p.connect(b.listen_addrs()[0])
        await wait_until(lambda: b.p2p is not None and len(b.p2p.connected_peers()) == 2,
                         "the line to connect")
        await wait_until(lambda: a.p2p is not None and c.p2p is not None and
                         a.p2p.mesh_peers(DEFAULT_TOPIC) and c.p2p.mesh_peers(DEFAULT_TOPIC),
                         "the meshes to form")
        a_id = a.identity.agent_id
        b_id = b.identity.agent_id
        assert a.engine is not None
        for i in range(3):
            tok, outs = a.engine.issue(kind="promise", now=a.clock(), body={"text": f"p{i}"})
            a._dispatch(outs)
            await wait_until(lambda tok=tok: holds(c, tok.cid), "a's token at c")
        assert a_id not in c.p2p.connected_peers()
        rows = c.peers()
        assert [r["peer"] for r in rows] == [b_id], rows
        assert rows[0]["connected"] is True and rows[0]["state"] == "alive"
        b.stop()
        await wait_until(lambda: [(r["peer"], r["state"]) for r in c.peers()]
                         == [(b_id, "unreachable")], "b to be unreachable at c")
        a.stop()
        c.stop()


async def test_core_rejections_of_gossip_penalise_nobody(tmp_path: Path) -> None:
    from node.core import TokenRejected

    rt = make_runtime(tmp_path, "n")
    penalised: list[str] = []

    class FakeP2P:
        def penalise(self, peer: str, amount: float = 1.0) -> None:
            penalised.append(peer)

    rt.p2p = FakeP2P()  # type: ignore[assignment]
    rejected = TokenRejected(peer="relay", reason="bad-chain")
    rt._dispatch([rejected], gossip=True)
    assert penalised == []
    rt._dispatch([rejected])  # the same from a sync peer: it sent us the bytes
    assert penalised == ["relay"]


async def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    import json
    import os
    import signal

    rt = make_runtime(tmp_path, "n")
    body = json.dumps({"text": "sent across a SIGTERM"}).encode()
    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: rt.run(handle_signals=True,
                                                           task_status=task_status))
            assert rt.api_url is not None
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
            host, port = rt.api_url.removeprefix("http://").rsplit(":", 1)
            stream = await trio.open_tcp_stream(host, int(port))
            head = (b"POST /v1/promises HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\n"
                    b"Authorization: Bearer " + rt.home.api_token().encode() + b"\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            await stream.send_all(head + body[:5])
            await trio.sleep(0.3)  # the request is being read when the signal comes
            os.kill(os.getpid(), signal.SIGTERM)
            await trio.sleep(0.3)
            await stream.send_all(body[5:])
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                answer += chunk
            await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert b"sent across a SIGTERM" in answer


async def test_a_bootstrap_peer_never_reached_is_listed_as_unreachable(tmp_path: Path) -> None:
    import socket

    from wire import Identity

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ghost = Identity.generate().agent_id
    home, identity = Home.init(tmp_path / "lonely")
    rt = Runtime(home, identity, Config(sync_interval_s=1.0, bootstrap=(
        f"/ip4/127.0.0.1/tcp/{port}/p2p/{ghost}",)))
    async with trio.open_nursery() as nursery:
        await run_in(nursery, rt)
        await wait_until(lambda: any(r.get("last_dial_error") for r in rt.peers()),
                         "the first failed dial")
        (row,) = rt.peers()
        assert row["peer"] == ghost and row["state"] == "unreachable"
        assert row["never_reached"] and not row["connected"]
        rt.stop()
