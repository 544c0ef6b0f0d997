"""Gossip through a circuit relay, against gossip without one (node/net/relay.py).

Two members, Ann (publishes) and Bob (subscribes), on loopback, and a middle
node in a process of its own so that its CPU time can be read:

- direct: Ann and Bob connected to each other (the baseline for latency);
- relayed: Bob reaches Ann only at her circuit address on a relay (a
  `RelayParams(hop=True)` node, not subscribed: it pipes bytes it cannot read);
- hub: Ann and Bob connected only to a gossip hub that forwards (subscribed,
  no relay): the baseline for the middle node's CPU.

Latency: one ~300-byte message at a time (a troth token's size), the next
only after the last arrived; p50/p90 in ms, relayed/direct and hub/direct. CPU: Ann
publishes at `--rate` messages/s for `--seconds`; the middle process's CPU
seconds per delivered message, times 100 (its share of a core at 100
messages/s; idle heartbeats included), for the relay and for the hub, and
their ratio. Each figure is repeated `--rounds` times (spread shown).

    python -m bench.relay [--messages 200] [--rate 100] [--seconds 5] [--rounds 3]

The last line is `relay_cpu_vs_hub: <ratio>`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import psutil
import trio

from bench.net import percentile, wait_mesh
from node.net.p2p import P2PNode, RelayParams

TOPIC = "troth/bench/relay"
SIZE_BYTES = 300
ROOT = Path(__file__).resolve().parent.parent


def seed(name: str) -> bytes:
    return hashlib.sha256(f"bench-relay-{name}".encode()).digest()


# -- the middle node, in its own process --------------------------------------

async def serve_middle(role: str) -> None:
    """Print our address, then run until stdin closes."""
    params = RelayParams(hop=role == "relay")
    async with P2PNode.start(seed(role), relay=params) as node:
        if role == "hub":
            await node.subscribe(TOPIC)
        print(node.listen_addrs[0], flush=True)
        await trio.wrap_file(sys.stdin).read()


class Middle:
    def __init__(self, role: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.relay", "--serve", role], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert self.proc.stdout is not None
        self.addr = self.proc.stdout.readline().strip()
        if not self.addr:
            raise SystemExit(f"the {role} process did not start")
        self.ps = psutil.Process(self.proc.pid)

    def cpu_s(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- measurements ---------------------------------------------------------------

async def latencies_ms(ann: P2PNode, bob: P2PNode, messages: int) -> list[float]:
    out = []
    for i in range(messages):
        payload = i.to_bytes(4, "big") + bytes(SIZE_BYTES - 4)
        t0 = time.perf_counter()
        await ann.publish(TOPIC, payload)
        with trio.fail_after(10):
            while (await bob.messages.receive()).data != payload:
                pass
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def cpu_per_100(ann: P2PNode, bob: P2PNode, middle: Middle, rate: float,
                      seconds: float) -> tuple[float, int]:
    """The middle's CPU seconds per delivered message x 100 (= its CPU share at
    100 msg/s), and how many were delivered. Per message rather than per wall
    second: on a loaded machine the publisher falls behind `rate`."""
    total = int(rate * seconds)
    got = 0

    async def receive() -> None:
        nonlocal got
        while got < total:
            await bob.messages.receive()
            got += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        cpu0, t0 = middle.cpu_s(), time.perf_counter()
        for i in range(total):
            await ann.publish(TOPIC, i.to_bytes(4, "big") + bytes(SIZE_BYTES - 4))
            await trio.sleep_until(t0 + (i + 1) / rate)
        with trio.move_on_after(30):
            while got < total:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    cpu = middle.cpu_s() - cpu0
    return cpu / max(got, 1) * 100, got


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


async def run(args: argparse.Namespace) -> None:
    relay, hub = Middle("relay"), Middle("hub")
    try:
        lat: dict[str, list[float]] = {"direct": [], "relayed": [], "hub": []}
        cpu: dict[str, list[float]] = {"relay": [], "hub": []}
        for r in range(args.rounds):
            async with AsyncExitStack() as stack:
                ann = await stack.enter_async_context(P2PNode.start(seed(f"ann{r}")))
                bob = await stack.enter_async_context(P2PNode.start(seed(f"bob{r}")))
                for node in (ann, bob):
                    await node.subscribe(TOPIC)
                # direct
                await bob.connect(ann.listen_addrs[0])
                await wait_mesh([ann, bob], [(0, 1)], TOPIC)
                direct = await latencies_ms(ann, bob, args.messages)
                await bob.disconnect(ann.peer_id)
                # relayed
                held = await ann.reserve(relay.addr)
                await bob.connect(held.addr)
                assert bob.peer_routes()[ann.peer_id] is not None, "not relayed"
                await wait_mesh([ann, bob], [(0, 1)], TOPIC)
                relayed = await latencies_ms(ann, bob, args.messages)
                lat["direct"].append(statistics.median(direct))
                lat["relayed"].append(statistics.median(relayed))
                print(f"round {r}: latency ms direct p50 {statistics.median(direct):.2f} "
                      f"p90 {percentile(direct, 0.9):.2f}; relayed p50 "
                      f"{statistics.median(relayed):.2f} p90 {percentile(relayed, 0.9):.2f}",
                      flush=True)
                per100, got = await cpu_per_100(ann, bob, relay, args.rate, args.seconds)
                cpu["relay"].append(per100)
                print(f"round {r}: relay CPU {per100:.3f} s/s per 100 msg/s "
                      f"({got}/{int(args.rate * args.seconds)} delivered)", flush=True)
            async with AsyncExitStack() as stack:
                ann = await stack.enter_async_context(P2PNode.start(seed(f"ann-h{r}")))
                bob = await stack.enter_async_context(P2PNode.start(seed(f"bob-h{r}")))
                for node in (ann, bob):
                    await node.subscribe(TOPIC)
                    await node.connect(hub.addr)
                with trio.fail_after(30):
                    while not (ann.mesh_peers(TOPIC) and bob.mesh_peers(TOPIC)):
                        await trio.sleep(0.01)
                through_hub = await latencies_ms(ann, bob, args.messages)
                lat["hub"].append(statistics.median(through_hub))
                print(f"round {r}: latency ms through the gossip hub p50 "
                      f"{statistics.median(through_hub):.2f} "
                      f"p90 {percentile(through_hub, 0.9):.2f}", flush=True)
                per100, got = await cpu_per_100(ann, bob, hub, args.rate, args.seconds)
                cpu["hub"].append(per100)
                print(f"round {r}: hub CPU {per100:.3f} s/s per 100 msg/s "
                      f"({got}/{int(args.rate * args.seconds)} delivered)", flush=True)
    finally:
        relay.close()
        hub.close()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f}")
    print(f"latency p50 ms: direct {spread(lat['direct'])}; relayed {spread(lat['relayed'])}; "
          f"through a gossip hub {spread(lat['hub'])}")
    for name in ("relayed", "hub"):
        ratios = [x / d for x, d in zip(lat[name], lat["direct"], strict=True)]
        print(f"{name}_latency_vs_direct: {spread(ratios)}")
    print(f"middle CPU (s per s, at 100 msg/s): relay {spread(cpu['relay'])}; "
          f"gossip hub {spread(cpu['hub'])}")
    cpu_ratios = [r / h for r, h in zip(cpu["relay"], cpu["hub"], strict=True)]
    print(f"relay_cpu_vs_hub: {statistics.median(cpu_ratios):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=["relay", "hub"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(serve_middle, args.serve)
    else:
        trio.run(run, args)


if __name__ == "__main__":
    main()
