"""Raw gossipsub propagation over node/net/: the baseline for troth's own.

Ten P2PNodes in one process on loopback, each linked to the next and to the
third after it (a ring with chords: degree 4, diameter 3). One 300-byte message
at a time, publishers taking turns; the next message leaves only when the last
reached all nine others, so the figures are latency, not queueing. Reported:
per-delivery latency p50/p99 and the time to reach all nine, in milliseconds.

    python bench/p2p_raw.py [--messages 200] [--idontwant]

The last line is `raw_gossip_p50_ms: <value>`.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from contextlib import AsyncExitStack

import trio

from node.net.p2p import GossipParams, P2PNode

NODES = 10
TOPIC = "troth/bench/raw"
SIZE_BYTES = 300


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(messages: int, params: GossipParams) -> None:
    async with AsyncExitStack() as stack:
        t_start = time.perf_counter()
        nodes = [await stack.enter_async_context(
            P2PNode.start(hashlib.sha256(b"bench-%d" % i).digest(), params=params))
            for i in range(NODES)]
        for node in nodes:
            await node.subscribe(TOPIC)
        edges = [(i, (i + step) % NODES) for i in range(NODES) for step in (1, 3)]
        t_connect = time.perf_counter()
        for i, j in edges:
            await nodes[i].connect(nodes[j].listen_addrs[0])
        connect_ms = (time.perf_counter() - t_connect) * 1000 / len(edges)
        with trio.fail_after(30):
            while not all(nodes[j].peer_id in nodes[i].mesh_peers(TOPIC) and
                          nodes[i].peer_id in nodes[j].mesh_peers(TOPIC) for i, j in edges):
                await trio.sleep(0.01)
        mesh_s = time.perf_counter() - t_start

        sent_at: dict[int, float] = {}
        latencies_ms: list[float] = []
        all_ms: list[float] = []
        arrived: dict[int, int] = {}
        done = {n: trio.Event() for n in range(messages)}

        async def receiver(node: P2PNode) -> None:
            async for msg in node.messages:
                now = time.perf_counter()
                n = int.from_bytes(msg.data[:8], "big")
                latencies_ms.append((now - sent_at[n]) * 1000)
                arrived[n] = arrived.get(n, 0) + 1
                if arrived[n] == NODES - 1:
                    all_ms.append((now - sent_at[n]) * 1000)
                    done[n].set()

        async with trio.open_nursery() as nursery:
            for node in nodes:
                nursery.start_soon(receiver, node)
            t_run = time.perf_counter()
            for n in range(messages):
                data = n.to_bytes(8, "big") + bytes(SIZE_BYTES - 8)
                sent_at[n] = time.perf_counter()
                await nodes[n % NODES].publish(TOPIC, data)
                with trio.fail_after(10):
                    await done[n].wait()
            run_s = time.perf_counter() - t_run
            nursery.cancel_scope.cancel()

    assert len(latencies_ms) == messages * (NODES - 1), len(latencies_ms)
    print(f"nodes: {NODES} (ring + chords, {len(edges)} links), message: {SIZE_BYTES} B, "
          f"messages: {messages}, idontwant: {params.idontwant}")
    print(f"setup_s: {mesh_s:.2f} (start, connect, mesh)  connect_ms_mean: {connect_ms:.1f}")
    print(f"deliveries: {len(latencies_ms)} in {run_s:.2f} s")
    print(f"delivery_ms: p50 {statistics.median(latencies_ms):.2f}  "
          f"p99 {percentile(latencies_ms, 0.99):.2f}  max {max(latencies_ms):.2f}")
    print(f"all_nine_ms: p50 {statistics.median(all_ms):.2f}  p99 {percentile(all_ms, 0.99):.2f}")
    print(f"raw_gossip_p99_ms: {percentile(latencies_ms, 0.99):.2f}")
    print(f"raw_gossip_p50_ms: {statistics.median(latencies_ms):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--idontwant", action="store_true",
                        help="offer /meshsub/1.2.0 (py-libp2p sends IDONTWANT per message)")
    args = parser.parse_args()
    trio.run(run, args.messages, GossipParams(idontwant=args.idontwant))


if __name__ == "__main__":
    main()
