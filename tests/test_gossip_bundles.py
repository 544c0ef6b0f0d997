"""Gossip bundles between real runtimes on 127.0.0.1 (docs/decisions/0016-gossip-bundles.md).

A line of three runtimes a - b - c (c hears a only through b's forwarding),
anti-entropy slowed to once a minute so that what arrives came by gossip.
A bare `P2PNode` plays the peer that publishes hand-made bundles at b.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

import wire
import wire.token
from node.app.runtime import Runtime
from node.core import DEFAULT_TOPIC
from node.core.admission import AdmissionParams
from node.net.p2p import P2PNode
from node.store.home import Config, Home
from tests.test_runtime import holds, run_in, wait_until

QUIET_SYNC_S = 60.0  # no anti-entropy round during a test: gossip only


def runtime(tmp: Path, name: str, admission: AdmissionParams | None) -> Runtime:
    home, identity = Home.init(tmp / name)
    return Runtime(home, identity, Config(sync_interval_s=QUIET_SYNC_S, peer_exchange=False,
                                          admission=admission, verify_threads=1))


async def line(nursery: trio.Nursery, rts: list[Runtime]) -> None:
    await run_in(nursery, *rts)
    for x, y in zip(rts, rts[1:], strict=False):
        assert x.p2p is not None and y.p2p is not None
        await x.p2p.connect(y.listen_addrs()[0])
    await wait_until(lambda: all(y.p2p is not None and x.p2p is not None
                                 and y.p2p.peer_id in x.p2p.mesh_peers(DEFAULT_TOPIC)
                                 for x, y in zip(rts, rts[1:], strict=False)), "the mesh")


@pytest.fixture
async def open_line(tmp_path: Path) -> AsyncIterator[list[Runtime]]:
    rts = [runtime(tmp_path, n, None) for n in "abc"]
    async with trio.open_nursery() as nursery:
        await line(nursery, rts)
        yield rts
        for rt in rts:
            rt.stop()


def chain(who: wire.Identity, n: int, first_seq: int = 1,
          prev: str | None = None) -> list[wire.Token]:
    out = []
    for seq in range(first_seq, first_seq + n):
        t = wire.sign_token(who, wire.Claims(issuer=who.agent_id, iat=1_790_000_000 + seq,
                                             seq=seq, kind="promise", prev=prev,
                                             body={"text": f"{who.agent_id[-4:]} {seq}"}))
        prev = t.cid
        out.append(t)
    return out


async def test_a_burst_of_own_tokens_travels_in_bundles(open_line: list[Runtime],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = open_line
    checks: list[tuple[bytes, str]] = []  # (signature, thread) of every signature check
    real_verify = wire.token.verify_signature

    def spy(key: bytes, sig: bytes, msg: bytes) -> bool:
        checks.append((sig, threading.current_thread().name))
        return real_verify(key, sig, msg)

    monkeypatch.setattr(wire.token, "verify_signature", spy)
    assert a.engine is not None and c.p2p is not None and a.p2p is not None
    burst = 40
    assert c.engine is not None
    before, asked = c.p2p.stats.delivered, c.engine.core.stats.frames_out
    issued = []
    for k in range(burst):  # issued at once, as a client's burst: one publisher wake-up
        tok, outs = a.engine.issue(kind="promise", now=a.clock(), body={"text": f"burst {k}"})
        a._dispatch(outs)
        issued.append(tok)
    await wait_until(lambda: all(holds(rt, t.cid) for rt in (b, c) for t in issued),
                     "the burst at b and c")
    messages = c.p2p.stats.delivered - before
    assert 1 <= messages < burst, f"{messages} gossip messages for {burst} tokens"
    # In seq order inside the bundles: c never had to ask for a missing prev.
    assert c.engine.core.stats.frames_out == asked
    # Each signature checked once where it was signed and once at b and at c
    # (by the gossip validator, the bundles' on the verify threads; the
    # engine took the validator's word).
    sigs = {t.raw[-64:] for t in issued}
    ours = [name for sig, name in checks if sig in sigs]
    assert len(ours) == 3 * burst
    assert sum(name.startswith("troth-verify") for name in ours) >= burst
    # A lone token still goes out bare: a node that knows no bundles reads it.
    lone, outs = a.engine.issue(kind="promise", now=a.clock(), body={"text": "alone"})
    async with P2PNode.start(wire.Identity.from_seed(b"listener".ljust(32, b"\0"))
                             .private_bytes()) as listener:
        await listener.subscribe(DEFAULT_TOPIC)
        await listener.connect(a.listen_addrs()[0])
        await wait_until(lambda: listener.peer_id in a.p2p.mesh_peers(DEFAULT_TOPIC),  # type: ignore[union-attr]
                         "the listener in a's mesh")
        a._dispatch(outs)
        with trio.fail_after(10):
            # (gossipsub may first offer it the burst's bundle, still in a's cache)
            async for got in listener.messages:
                if got.data == lone.raw:
                    break
                assert wire.gossip_tokens(got.data) == tuple(t.raw for t in issued)


async def test_a_bundle_with_one_bad_token_is_rejected_whole(open_line: list[Runtime]) -> None:
    _a, b, c = open_line
    assert b.p2p is not None and c.p2p is not None
    sender = wire.Identity.from_seed(b"bundler".ljust(32, b"\0"))
    good = chain(sender, 3)
    forged = bytearray(good[2].raw)
    forged[-1] ^= 0x01  # the third signature no longer verifies
    async with P2PNode.start(sender.private_bytes()) as peer:
        await peer.subscribe(DEFAULT_TOPIC)  # no validator: it publishes what it likes
        await peer.connect(b.listen_addrs()[0])
        await wait_until(lambda: peer.peer_id in b.p2p.topic_peers(DEFAULT_TOPIC),  # type: ignore[union-attr]
                         "the sender to join")
        rejected = b.p2p.stats.rejected
        c_rejected = c.p2p.stats.rejected
        await peer.publish(DEFAULT_TOPIC, wire.encode_bundle([good[0].raw, good[1].raw,
                                                              bytes(forged)]))
        await wait_until(lambda: b.p2p.stats.rejected > rejected, "b to reject the bundle")  # type: ignore[union-attr]
        assert b.p2p.peer_score(peer.peer_id, DEFAULT_TOPIC) < 0
        # The same three tokens, all genuine, then arrive everywhere.
        await peer.publish(DEFAULT_TOPIC, wire.encode_bundle([t.raw for t in good]))
        await wait_until(lambda: all(holds(rt, t.cid) for rt in (b, c) for t in good),
                         "the genuine bundle at b and c")
    # The bad one was never forwarded, and nothing of it was stored before.
    assert c.p2p.stats.rejected == c_rejected
    assert b.engine is not None and b.engine.core.stats.rejected == 0
    assert not holds(b, wire.cid_of(bytes(forged)))


async def test_a_mixed_bundle_takes_the_combined_verdict(tmp_path: Path) -> None:
    """At b (admission on, strangers get 2 tokens): kept-as-stranger wins
    over ignored (delivered, not forwarded), all-ignored is ignored, inside
    tokens are accepted and forwarded. c takes everything it is sent
    (admission off), so whatever b forwards shows up there."""
    rts = [runtime(tmp_path, "b", AdmissionParams(stranger_quota=2)),
           runtime(tmp_path, "c", None)]
    b, c = rts
    stranger = wire.Identity.from_seed(b"stranger".ljust(32, b"\0"))
    friend = wire.Identity.from_seed(b"friend".ljust(32, b"\0"))
    ys = chain(stranger, 5)
    xs = chain(friend, 3)
    async with trio.open_nursery() as nursery:
        await line(nursery, rts)
        assert b.p2p is not None and c.p2p is not None and b.engine is not None
        async with P2PNode.start(stranger.private_bytes()) as peer:
            await peer.subscribe(DEFAULT_TOPIC)
            await peer.connect(b.listen_addrs()[0])
            await wait_until(lambda: peer.peer_id in b.p2p.topic_peers(DEFAULT_TOPIC),  # type: ignore[union-attr]
                             "the peer to join")
            adm = b.engine.core.admission
            assert adm is not None
            # Two within the quota, one past it: KEEP. Stored here, not forwarded.
            kept = b.p2p.stats.kept
            await peer.publish(DEFAULT_TOPIC, wire.encode_bundle([t.raw for t in ys[:3]]))
            await wait_until(lambda: holds(b, ys[1].cid), "b to keep the stranger's two")
            assert b.p2p.stats.kept == kept + 1
            assert not holds(b, ys[2].cid)
            # All past the quota: IGNORE, nothing stored, counted once each.
            ignored = b.p2p.stats.ignored
            await peer.publish(DEFAULT_TOPIC, wire.encode_bundle([t.raw for t in ys[3:]]))
            await wait_until(lambda: b.p2p.stats.ignored > ignored, "b to ignore the bundle")  # type: ignore[union-attr]
            assert not any(holds(b, t.cid) for t in ys[2:])
            assert adm.counts == {"stranger": 2, "stranger-quota": 3}
            # The friend becomes inside b's horizon once b assesses its first token.
            await peer.publish(DEFAULT_TOPIC, xs[0].raw)
            await wait_until(lambda: holds(b, xs[0].cid), "b to keep the friend's first")
            _tok, outs = b.engine.issue(kind="assess", now=b.clock(), about=xs[0].cid,
                                        body={"verdict": "kept"})
            b._dispatch(outs)
            accepted = b.p2p.stats.delivered - b.p2p.stats.kept
            await peer.publish(DEFAULT_TOPIC, wire.encode_bundle([t.raw for t in xs[1:]]))
            # Inside: ACCEPT, so b forwards it (c asks b for the prev it lacks).
            await wait_until(lambda: all(holds(c, t.cid) for t in xs[1:]),
                             "c to get the friend's bundle through b")
            assert b.p2p.stats.delivered - b.p2p.stats.kept > accepted
            assert not any(holds(c, t.cid) for t in ys)  # nothing kept at b was forwarded
        for rt in rts:
            rt.stop()
