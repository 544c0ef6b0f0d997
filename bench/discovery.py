"""How fast members bootstrapped from one peer find each other (node/net/discovery.py).

N P2PNodes in one process on loopback, each with a `Discovery`; N-1 of them
know only the first (the hub) as their bootstrap peer. Measured: the time
until every member is connected to every other member, with the
`/troth/peers/1` exchange on, and (the baseline) what the same nodes reach
in the same time with it off, when the only way to meet is gossipsub's own
peer exchange (which py-libp2p sends only when it prunes an oversubscribed
mesh, and a mesh of fewer than D_high = 12 peers is never pruned).

    python -m bench.discovery [--nodes 8] [--runs 3]

Prints per run the seconds to a full mesh, and the member-to-member links
formed without the exchange, as a ratio of the links formed with it.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from contextlib import AsyncExitStack

import trio

from node.net.discovery import Discovery
from node.net.p2p import GossipParams, P2PNode

TOPIC = "troth/bench/discovery"


async def one_run(nodes_n: int, exchange: bool, budget_s: float, salt: int) -> tuple[float, int]:
    """(seconds until every member links every other or the budget ran out,
    member-to-member links formed)."""
    async with AsyncExitStack() as stack:
        nodes = [await stack.enter_async_context(P2PNode.start(
            hashlib.sha256(b"bench-discovery-%d-%d" % (salt, i)).digest(),
            params=GossipParams())) for i in range(nodes_n)]
        for node in nodes:
            await node.subscribe(TOPIC)
        hub = nodes[0].listen_addrs[0]
        members = nodes[1:]

        def links() -> int:
            ids = {m.peer_id for m in members}
            return sum(len(ids & set(m.connected_peers())) for m in members) // 2

        want = len(members) * (len(members) - 1) // 2
        async with trio.open_nursery() as nursery:
            nursery.start_soon(Discovery(nodes[0], None, exchange=exchange).run)
            t0 = time.perf_counter()
            for m in members:
                nursery.start_soon(Discovery(m, None, bootstrap=(hub,), exchange=exchange).run)
            with trio.move_on_after(budget_s):
                while links() < want:
                    await trio.sleep(0.05)
            elapsed = time.perf_counter() - t0
            formed = links()
            nursery.cancel_scope.cancel()
        return elapsed, formed


async def main(nodes_n: int, runs: int) -> None:
    members = nodes_n - 1
    want = members * (members - 1) // 2
    with_s: list[float] = []
    for run in range(runs):
        elapsed, formed = await one_run(nodes_n, True, 60.0, run)
        assert formed == want, (formed, want)
        with_s.append(elapsed)
        _, without = await one_run(nodes_n, False, elapsed, 100 + run)
        print(f"run {run}: full mesh of {members} members in {elapsed:.2f} s with the exchange; "
              f"without it, in the same time: {without}/{want} links "
              f"(ratio {without / want:.2f})")
    print(f"discovery_full_mesh_s: median {statistics.median(with_s):.2f} "
          f"min {min(with_s):.2f} max {max(with_s):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    trio.run(main, args.nodes, args.runs)
