"""Throughput of the real network with one process per node.

bench/net.py's throughput phase runs ten runtimes in one process, on one
core: there, nine nodes each verifying and storing every token share one
GIL, so the network's rate is one core's ingest rate over nine. Here each
node is a process of its own, as on a real network (on this 2-core machine
the ten share two cores, which is still far less than a real network has).

Three networks of ten processes, wired in bench/net.py's seeded random
topology (degree >= 3), run side by side and take turns, so each sees the
same machine load:

- troth: a `Runtime` per process (its own home, SQLite store, API), admission
  off. Node 0 issues N tokens at an offered rate, `batch` at a time through
  its engine (`Engine.issue_many`, one store commit, as a client's burst):
  its publisher sends what is queued together as bundles (wire/bundle.py).
  Each other node counts the tokens it accepts (after its store commit) and
  by which path (gossip or sync).
- raw, one token per message: bare `P2PNode`s (gossipsub as troth tunes it,
  the per-neighbour rate limit lifted), node 0 publishing opaque messages
  of a token's size at the same offered rate: what gossipsub carries when
  every token is its own message.
- raw, bundled: the same bare nodes publishing opaque messages of `batch`
  token sizes at the same rate in tokens: the ceiling for troth's bundles
  (gossipsub moving the same bytes, with no token verified or stored).

Rate = N / (first issue -> the last of the nine holds all N), 100% delivery
required for troth (gossip, plus sync for what gossip dropped). Also
reported: each receiver's CPU seconds per token (its process time over the
round), hence what one node could take in on one core of this machine, and
bench/ingest.py's end-to-end ingest rate (decode + verify + store + apply,
one engine, measured in this process before and after) as the per-core
baseline. Each figure is measured `--rounds` times (default 3).

    python -m bench.net_procs [--tokens 5000] [--rate 1000] [--batch 100]
                              [--raw-tokens 1000] [--rounds 3] [--seed 7]
                              [--profile DIR]

Last line: `procs_throughput_tokens_per_s: <median>` (target >= 1,000).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import logging
import multiprocessing
import os
import pstats
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import trio

from bench.ingest import make_tokens
from bench.net import (
    DEGREE,
    NODES,
    RAW_TOPIC,
    Watch,
    body_for,
    hook_dispatch,
    hook_paths,
    ingest_rate,
    random_topology,
)
from node.app.runtime import Runtime
from node.core import DEFAULT_TOPIC
from node.net.p2p import GossipParams, P2PNode
from node.store.home import Config, Home

START_S = 60.0  # for a node to start, wire and join the mesh
ROUND_S = 120.0  # for one round's tokens to reach a node
IDLE_S = 10.0  # a receiver that gained nothing for this long has all it will get
KINDS = ("troth", "raw-single", "raw-bundled")
# The raw baselines measure gossipsub, not troth's per-neighbour limit.
UNLIMITED = GossipParams(peer_rate_max_per_s=1e9, peer_burst_max=1e9)


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One receiver's report for a round."""

    last_at: float  # time.perf_counter() of the last token's acceptance (see node_process)
    tokens: int  # held since the round began
    messages: int  # gossip messages delivered to it
    via_gossip: int
    via_sync: int
    cpu_s: float  # the process's CPU time over the round
    lost: dict[str, int]  # gossip it refused or dropped over the round, by why


# -- the node processes ------------------------------------------------------

class TrothNode:
    """A `Runtime` in this process, driven by the parent's commands."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.watch = Watch(accepted_at=[{}], via_gossip=[0], via_sync=[0])
        hook_dispatch(rt, 0, self.watch)
        self.topic = DEFAULT_TOPIC

    @property
    def p2p(self) -> P2PNode:
        assert self.rt.p2p is not None
        return self.rt.p2p

    def held(self) -> int:
        return len(self.watch.accepted_at[0])

    def paths(self) -> tuple[int, int]:
        return self.watch.via_gossip[0], self.watch.via_sync[0]

    async def publish(self, count: int, rate: float, batch: int, _size: int) -> None:
        engine = self.rt.engine
        assert engine is not None
        start = trio.current_time()
        for k in range(0, count, batch):
            await trio.sleep_until(start + k / rate)
            issued = engine.issue_many([{"kind": "promise", "body": body_for(1_000_000 + n)}
                                        for n in range(k, min(k + batch, count))],
                                       now=self.rt.clock())
            self.rt._dispatch(issued.outputs)


class RawNode:
    """A bare `P2PNode`, counting the token-sized units it receives."""

    def __init__(self, node: P2PNode) -> None:
        self.p2p = node
        self.units = 0
        self.last_at = 0.0
        self.topic = RAW_TOPIC
        self.seq = 0

    def held(self) -> int:
        return self.units

    def paths(self) -> tuple[int, int]:
        return self.units, 0

    async def receive(self) -> None:
        async for msg in self.p2p.messages:
            self.units += int.from_bytes(msg.data[8:10], "big")
            self.last_at = time.perf_counter()

    async def publish(self, count: int, rate: float, batch: int, size: int) -> None:
        start = trio.current_time()
        for k in range(0, count, batch):
            await trio.sleep_until(start + k / rate)
            units = min(batch, count - k)
            self.seq += 1
            await self.p2p.publish(RAW_TOPIC, self.seq.to_bytes(8, "big") +
                                   units.to_bytes(2, "big") + bytes(units * size - 10))


def lost_counts(p2p: P2PNode) -> dict[str, int]:
    st = p2p.stats
    return {"rejected": st.rejected, "ignored": st.ignored, "rate_limited": st.rate_limited,
            "queue_full": st.dropped_messages_queue_full}


async def serve(conn: Connection, node: TrothNode | RawNode) -> None:
    """Answer the parent's commands until it says stop."""
    while True:
        op, *args = await trio.to_thread.run_sync(conn.recv, abandon_on_cancel=True)
        if op == "stop":
            return
        if op == "hello":
            conn.send((node.p2p.listen_addrs[0], node.p2p.peer_id))
        elif op == "connect":
            dial, neighbours = args
            for addr in dial:
                await node.p2p.connect(addr)
            with trio.fail_after(START_S):
                while not set(neighbours) <= node.p2p.mesh_peers(node.topic):
                    await trio.sleep(0.05)
            conn.send("meshed")
        elif op == "publish":
            t0 = time.perf_counter()
            await node.publish(*args)
            conn.send(t0)
        elif op == "expect":
            total, = args
            cpu0, msgs0, held0 = time.process_time(), node.p2p.stats.delivered, node.held()
            lost0 = lost_counts(node.p2p)
            gossip0, sync0 = node.paths()
            with trio.move_on_after(ROUND_S):
                seen, idle_since = node.held(), trio.current_time()
                while node.held() < total and trio.current_time() - idle_since < IDLE_S:
                    await trio.sleep(0.005)
                    if node.held() != seen:
                        seen, idle_since = node.held(), trio.current_time()
            gossip, sync = node.paths()
            last = (max(node.watch.accepted_at[0].values(), default=0.0)
                    if isinstance(node, TrothNode) else node.last_at)
            conn.send(Received(last_at=last, tokens=node.held() - held0,
                               messages=node.p2p.stats.delivered - msgs0,
                               via_gossip=gossip - gossip0, via_sync=sync - sync0,
                               cpu_s=time.process_time() - cpu0,
                               lost={k: v - lost0[k] for k, v in lost_counts(node.p2p).items()}))


async def troth_main(conn: Connection, home_path: str, sync_interval_s: float) -> None:
    home, identity = Home.init(Path(home_path))
    # Admission off: node 0 is a stranger to the others (bench/flood.py
    # measures admission); no peer exchange rewiring the topology.
    rt = Runtime(home, identity, Config(sync_interval_s=sync_interval_s, admission=None,
                                        peer_exchange=False))
    node = TrothNode(rt)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: rt.run(handle_signals=False,
                                                       task_status=task_status))
        hook_paths(rt, 0, node.watch)
        await serve(conn, node)
        rt.stop()


async def raw_main(conn: Connection, seed: bytes) -> None:
    async with P2PNode.start(seed, params=UNLIMITED) as p2p:
        await p2p.subscribe(RAW_TOPIC)
        node = RawNode(p2p)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(node.receive)
            await serve(conn, node)
            nursery.cancel_scope.cancel()


def node_process(conn: Connection, kind: str, arg: str, sync_interval_s: float,
                 profile_to: str | None = None) -> None:
    """The body of one node process (multiprocessing, spawn); under cProfile,
    dumped to `profile_to` when it stops, if given."""
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    logging.basicConfig(level=logging.ERROR)
    profiler = cProfile.Profile() if profile_to else None
    if profiler is not None:
        profiler.enable()
    # Times are compared across processes: perf_counter() is CLOCK_MONOTONIC
    # on Linux, one clock for the whole system.
    if kind == "troth":
        trio.run(troth_main, conn, arg, sync_interval_s)
    else:
        trio.run(raw_main, conn, hashlib.sha256(arg.encode()).digest())
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_to)


# -- the parent ----------------------------------------------------------------

@dataclass
class Network:
    kind: str
    conns: list[Connection]
    procs: list[multiprocessing.process.BaseProcess]
    held: int = 0  # tokens every receiver holds so far

    def recv(self, i: int, timeout_s: float) -> Any:
        """Node i's answer; an error naming it if it died or did not answer."""
        deadline = time.monotonic() + timeout_s
        while not self.conns[i].poll(1.0):
            proc = self.procs[i]
            if not proc.is_alive():
                raise RuntimeError(f"{self.kind} node {i} exited (code {proc.exitcode}); its "
                                   "traceback is above")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} node {i} did not answer within {timeout_s} s")
        return self.conns[i].recv()


def start_network(kind: str, edges: list[tuple[int, int]], workdir: Path,
                  sync_interval_s: float, profile_dir: Path | None = None) -> Network:
    ctx = multiprocessing.get_context("spawn")
    conns, procs = [], []
    for i in range(NODES):
        mine, theirs = ctx.Pipe()
        arg = str(workdir / f"{kind}-{i}") if kind == "troth" else f"bench-procs-{kind}-{i}"
        profile_to = str(profile_dir / f"{kind}-{i}.prof") if profile_dir else None
        p = ctx.Process(target=node_process,
                        args=(theirs, kind, arg, sync_interval_s, profile_to), daemon=True)
        p.start()
        conns.append(mine)
        procs.append(p)
    net = Network(kind, conns, procs)
    hello = []
    for i, c in enumerate(conns):
        c.send(("hello",))
        hello.append(net.recv(i, START_S))
    for i, c in enumerate(conns):
        dial = [hello[j][0] for a, j in edges if a == i]
        neighbours = [hello[b if a == i else a][1] for a, b in edges if i in (a, b)]
        c.send(("connect", dial, neighbours))
    for i in range(NODES):
        assert net.recv(i, START_S) == "meshed"
    return net


def stop_network(net: Network) -> None:
    for c in net.conns:
        try:
            c.send(("stop",))
        except BrokenPipeError:
            pass  # (that node already exited)
    for p in net.procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()


@dataclass(frozen=True, slots=True, kw_only=True)
class Round:
    kind: str
    offered: int  # tokens published
    seconds: float
    received: list[Received]

    @property
    def rate(self) -> float:
        return self.offered / self.seconds

    @property
    def delivered(self) -> float:
        return sum(min(r.tokens, self.offered) for r in self.received) / (
            self.offered * len(self.received))

    @property
    def cpu_per_token_s(self) -> float:
        return statistics.median(r.cpu_s / max(1, r.tokens) for r in self.received)


def run_round(net: Network, count: int, rate: float, batch: int, size: int) -> Round:
    dead = [i for i, p in enumerate(net.procs) if not p.is_alive()]
    if dead:
        raise RuntimeError(f"{net.kind} nodes {dead} exited between rounds; tracebacks above")
    net.held += count
    for c in net.conns[1:]:
        c.send(("expect", net.held))
    net.conns[0].send(("publish", count, rate, batch, size))
    t0 = net.recv(0, ROUND_S)
    received = [net.recv(i, ROUND_S + 10) for i in range(1, NODES)]
    last = max(r.last_at for r in received)
    return Round(kind=net.kind, offered=count, seconds=last - t0, received=received)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=5000, help="tokens per troth round")
    ap.add_argument("--raw-tokens", type=int, default=1000,
                    help="messages per round of raw gossip, one token each")
    ap.add_argument("--rate", type=float, default=1000.0, help="offered tokens per second")
    ap.add_argument("--batch", type=int, default=100,
                    help="tokens issued at once (so bundled together)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sync-interval", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS,
                    help="which networks to run (the report needs all three)")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="run every node under cProfile, write DIR/<kind>-<i>.prof and "
                         "print the receivers' summed profile (slows the nodes)")
    args = ap.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    edges = random_topology(NODES, DEGREE, random.Random(args.seed))
    ingest_tokens = make_tokens(2000)
    size = len(ingest_tokens[0].raw)
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-net-procs-") as tmp:
        workdir = Path(tmp)
        ingest = [ingest_rate(ingest_tokens, workdir, "before")]
        print(f"{NODES} processes per network, {len(edges)} links, seed {args.seed}; "
              f"starting three networks ...", flush=True)
        nets = [start_network(k, edges, workdir, args.sync_interval, args.profile)
                for k in args.kinds]
        try:
            for r in range(args.rounds):
                for net in nets:
                    count = args.raw_tokens if net.kind == "raw-single" else args.tokens
                    batch = 1 if net.kind == "raw-single" else args.batch
                    rounds.append(run_round(net, count, args.rate, batch, size))
                    print(f"round {r} {net.kind}: {rounds[-1].rate:.0f} tokens/s, delivered "
                          f"{rounds[-1].delivered:.1%}", flush=True)
        finally:
            for net in nets:
                stop_network(net)
        ingest.append(ingest_rate(ingest_tokens, workdir, "after"))
    for r in rounds:
        lost = {k: sum(x.lost[k] for x in r.received) for k in r.received[0].lost}
        print(f"  {r.kind} round: {r.offered} tokens, per receiver "
              f"{statistics.median(x.messages for x in r.received):.0f} gossip messages "
              f"(median), via gossip {sum(x.via_gossip for x in r.received)}, via sync "
              f"{sum(x.via_sync for x in r.received)}; gossip lost {lost}")
    report(rounds, ingest, args)
    if args.profile:
        print_receiver_profile(args.profile, args.kinds)


def print_receiver_profile(profile_dir: Path, kinds: list[str], top: int = 30) -> None:
    """The nine receivers' profiles of each network, summed: where a node's time goes."""
    for kind in kinds:
        files = [profile_dir / f"{kind}-{i}.prof" for i in range(1, NODES)]
        files = [f for f in files if f.exists()]
        if not files:
            continue
        print(f"\n{kind}: {len(files)} receivers' profiles summed, by own time")
        stats = pstats.Stats(*map(str, files))
        stats.sort_stats("tottime").print_stats(top)


def report(rounds: list[Round], ingest: list[float], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; offered {args.rate:g} tokens/s, troth batch {args.batch}")
    by = {k: [r for r in rounds if r.kind == k] for k in KINDS}
    for kind, rs in by.items():
        if not rs:
            continue
        rates = [r.rate for r in rs]
        print(f"  {kind:12s} rates {' '.join(f'{x:.0f}' for x in rates)} tokens/s "
              f"(median {statistics.median(rates):.0f}); delivered "
              f"{' '.join(f'{r.delivered:.1%}' for r in rs)}; receiver CPU "
              f"{statistics.median(r.cpu_per_token_s for r in rs) * 1e6:.0f} us/token")
    troth = by["troth"]
    if not troth:
        return
    cpu = statistics.median(r.cpu_per_token_s for r in troth)
    one_engine = statistics.mean(ingest)
    print(f"  ingest baseline (bench/ingest.py, one engine): {ingest[0]:.0f} before, "
          f"{ingest[1]:.0f} after tokens/s; a receiver's CPU per token: {cpu * 1e6:.0f} us "
          f"= {1 / cpu:.0f} tokens/s on one core")
    med = statistics.median(r.rate for r in troth)
    for kind in ("raw-single", "raw-bundled") if by["raw-single"] and by["raw-bundled"] else ():
        print(f"procs_throughput_vs_{kind.replace('-', '_')}: "
              f"{med / statistics.median(r.rate for r in by[kind]):.2f}")
    print(f"procs_receiver_cpu_vs_ingest: {one_engine * cpu:.2f}")
    print(f"procs_throughput_tokens_per_s: {med:.0f}")


if __name__ == "__main__":
    main()
