"""troth tokens between troth nodes and a js-libp2p gossipsub node, both ways.

The js node (tests/interop/js/gossip_node.mjs: libp2p 2.9, gossipsub 14,
Noise, yamux, TCP; versions pinned by package-lock.json) is installed with
`npm ci` into a cache directory on first use; the test skips, saying why,
when node/npm or the npm registry are not available (and fails when `npm ci`
fails for any other reason).

Two troth nodes, Tess and Theo, are connected only to the js node, never to
each other, so anything one gets from the other went through js-libp2p's
gossipsub. Tess's token reaches the js node byte for byte (and decodes to the
same token); a token the js node publishes itself reaches Theo, who verifies
and accepts it; a bundle of Tess's tokens crosses the js node untouched. The
js node runs with troth's message-id rule
(docs/decisions/0013-gossip-message-ids.md); the ids it computes must equal
troth's for the same message, and js-libp2p's default must not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

import wire
from node.app.runtime import Runtime
from node.core import DEFAULT_TOPIC
from node.net.gossip import gossip_message_id
from node.net.p2p import P2PNode
from node.store.home import Config, Home
from tests.test_runtime import run_in, wait_until

JS_DIR = Path(__file__).resolve().parent / "interop" / "js"
WAIT_S = 30.0
NPM_CI_TIMEOUT_S = 600
# What npm says when it cannot reach the registry (its `npm error code`s).
NPM_NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT",
                      "ENETUNREACH", "EHOSTUNREACH", "E503")


def js_install() -> Path:
    """The js node's directory with its node_modules, installed once per lock file."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"js interop: `{tool}` is not installed")
    lock = (JS_DIR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (JS_DIR / "package.json").read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("TROTH_INTEROP_CACHE",
                                Path.home() / ".cache" / "troth" / "interop-js"))
    target = cache / digest
    if not (target / "node_modules" / ".package-lock.json").exists():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(JS_DIR / name, target / name)
        try:
            out = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                                 cwd=target, capture_output=True, text=True,
                                 timeout=NPM_CI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.skip(f"js interop: `npm ci` took over {NPM_CI_TIMEOUT_S}s "
                        "(is the npm registry reachable?)")
        if out.returncode != 0:
            # Only an unreachable registry skips: any other failure (a lock
            # file out of step with package.json, say) is ours to fix.
            unreachable = any(code in out.stderr for code in NPM_NETWORK_ERRORS)
            (pytest.skip if unreachable else pytest.fail)(
                f"js interop: `npm ci` failed: {out.stderr.strip()[-500:]}")
    shutil.copyfile(JS_DIR / "gossip_node.mjs", target / "gossip_node.mjs")
    return target


class JsNode:
    """The js process: JSON lines in, JSON lines out."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._buffer = b""

    async def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all((json.dumps(cmd) + "\n").encode())

    async def expect(self, test: Callable[[dict[str, Any]], bool], what: str
                     ) -> dict[str, Any]:
        assert self.proc.stdout is not None
        with trio.fail_after(WAIT_S):
            while True:
                for event in self.events:
                    if test(event):
                        self.events.remove(event)
                        return event
                chunk = await self.proc.stdout.receive_some(65536)
                if not chunk:
                    raise AssertionError(f"the js node exited while waiting for {what}")
                self._buffer += chunk
                *lines, self._buffer = self._buffer.split(b"\n")
                self.events += [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
async def js_node() -> AsyncIterator[JsNode]:
    where = js_install()
    proc = await trio.lowlevel.open_process(
        ["node", "gossip_node.mjs"], cwd=where, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, env=dict(os.environ, TROTH_MSG_ID="1"))
    node = JsNode(proc)
    try:
        yield node
    finally:
        try:
            await node.send(cmd="stop")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        with trio.move_on_after(10):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_troth_tokens_cross_a_js_libp2p_gossipsub_node_both_ways(
        tmp_path: Path, js_node: JsNode) -> None:
    ready = await js_node.expect(lambda e: e["event"] == "ready", "the js node to start")
    js_addr = f"{ready['addrs'][0]}"
    await js_node.send(cmd="subscribe", topic=DEFAULT_TOPIC)
    await js_node.expect(lambda e: e["event"] == "subscribed", "the js subscription")

    tess, theo = (Runtime(*Home.init(tmp_path / name), Config(sync_interval_s=1.0))
                  for name in ("tess", "theo"))
    async with trio.open_nursery() as nursery:
        await run_in(nursery, tess, theo)
        assert tess.p2p is not None and theo.p2p is not None
        await js_node.send(cmd="dial", addr=tess.listen_addrs()[0])  # js dials py
        await js_node.expect(lambda e: e["event"] == "dialled", "the js node to dial tess")
        await theo.p2p.connect(js_addr)  # py dials js
        for rt in (tess, theo):
            await wait_until(lambda rt=rt: ready["peer_id"] in _mesh(rt.p2p),
                             "the js node in both troth meshes", WAIT_S)
        assert theo.p2p.peer_id not in tess.p2p.connected_peers()

        # troth -> js: Tess's promise reaches the js node byte for byte.
        assert tess.engine is not None and theo.engine is not None
        token, outputs = tess.engine.issue(kind="promise", now=tess.clock(),
                                           body={"text": "kept across stacks"})
        tess._dispatch(outputs)
        got = await js_node.expect(lambda e: e["event"] == "message", "tess's token at js")
        data = bytes.fromhex(got["data"])
        assert data == token.raw
        assert wire.decode_token(data).cid == token.cid
        assert got["from"] == tess.p2p.peer_id
        # Both sides name the message alike; js-libp2p's own default would not.
        troth_id = _troth_message_id(got["from"], int(got["seqno"]))
        assert bytes.fromhex(got["msg_id"]) == troth_id == bytes.fromhex(got["troth_id"])
        assert bytes.fromhex(got["default_id"]) != troth_id
        # ...and js forwarded it to Theo, who holds it too.
        await wait_until(lambda: theo.engine is not None and theo.engine.core.has(token.cid),
                         "theo to accept tess's token through the js node", WAIT_S)

        # js -> troth: a token the js node publishes itself (signed by Tess,
        # never gossiped by her) is verified and accepted by Theo.
        second, _not_sent = tess.engine.issue(kind="promise", now=tess.clock(),
                                              body={"text": "carried by js"})
        await js_node.send(cmd="publish", topic=DEFAULT_TOPIC, data=second.raw.hex())
        published = await js_node.expect(lambda e: e["event"] == "published", "the publish")
        assert published["recipients"] >= 1
        await wait_until(lambda: theo.engine is not None and theo.engine.core.has(second.cid),
                         "theo to accept the token the js node published", WAIT_S)
        assert theo.engine.core.tokens[second.cid].raw == second.raw

        # A bundle (docs/decisions/0016-gossip-bundles.md) is opaque data to
        # js-libp2p: it forwards it untouched, and Theo takes every token of it.
        burst = tess.engine.issue_many([{"kind": "promise", "body": {"text": f"burst {k}"}}
                                        for k in range(5)], now=tess.clock())
        tess._dispatch(burst.outputs)
        got = await js_node.expect(lambda e: e["event"] == "message" and
                                   wire.is_bundle(bytes.fromhex(e["data"])), "tess's bundle at js")
        assert wire.decode_bundle(bytes.fromhex(got["data"])) == tuple(t.raw for t in burst.tokens)
        await wait_until(lambda: all(theo.engine is not None and theo.engine.core.has(t.cid)
                                     for t in burst.tokens),
                         "theo to accept the bundle through the js node", WAIT_S)
        for rt in (tess, theo):
            rt.stop()


def _mesh(p2p: P2PNode | None) -> frozenset[str]:
    return p2p.mesh_peers(DEFAULT_TOPIC) if p2p is not None else frozenset()


def _troth_message_id(from_peer: str, seqno: int) -> bytes:
    """The id troth's gossipsub gives a message from `from_peer` with `seqno`."""
    from libp2p.peer.id import ID
    from libp2p.pubsub.pb import rpc_pb2

    return gossip_message_id(rpc_pb2.Message(from_id=ID.from_base58(from_peer).to_bytes(),
                                             seqno=seqno.to_bytes(8, "big")))
