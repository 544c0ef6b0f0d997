"""The modelled network: topology, links, partitions, and messages in flight.

Theory of operation (docs/sim.md, "Network" and "Dissemination"). `topology`
draws the connection graph and the gossipsub mesh from per-node streams.
`Network` carries messages: each one on the (src, dst) link draws its loss,
latency, reordering and duplication from the sender's one stream of outgoing
draws (`SimNode.send_rng`), after the partition check and the sender's uplink
(`bandwidth_bytes_per_s`); the latency is scaled by the link's fixed factor,
drawn once from the link's own named stream on first use (so the factors do
not depend on the order links are first used). One stream per sender rather
than one per link: a `random.Random` is 2.5 KiB, and a node uses about
sixteen links (docs/decisions/0015-sim-scale.md). What arrives becomes an event on
the loop.

Gossip copies are special (`gossip_copy`): a copy to a node that has already
seen the message, or arriving no earlier than a copy already in flight to it,
can only be a duplicate, so it is counted at send time and never scheduled.
Only a crash could make it count (the node forgets what it saw), so where
nodes can crash such a copy is kept as a "ghost" and `unghost` puts the ones
still in flight back on the loop. Without crashes a copy to a node that
already saw the message draws no latency either. The shortcut changes no
outcome's distribution, only which random draws are made.

`flood` is the gossipsub mesh push with `transmit` inlined: the simulator's
hottest loop. It makes the same draws in the same order and the same counts
(tests/sim/test_router.py replaces it with the general path and compares
digests).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from .codec import Codec
from .events import Event, Gossip
from .loop import Loop
from .rng import TWOPI, Random, stream
from .scenario import Scenario
from .simnode import SimNode

__all__ = ["Network", "topology", "GHOSTS_PRUNE_AT"]

# A node's list of suppressed duplicates in flight is pruned past this length.
GHOSTS_PRUNE_AT = 256


def topology(sc: Scenario, seed: int, nodes: list[SimNode]) -> None:
    """Set every node's `conns` (each dials `connections` random peers; the union,
    undirected) and `mesh` (each picks `mesh_degree` of its connections; symmetric)."""
    n = len(nodes)
    if n < 2:
        return
    k = min(sc.network.connections, n - 1)
    adj: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        rng = stream(seed, "topology", i)
        while len(adj[i]) < k:
            j = rng.randrange(n)
            if j != i:
                adj[i].add(j)
                adj[j].add(i)
    mesh: list[set[int]] = [set() for _ in range(n)]
    d = sc.dissemination.mesh_degree
    for i in range(n):
        conns = sorted(adj[i])
        rng = stream(seed, "mesh", i)
        for j in rng.sample(conns, min(d, len(conns))):
            mesh[i].add(j)
            mesh[j].add(i)
    for i, node in enumerate(nodes):
        node.conns = sorted(adj[i])
        node.mesh = sorted(mesh[i])


def lognormal_law(sc: Scenario) -> tuple[float, float] | None:
    """(scale in seconds, sigma) when latency is lognormal (the mesh push draws it
    inline), else None."""
    net = sc.network
    if net.latency_dist == "lognormal" and net.latency_ms > 0:
        return net.latency_ms / 1000.0, net.latency_sigma
    return None


def latency_law(sc: Scenario) -> Callable[[Random], float]:
    """One-way latency in seconds, drawn from a sender's stream (before the link's
    factor)."""
    net = sc.network
    ms = net.latency_ms
    dist = net.latency_dist
    lognormal = lognormal_law(sc)
    if lognormal is not None:
        scale, sigma, exp = *lognormal, math.exp
        return lambda rng: scale * exp(sigma * rng.gauss(0.0, 1.0))
    if dist == "uniform":
        lo, hi = ms - net.latency_spread_ms, ms + net.latency_spread_ms
        return lambda rng: max(0.0, rng.uniform(lo, hi)) / 1000.0
    if dist == "exponential" and ms > 0:
        lam = 1000.0 / ms
        return lambda rng: rng.expovariate(lam)
    if dist == "pareto":
        alpha = net.latency_alpha
        return lambda rng: ms * rng.paretovariate(alpha) / 1000.0
    value = ms / 1000.0 if dist == "constant" else 0.0
    return lambda rng: value


class Network:
    """Links, partitions and the messages in flight between `nodes`."""

    def __init__(self, sc: Scenario, seed: int, nodes: list[SimNode], loop: Loop,
                 codec: Codec, counts: dict[str, int], *, may_crash: bool) -> None:
        self.sc = sc
        self.seed = seed
        self.nodes = nodes
        self.loop = loop
        self.codec = codec
        self.counts = counts
        # Whether any node can ever crash: only then are suppressed duplicates kept.
        self.may_crash = may_crash
        self.part_of = [0] * len(nodes)  # each node's side of the current partition
        net = sc.network
        self.overhead = net.message_overhead_bytes
        self.latency = latency_law(sc)
        self.loss = net.loss
        self.bandwidth = net.bandwidth_bytes_per_s
        # What the mesh push reads on every call, in one tuple.
        self._flood_law = (net.loss, net.reorder, net.reorder_delay_ms / 1000.0,
                           net.duplicate, self.latency, lognormal_law(sc))

    def factor(self, src: SimNode, dst: int) -> float:
        """The (src, dst) link's fixed latency factor."""
        factor = src.links.get(dst)
        if factor is None:
            spread = self.sc.network.link_spread
            factor = src.links[dst] = math.exp(
                stream(self.seed, "link", src.index, dst).gauss(0.0, spread)) \
                if spread > 0 else 1.0
        return factor

    def transmit(self, src: SimNode, dst: int, ev: Event, size: int, t: float) -> None:
        """Send `ev` (addressed to `dst`) of `size` payload bytes from `src` at `t`."""
        size += self.overhead
        src.msgs_out += 1
        src.bytes_out += size
        part = self.part_of
        if part[src.index] != part[dst]:
            self.counts["partition_dropped"] += 1
            return
        rng = src.send_rng
        factor = src.links.get(dst)
        if factor is None:
            factor = self.factor(src, dst)
        loss = self.loss
        if loss and rng.random() < loss:
            self.counts["lost"] += 1
            return
        depart = t
        if self.bandwidth > 0:
            depart = max(t, src.uplink_free_s) + size / self.bandwidth
            src.uplink_free_s = depart
        mid = ev.mid if type(ev) is Gossip else -1  # -1: not gossip
        if mid >= 0 and not self.may_crash:
            # A copy of what the target already saw is a duplicate, whenever it
            # arrives (no crash can make it forget): no need to draw its delay.
            target = self.nodes[dst]
            if target.seen.saw(mid):
                target.msgs_in += 1
                target.bytes_in += size - self.overhead
                self.counts["gossip_duplicates"] += 1
                return
        latency = self.latency
        arrive = depart + latency(rng) * factor
        net = self.sc.network
        if net.reorder and rng.random() < net.reorder:
            arrive += net.reorder_delay_ms / 1000.0
            self.counts["reordered"] += 1
        again = None
        if net.duplicate and rng.random() < net.duplicate:
            self.counts["duplicated"] += 1
            again = arrive + latency(rng) * factor
        if mid >= 0:
            target = self.nodes[dst]
            self.gossip_copy(src, target, mid, arrive)
            if again is not None:
                self.gossip_copy(src, target, mid, again)
            return
        self.loop.schedule(arrive, ev)
        if again is not None:
            self.loop.schedule(again, ev)

    def flood(self, node: SimNode, mid: int, size: int, t: float, skip: int) -> None:
        """The gossipsub mesh push: `transmit` of message `mid` to every mesh peer
        but `skip`, inlined (this is the simulator's hottest loop). Same draws,
        same order, same counts as `transmit`; nodes that can crash or links
        with a bandwidth limit take the general path."""
        if self.may_crash or self.bandwidth > 0:
            for j in node.mesh:
                if j != skip:
                    self.transmit(node, j, Gossip(j, node.index, mid), size, t)
            return
        wire_size = size + self.overhead
        part = self.part_of
        mine = part[node.index]
        mesh_links = node.mesh_links
        if mesh_links is None:
            mesh_links = node.mesh_links = [(j, self.nodes[j], self.factor(node, j))
                                            for j in node.mesh]
        rng = node.send_rng
        loss, reorder, reorder_s, duplicate, latency, lognormal = self._flood_law
        ln_scale, ln_sigma = lognormal if lognormal is not None else (0.0, 0.0)
        exp, log, sqrt, cos, sin = math.exp, math.log, math.sqrt, math.cos, math.sin
        counts = self.counts
        heap, next_seq = self.loop.pusher()
        push = heapq.heappush
        new = tuple.__new__  # Gossip(j, src, mid) without the NamedTuple's Python-level __new__
        src = node.index
        inf = math.inf
        sent = dups = 0
        for j, target, factor in mesh_links:
            if j == skip:
                continue
            sent += 1
            if part[j] != mine:
                counts["partition_dropped"] += 1
                continue
            if loss and rng.random() < loss:
                counts["lost"] += 1
                continue
            seen = target.seen
            window = seen.window
            k = mid - seen.base
            if (window[k] if 0 <= k < len(window) else k < 0 and seen.saw(mid)):
                target.msgs_in += 1
                target.bytes_in += size
                dups += 1
                continue
            if lognormal is not None:
                # latency(rng), inlined: random.Random.gauss's own steps (the same
                # draws and the same arithmetic), then the lognormal law.
                z = rng.gauss_next  # type: ignore[attr-defined]
                if z is None:
                    x2pi = rng.random() * TWOPI
                    g2rad = sqrt(-2.0 * log(1.0 - rng.random()))
                    z = cos(x2pi) * g2rad
                    rng.gauss_next = sin(x2pi) * g2rad  # type: ignore[attr-defined]
                else:
                    rng.gauss_next = None  # type: ignore[attr-defined]
                arrive = t + ln_scale * exp(ln_sigma * z) * factor
            else:
                arrive = t + latency(rng) * factor
            if reorder and rng.random() < reorder:
                arrive += reorder_s
                counts["reordered"] += 1
            again = None
            if duplicate and rng.random() < duplicate:
                counts["duplicated"] += 1
                again = arrive + latency(rng) * factor
            inflight = target.inflight
            if inflight.get(mid, inf) <= arrive:
                target.msgs_in += 1
                target.bytes_in += size
                dups += 1
            else:
                inflight[mid] = arrive
                push(heap, (arrive, next_seq(), new(Gossip, (j, src, mid))))  # loop.schedule
            if again is not None:  # rare: the general path
                self.gossip_copy(node, target, mid, again)
        node.msgs_out += sent
        node.bytes_out += sent * wire_size
        counts["gossip_duplicates"] += dups

    def gossip_copy(self, src: SimNode, target: SimNode, mid: int, arrive: float) -> None:
        """Put one gossip copy in flight, unless it is sure to be a duplicate.

        A copy of a message the target already saw, or one that arrives no
        earlier than a copy already in flight to it, is a duplicate on arrival
        whatever else happens first: it is counted now instead of scheduled
        (most of a mesh flood's traffic). Only a crash (which forgets `seen`)
        could change that; nodes that can crash keep the copy (a "ghost") so
        `unghost` can put it back in flight."""
        if target.seen.saw(mid) or target.inflight.get(mid, math.inf) <= arrive:
            if self.may_crash:
                ghosts = target.ghosts
                ghosts.append((arrive, src.index, mid))
                if len(ghosts) > GHOSTS_PRUNE_AT:
                    now = self.loop.now
                    target.ghosts = [g for g in ghosts if g[0] > now]
            target.msgs_in += 1
            target.bytes_in += len(self.codec.msgs[mid])
            self.counts["gossip_duplicates"] += 1
            return
        target.inflight[mid] = arrive
        self.loop.schedule(arrive, Gossip(target.index, src.index, mid))

    def unghost(self, node: SimNode, t: float) -> None:
        """`node` crashes at `t`: its suppressed duplicates still in flight were not
        duplicates after all (the node forgets what it saw); put them back."""
        for arrive, src, mid in node.ghosts:
            if arrive > t:
                node.msgs_in -= 1
                node.bytes_in -= len(self.codec.msgs[mid])
                self.counts["gossip_duplicates"] -= 1
                self.loop.schedule(arrive, Gossip(node.index, src, mid))
        node.ghosts = []
        node.inflight = {}
