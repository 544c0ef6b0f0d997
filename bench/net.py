"""The node on a real network: propagation, sustained throughput, memory.

Everything runs on 127.0.0.1 with real py-libp2p hosts (Noise, yamux, gossipsub).

1. Propagation. Ten `Runtime`s (node/app/runtime.py, each with its own home and
   SQLite store) and ten bare `P2PNode`s (the raw baseline, as bench/p2p_raw.py)
   live in one trio run, wired in the same seeded random topology (each node
   linked to >= 3 random others, connected). Then, one at a time and at the same
   random publisher, a troth token is issued (`engine.issue` + `_dispatch`, as
   the API does) and a raw gossip message of the same size is published; the
   next leaves only when the last reached all nine others. Which of the two goes
   first alternates per round, so both see the same machine load (this 2-core
   box is shared and noisy). Acceptance time is exact, not polled: each
   runtime's `_dispatch` is wrapped and stamps `perf_counter()` the moment a
   `TokenAccepted` for the cid is handed to the driver (after its store commit).
   The raw receive time is stamped when the message is taken off `messages`.
   The clock starts just before `engine.issue` (so it includes signing and the
   issuer's commit) and just before `publish` for raw. Reported: per-delivery
   p50/p99 and time-to-all-nine p50/p99, and troth/raw ratios. In one process
   all 20 hosts share one core and one GIL, so the ratio is fair.
2. Throughput. The same ten runtimes (raw hosts closed); node 0 issues N tokens
   as fast as it can under a window: it never gets more than W tokens ahead of
   the slowest of the nine others, so the rate it reaches is the one the network
   sustains with 100% delivery (gossip, plus sync for anything gossip dropped).
   It issues `batch` tokens at a time (`Engine.issue_many`: one store commit),
   as a client's burst, so its publisher sends them as bundles (wire/bundle.py).
   Rate = N / (first issue -> the last of the nine holds all N). Each engine's
   `receive_frame` (sync frames) and `receive_gossip_many` (gossip) are wrapped to count
   which path delivered each token. Baseline: bench/ingest.py's end-to-end
   ingest (decode + verify + store + apply) in tokens/s on this machine,
   measured just before and just after the phase. Here nine nodes ingest every
   token on one core, so the rate is at most ingest / 9: bench/net_procs.py
   runs each node as a process of its own.
3. Memory. A real `python -m node --home H run` process on a fresh home: RSS at
   rest; then 100,000 tokens from 1,000 issuers (100-token chains, signed in a
   pool of worker processes) fed as sync `Tokens` frames (<= 1 MiB each) over a
   `/troth/sync/1` stream from a bare `P2PNode`; RSS again once `/v1/id` counts
   them all, and the store's size on disk. Baseline: the raw token bytes.

    python -m bench.net [--tokens 100] [--throughput-tokens 2000]
                        [--rss-tokens 100000] [--quick] [--skip ...]

The last line is `propagation_p50_vs_raw: <ratio>` (target <= 1.5).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import logging
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import trio

import wire
from bench.ingest import BURST, make_tokens
from node.app.runtime import Runtime
from node.core import DEFAULT_TOPIC, Output, TokenAccepted
from node.net.p2p import P2PNode, SyncStream
from node.store import Store
from node.store.engine import Engine
from node.store.home import Config, Home, edit_config

NODES = 10
DEGREE = 3
RAW_TOPIC = "troth/bench/raw"
ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 30.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def random_topology(n: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    """Each node linked to >= `degree` random others; resampled until connected."""
    while True:
        adj: dict[int, set[int]] = {i: set() for i in range(n)}
        for i in range(n):
            while len(adj[i]) < degree:
                j = rng.randrange(n)
                if j != i:
                    adj[i].add(j)
                    adj[j].add(i)
        seen, todo = {0}, [0]
        while todo:
            for j in adj[todo.pop()]:
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        if len(seen) == n:
            return sorted({(min(i, j), max(i, j)) for i in adj for j in adj[i]})


def diameter(n: int, edges: list[tuple[int, int]]) -> int:
    adj: dict[int, set[int]] = {i: set() for i in range(n)}
    for i, j in edges:
        adj[i].add(j)
        adj[j].add(i)
    worst = 0
    for s in range(n):
        dist, frontier = {s: 0}, [s]
        while frontier:
            nxt = []
            for u in frontier:
                for v in adj[u]:
                    if v not in dist:
                        dist[v] = dist[u] + 1
                        nxt.append(v)
            frontier = nxt
        worst = max(worst, max(dist.values()))
    return worst


# -- the in-process network of runtimes -------------------------------------

@dataclass
class Watch:
    """What the wrapped `_dispatch`/`receive_*` of every runtime saw."""

    accepted_at: list[dict[str, float]]
    waiting: dict[str, tuple[int, trio.Event]] = field(default_factory=dict)
    progress: trio.Event = field(default_factory=trio.Event)
    via_gossip: list[int] = field(default_factory=list)
    via_sync: list[int] = field(default_factory=list)


def hook_dispatch(rt: Runtime, i: int, watch: Watch) -> None:
    """Stamp the time each TokenAccepted is handed to the driver (after its commit)."""
    original = rt._dispatch

    def dispatch(outs: list[Output], **kw: Any) -> None:
        now = time.perf_counter()
        seen = watch.accepted_at[i]
        for o in outs:
            if isinstance(o, TokenAccepted) and o.token.cid not in seen:
                cid = o.token.cid
                seen[cid] = now
                w = watch.waiting.get(cid)
                if w is not None:
                    left = w[0] - 1
                    watch.waiting[cid] = (left, w[1])
                    if left == 0:
                        w[1].set()
                watch.progress.set()
        original(outs, **kw)

    rt._dispatch = dispatch  # type: ignore[method-assign]


def hook_paths(rt: Runtime, i: int, watch: Watch) -> None:
    """Count accepted tokens by the path that brought them: gossip or sync."""
    engine = rt.engine
    assert engine is not None
    receive, receive_many = engine.receive_frame, engine.receive_gossip_many

    def count(outs: list[Output], into: list[int]) -> list[Output]:
        into[i] += sum(1 for o in outs if isinstance(o, TokenAccepted))
        return outs

    def sync_receive(peer: str, data: bytes, now: float) -> list[Output]:
        return count(receive(peer, data, now), watch.via_sync)

    def gossip_receive(items: list[tuple[str, bytes]], now: float) -> list[Output]:
        return count(receive_many(items, now), watch.via_gossip)

    engine.receive_frame = sync_receive  # type: ignore[method-assign]
    engine.receive_gossip_many = gossip_receive  # type: ignore[method-assign]


async def wait_until(cond: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    with trio.move_on_after(timeout_s):
        while not cond():
            await trio.sleep(0.01)
        return
    raise RuntimeError(f"timed out after {timeout_s}s waiting for {what}")


async def wait_mesh(nodes: list[P2PNode], edges: list[tuple[int, int]], topic: str) -> None:
    await wait_until(lambda: all(nodes[j].peer_id in nodes[i].mesh_peers(topic) and
                                 nodes[i].peer_id in nodes[j].mesh_peers(topic)
                                 for i, j in edges), f"the {topic} mesh")


def body_for(k: int) -> dict[str, Any]:
    return {"text": f"promise {k:06d}: deliver the weekly vegetable box to the community hall",
            "due": 1_900_000_000 + k}


@dataclass
class Propagation:
    troth_ms: list[float]
    troth_all_ms: list[float]
    raw_ms: list[float]
    raw_all_ms: list[float]
    size_bytes: int
    timeouts: int


async def raw_network(edges: list[tuple[int, int]], stack: AsyncExitStack) -> list[P2PNode]:
    """Bare P2PNodes (the baseline) in the same topology, as bench/p2p_raw.py."""
    raw = [await stack.enter_async_context(
        P2PNode.start(hashlib.sha256(b"bench-net-raw-%d" % i).digest())) for i in range(NODES)]
    for node in raw:
        await node.subscribe(RAW_TOPIC)
    for i, j in edges:
        await raw[i].connect(raw[j].listen_addrs[0])
    await wait_mesh(raw, edges, RAW_TOPIC)
    return raw


async def propagation(rts: list[Runtime], raw: list[P2PNode], watch: Watch, count: int,
                      rng: random.Random) -> Propagation:
    raw_sent: dict[int, float] = {}
    raw_got: dict[int, list[float]] = {}
    raw_done: dict[int, trio.Event] = {}

    async def receiver(node: P2PNode) -> None:
        async for msg in node.messages:
            now = time.perf_counter()
            n = int.from_bytes(msg.data[:8], "big")
            got = raw_got.setdefault(n, [])
            got.append(now)
            if len(got) == NODES - 1:
                raw_done[n].set()

    res = Propagation([], [], [], [], 0, 0)

    async def one_troth(k: int, at: int, record: bool) -> None:
        rt = rts[at]
        assert rt.engine is not None
        done = trio.Event()
        t0 = time.perf_counter()
        tok, outs = rt.engine.issue(kind="promise", now=rt.clock(), body=body_for(k))
        rt._dispatch(outs)  # (stamps the issuer's own acceptance: not counted below)
        watch.waiting[tok.cid] = (NODES - 1, done)
        res.size_bytes = len(tok.raw)
        with trio.move_on_after(WAIT_S) as scope:
            await done.wait()
        del watch.waiting[tok.cid]
        if scope.cancelled_caught:
            res.timeouts += 1
            return
        if record:
            times = [watch.accepted_at[j][tok.cid] - t0 for j in range(NODES) if j != at]
            res.troth_ms += [t * 1000 for t in times]
            res.troth_all_ms.append(max(times) * 1000)

    async def one_raw(k: int, at: int, record: bool) -> None:
        size = res.size_bytes
        raw_done[k] = trio.Event()
        data = k.to_bytes(8, "big") + bytes(size - 8)
        raw_sent[k] = t0 = time.perf_counter()
        await raw[at].publish(RAW_TOPIC, data)
        with trio.move_on_after(WAIT_S) as scope:
            await raw_done[k].wait()
        if scope.cancelled_caught:
            res.timeouts += 1
            return
        if record:
            times = [t - t0 for t in raw_got[k]]
            res.raw_ms += [t * 1000 for t in times]
            res.raw_all_ms.append(max(times) * 1000)

    warmup = 5
    async with trio.open_nursery() as nursery:
        for node in raw:
            nursery.start_soon(receiver, node)
        for k in range(warmup + count):
            at = rng.randrange(NODES)
            record = k >= warmup
            if k % 2 == 0 or res.size_bytes == 0:  # the first sets the raw size
                await one_troth(k, at, record)
                await one_raw(k, at, record)
            else:
                await one_raw(k, at, record)
                await one_troth(k, at, record)
        nursery.cancel_scope.cancel()
    return res


@dataclass
class Throughput:
    tokens: int
    seconds: float
    via_gossip: int
    via_sync: int
    gossip_dropped: int
    send_dropped: int
    ingest_before: float
    ingest_after: float
    raw_gossip: tuple[int, float, int] = (0, 0.0, 0)  # messages, seconds, delivered

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


async def raw_throughput(raw: list[P2PNode], count: int, window: int, batch: int,
                         size: int) -> tuple[int, float, int]:
    """Bare gossip, same publisher, window and topology: (messages, seconds, delivered)."""
    got = [0] * NODES
    progress = [trio.Event()]

    async def receiver(i: int, node: P2PNode) -> None:
        async for msg in node.messages:
            if msg.data[:1] == b"\xff":
                got[i] += 1
                progress[0].set()

    def slowest() -> int:
        return min(got[1:])

    async def wait_progress(timeout_s: float) -> bool:
        progress[0] = trio.Event()
        with trio.move_on_after(timeout_s) as scope:
            await progress[0].wait()
        return not scope.cancelled_caught

    async with trio.open_nursery() as nursery:
        for i, node in enumerate(raw):
            nursery.start_soon(receiver, i, node)
        t0 = time.perf_counter()
        sent = 0
        while sent < count:
            while sent - slowest() > window - batch:
                if not await wait_progress(WAIT_S):
                    break
            for _ in range(min(batch, count - sent)):
                await raw[0].publish(RAW_TOPIC, b"\xff" + sent.to_bytes(8, "big") +
                                     bytes(size - 9))
                sent += 1
        while slowest() < count and await wait_progress(WAIT_S):
            pass
        seconds = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return count, seconds, sum(got[1:])


def ingest_rate(tokens: list[wire.Token], workdir: Path, tag: str) -> float:
    """bench/ingest.py's subject alone: tokens/s of decode+verify+store+apply in bursts."""
    engine = Engine(Store(workdir / f"ingest-{tag}.sqlite"), None)
    raws = [t.raw for t in tokens]
    t0 = time.perf_counter()
    for i in range(0, len(raws), BURST):
        engine.receive_gossip_many([("peer", r) for r in raws[i:i + BURST]], now=float(i))
    seconds = time.perf_counter() - t0
    assert len(engine.store) == len(tokens)
    engine.close()
    return len(tokens) / seconds


async def throughput(rts: list[Runtime], watch: Watch, count: int, window: int, batch: int,
                     ingest_tokens: list[wire.Token], workdir: Path) -> Throughput:
    before = ingest_rate(ingest_tokens, workdir, "before")
    pub = rts[0]
    assert pub.engine is not None
    base_gossip, base_sync = sum(watch.via_gossip), sum(watch.via_sync)
    base_held = [len(a) for a in watch.accepted_at]
    others = range(1, NODES)

    def slowest() -> int:
        return min(len(watch.accepted_at[j]) - base_held[j] for j in others)

    cids: list[str] = []
    t0 = time.perf_counter()
    issued = 0
    while issued < count:
        while issued - slowest() > window - batch:
            watch.progress = trio.Event()
            with trio.move_on_after(WAIT_S) as scope:
                await watch.progress.wait()
            if scope.cancelled_caught:
                raise RuntimeError(f"throughput stalled: issued {issued}, slowest {slowest()}")
        burst = pub.engine.issue_many([{"kind": "promise", "body": body_for(100_000 + n)}
                                       for n in range(issued, min(issued + batch, count))],
                                      now=pub.clock())
        cids += [t.cid for t in burst.tokens]
        pub._dispatch(burst.outputs)
        issued += len(burst.tokens)
        await trio.sleep(0)
    while slowest() < count:
        watch.progress = trio.Event()
        with trio.move_on_after(WAIT_S * 2) as scope:
            await watch.progress.wait()
        if scope.cancelled_caught:
            raise RuntimeError(f"throughput: not all delivered ({slowest()} of {count})")
    seconds = time.perf_counter() - t0
    assert all(rt.engine is not None and rt.engine.core.has(c) for rt in rts for c in cids), \
        "every node must hold every token"
    after = ingest_rate(ingest_tokens, workdir, "after")
    return Throughput(
        tokens=count, seconds=seconds,
        via_gossip=sum(watch.via_gossip) - base_gossip, via_sync=sum(watch.via_sync) - base_sync,
        gossip_dropped=sum(rt.p2p.stats.dropped_messages_queue_full for rt in rts if rt.p2p),
        send_dropped=sum(rt.p2p.sync_defence.outbox_drops for rt in rts if rt.p2p),
        ingest_before=before, ingest_after=after)


async def network_phases(args: argparse.Namespace, workdir: Path,
                         ingest_tokens: list[wire.Token]) -> tuple[Propagation | None,
                                                                   Throughput | None, str]:
    rng = random.Random(args.seed)
    edges = random_topology(NODES, DEGREE, rng)
    topo = (f"{NODES} nodes, {len(edges)} links, degree {DEGREE}..."
            f"{max(sum(1 for e in edges if i in e) for i in range(NODES))}, "
            f"diameter {diameter(NODES, edges)}, seed {args.seed}")
    watch = Watch(accepted_at=[{} for _ in range(NODES)], via_gossip=[0] * NODES,
                  via_sync=[0] * NODES)
    rts = []
    for i in range(NODES):
        home, identity = Home.init(workdir / f"n{i}")
        # Admission off: node 0's thousands of tokens must reach every node
        # (each is a stranger to the others); bench/flood.py measures admission.
        # The topology is the experiment's: no peer exchange rewiring it.
        rts.append(Runtime(home, identity, Config(sync_interval_s=args.sync_interval,
                                                  admission=None, peer_exchange=False)))
        hook_dispatch(rts[-1], i, watch)
    prop = thr = None
    async with trio.open_nursery() as nursery:
        for rt in rts:
            await nursery.start(lambda task_status, rt=rt: rt.run(handle_signals=False,
                                                                  task_status=task_status))
        for i, rt in enumerate(rts):
            hook_paths(rt, i, watch)
        nodes = [rt.p2p for rt in rts]
        assert all(n is not None for n in nodes)
        for i, j in edges:
            await nodes[i].connect(nodes[j].listen_addrs[0])  # type: ignore[union-attr]
        await wait_mesh(nodes, edges, DEFAULT_TOPIC)  # type: ignore[arg-type]
        async with AsyncExitStack() as stack:
            raw = await raw_network(edges, stack)
            # Each node freezes its long-lived heap once started (node/app/heap.py),
            # but here twenty hosts share a process and started after the first
            # runtime's keeper ran: freeze what they built, as each would have.
            gc.collect()
            gc.freeze()
            if "propagation" not in args.skip:
                print(f"propagation: {topo}; {args.tokens} tokens ...", flush=True)
                prop = await propagation(rts, raw, watch, args.tokens, rng)
            if "throughput" not in args.skip:
                print(f"throughput: raw gossip, {args.raw_throughput} messages ...", flush=True)
                raw_rate = await raw_throughput(raw, args.raw_throughput, args.window,
                                                args.batch, prop.size_bytes if prop else 360)
                print(f"throughput: {args.throughput_tokens} tokens from one publisher, window "
                      f"{args.window} ...", flush=True)
                thr = await throughput(rts, watch, args.throughput_tokens, args.window,
                                       args.batch, ingest_tokens, workdir)
                thr.raw_gossip = raw_rate
        for rt in rts:
            rt.stop()
    return prop, thr, topo


# -- memory of a real node process --------------------------------------------

RSS_ISSUERS = 1000


def _sign_chains(issuers: range, per_issuer: int) -> list[list[bytes]]:
    out = []
    for i in issuers:
        ident = wire.Identity.from_seed(hashlib.sha256(b"bench-net-issuer-%d" % i).digest())
        prev: str | None = None
        chain = []
        for s in range(1, per_issuer + 1):
            t = wire.sign_token(ident, wire.Claims(
                issuer=ident.agent_id, iat=1_790_000_000 + s, seq=s, kind="promise", prev=prev,
                body={"text": f"promise {i}/{s}: deliver the weekly vegetable box to the hall",
                      "due": 1_900_000_000 + s}))
            prev = t.cid
            chain.append(t.raw)
        out.append(chain)
    return out


def signed_tokens(total: int, workers: int) -> list[bytes]:
    """`total` tokens from 1,000 issuers, seq-major (a causal order), signed in a pool."""
    per = max(1, total // RSS_ISSUERS)
    step = max(1, RSS_ISSUERS // (workers * 8))
    parts = [range(a, min(a + step, RSS_ISSUERS)) for a in range(0, RSS_ISSUERS, step)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        chains = [c for part in pool.starmap(_sign_chains, [(p, per) for p in parts])
                  for c in part]
    return [chains[i][s] for s in range(per) for i in range(len(chains))]


def frames_of(raws: list[bytes], budget: int = wire.FRAME_SIZE_MAX_BYTES - 4096) -> list[bytes]:
    frames: list[bytes] = []
    cur: list[bytes] = []
    size = 0
    for r in raws:
        if cur and size + len(r) + 8 > budget:
            frames.append(wire.encode_frame(wire.Tokens(tokens=tuple(cur))))
            cur, size = [], 0
        cur.append(r)
        size += len(r) + 8
    if cur:
        frames.append(wire.encode_frame(wire.Tokens(tokens=tuple(cur))))
    assert all(len(f) <= wire.FRAME_SIZE_MAX_BYTES for f in frames)
    return frames


@dataclass
class Memory:
    tokens: int
    token_bytes: int
    rss_rest: int
    rss_after: int
    hwm_after: int
    store_bytes: int
    sign_s: float
    feed_s: float


def proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


async def feed(listen: str, frames: list[bytes], done: Callable[[], bool]) -> None:
    async with P2PNode.start(hashlib.sha256(b"bench-net-feeder").digest()) as feeder:

        async def ignore(_peer: str, stream: SyncStream) -> None:
            while True:  # drain the node's Hello/Want frames; we serve nothing
                await stream.receive_frame(timeout_s=300)

        feeder.set_sync_handler(ignore)
        peer = await feeder.connect(listen)
        stream = await feeder.open_sync_stream(peer)
        for f in frames:
            await stream.send_frame(f, timeout_s=120)
        while not done():
            await trio.sleep(0.2)
        await stream.close()


@dataclass
class RunningNode:
    """A `python -m node run` process and a client of its API."""

    proc: subprocess.Popen[bytes]
    info: dict[str, Any]  # its node.json: pid, api, listen
    http: httpx.Client


@contextmanager
def running_node(home: Home, log_path: Path) -> Iterator[RunningNode]:
    """Run `python -m node run` on `home` until the block ends (then SIGTERM)."""
    log = open(log_path, "wb")  # noqa: SIM115
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "node", "--home", str(home.path), "run",
                             "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + WAIT_S
        while not ((info := home.runtime()) and info.get("pid") == proc.pid):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"node did not start: {log_path.read_text()}")
            time.sleep(0.05)
        with httpx.Client(base_url=str(info["api"]), timeout=30,
                          headers={"Authorization": f"Bearer {home.api_token()}"}) as http:
            yield RunningNode(proc=proc, info=dict(info), http=http)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def memory(args: argparse.Namespace, workdir: Path) -> Memory:
    t0 = time.perf_counter()
    raws = signed_tokens(args.rss_tokens, args.workers)
    sign_s = time.perf_counter() - t0
    frames = frames_of(raws)
    home, _identity = Home.init(workdir / "rss")
    # Admission off: the 1,000 issuers fed here are strangers to this node.
    home.config_path.write_text(edit_config(home.config_path.read_text(),
                                            {"admission": {"enabled": False}}))
    with running_node(home, workdir / "rss.log") as node:

        def held() -> int:
            return int(node.http.get("/v1/id").json()["tokens"])

        time.sleep(2.0)  # at rest: started, idle
        ps = psutil.Process(node.proc.pid)
        rss_rest = ps.memory_info().rss
        t0 = time.perf_counter()
        trio.run(feed, str(node.info["listen"][0]), frames, lambda: held() >= len(raws))
        feed_s = time.perf_counter() - t0
        time.sleep(1.0)
        rss_after = ps.memory_info().rss
        hwm = proc_status(node.proc.pid, "VmHWM")
    store_bytes = sum(p.stat().st_size for p in home.path.glob("store.sqlite*"))
    return Memory(tokens=len(raws), token_bytes=sum(map(len, raws)), rss_rest=rss_rest,
                  rss_after=rss_after, hwm_after=hwm, store_bytes=store_bytes, sign_s=sign_s,
                  feed_s=feed_s)


# -- report --------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=100, help="propagation: tokens (and raw)")
    ap.add_argument("--throughput-tokens", type=int, default=2000)
    ap.add_argument("--raw-throughput", type=int, default=200,
                    help="throughput: raw gossip messages (the gossip-only baseline)")
    ap.add_argument("--window", type=int, default=1000,
                    help="throughput: most tokens the publisher may run ahead of the slowest")
    ap.add_argument("--batch", type=int, default=100, help="throughput: tokens issued per step")
    ap.add_argument("--rss-tokens", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="processes signing the memory phase's tokens")
    ap.add_argument("--sync-interval", type=float, default=1.0,
                    help="the runtimes' anti-entropy interval, seconds")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["propagation", "throughput", "memory"])
    ap.add_argument("--quick", action="store_true",
                    help="40 tokens, 500 (raw 100) for throughput, 20,000 for memory")
    args = ap.parse_args()
    if args.quick:
        args.tokens, args.throughput_tokens, args.rss_tokens = 40, 500, 20_000
        args.raw_throughput = 100
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    t_start = time.perf_counter()
    ingest_tokens = make_tokens(2000)
    with tempfile.TemporaryDirectory(prefix="bench-net-") as tmp:
        workdir = Path(tmp)
        prop, thr, topo = trio.run(network_phases, args, workdir, ingest_tokens)
        mem = None if "memory" in args.skip else memory(args, workdir)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; total {time.perf_counter() - t_start:.0f} s")
    if thr is not None:
        ingest = statistics.mean([thr.ingest_before, thr.ingest_after])
        print(f"throughput: {thr.tokens} tokens to all 9 in {thr.seconds:.2f} s = "
              f"{thr.rate:.0f} tokens/s (window {args.window}, sync every "
              f"{args.sync_interval:g} s)")
        print(f"  accepted via gossip {thr.via_gossip}, via sync {thr.via_sync} (of "
              f"{thr.tokens * (NODES - 1)}); gossip dropped (queue full) {thr.gossip_dropped}, "
              f"sync frames dropped {thr.send_dropped}")
        print(f"  ingest baseline (bench/ingest.py, one engine): {thr.ingest_before:.0f} before, "
              f"{thr.ingest_after:.0f} after -> {ingest:.0f} tokens/s")
        n, secs, delivered = thr.raw_gossip
        if n:
            print(f"  raw gossip baseline (bare P2PNodes, same topology, window, publisher): "
                  f"{n} messages, {delivered} of {n * (NODES - 1)} delivered in {secs:.2f} s = "
                  f"{n / secs:.0f} messages/s")
            print(f"throughput_vs_raw_gossip: {thr.rate / (n / secs):.2f}")
        print(f"throughput_vs_ingest: {thr.rate / ingest:.3f}  (x9 deliveries on one core: "
              f"{thr.rate * (NODES - 1) / ingest:.3f})")
    if mem is not None:
        mib = 1024 * 1024
        grow = mem.rss_after - mem.rss_rest
        print(f"memory: one `troth run` process; {mem.tokens} tokens from {RSS_ISSUERS} issuers "
              f"({mem.token_bytes / mib:.1f} MiB raw; signed in {mem.sign_s:.1f} s, ingested in "
              f"{mem.feed_s:.1f} s = {mem.tokens / mem.feed_s:.0f} tokens/s)")
        print(f"  rss_rest_mib: {mem.rss_rest / mib:.1f}  rss_after_mib: {mem.rss_after / mib:.1f}"
              f"  peak_mib: {mem.hwm_after / mib:.1f}  store_mib: {mem.store_bytes / mib:.1f}")
        print(f"  rss growth per token: {grow / mem.tokens:.0f} B "
              f"(token {mem.token_bytes / mem.tokens:.0f} B)")
        print(f"rss_growth_vs_token_bytes: {grow / mem.token_bytes:.2f}")
        print(f"store_vs_token_bytes: {mem.store_bytes / mem.token_bytes:.2f}")
    if prop is not None:
        print(f"propagation: {topo}; token {prop.size_bytes} B; timeouts {prop.timeouts}")
        for name, t, r in (("per delivery", prop.troth_ms, prop.raw_ms),
                           ("to all nine", prop.troth_all_ms, prop.raw_all_ms)):
            print(f"  {name:12s} troth p50 {statistics.median(t):7.2f} p99 "
                  f"{percentile(t, 0.99):7.2f} ms | raw p50 {statistics.median(r):7.2f} p99 "
                  f"{percentile(r, 0.99):7.2f} ms | ratio p50 "
                  f"{statistics.median(t) / statistics.median(r):.2f} p99 "
                  f"{percentile(t, 0.99) / percentile(r, 0.99):.2f}")
        print(f"propagation_all_p99_vs_raw: "
              f"{percentile(prop.troth_all_ms, 0.99) / percentile(prop.raw_all_ms, 0.99):.2f}")
        print(f"propagation_all_p50_vs_raw: "
              f"{statistics.median(prop.troth_all_ms) / statistics.median(prop.raw_all_ms):.2f}")
        print(f"propagation_p99_vs_raw: "
              f"{percentile(prop.troth_ms, 0.99) / percentile(prop.raw_ms, 0.99):.2f}")
        print(f"propagation_p50_vs_raw: "
              f"{statistics.median(prop.troth_ms) / statistics.median(prop.raw_ms):.2f}")


if __name__ == "__main__":
    main()
