"""The gossip routers: what a node's network layer does with gossip tokens.

Theory of operation (docs/sim.md, "Dissemination"). Every model shares the
receiving side (`Router.on_gossip`): count the message, drop it if the seen
cache already has it (duplicates never reach the core, as in libp2p), drop
it if it does not verify (the topic validator: an invalid token is neither
delivered nor forwarded), otherwise relay it by the model's rule and hand it
to the node's core. What differs is the spreading rule:

- `Gossipsub`: push to every mesh peer but the sender (`Network.flood`); lazy
  gossip every `heartbeat_s` (IHAVE of the mcache's message ids to
  `lazy_degree` live non-mesh connections, which IWANT what they lack). A
  heartbeat with an empty mcache does nothing, so an idle router schedules
  none (`heart_at` is None until a message enters its mcache).
- `Rumors`: push, pull or push-pull on the complete graph in synchronous
  rounds of `round_s`: each round every node picks a uniformly random
  partner; a node spreads a rumor for `rumor_rounds` rounds (0 = forever).
- `Router` itself (model `none`): only the core's own sync spreads tokens.

Routers hold no state of their own: a node's seen cache, mcache and rumors
live in its `SimNode` (a crash empties them: `reset`). They draw only from a
node's `net_rng` stream.
"""

from __future__ import annotations

import math

from .codec import Codec
from .events import Gossip, Heartbeat, IHave, IWant, Pull
from .host import Host
from .loop import Loop
from .network import Network
from .rng import stream
from .scenario import Scenario
from .seen import SeenCache
from .simnode import EPOCH_S, SimNode

__all__ = ["Router", "Gossipsub", "Rumors", "make_router", "MSG_ID_BYTES"]

# Bytes per message id in IHAVE/IWANT (a cid is 36 bytes).
MSG_ID_BYTES = 36


class Router:
    """The receiving side every model shares; spreads nothing itself (model `none`)."""

    def __init__(self, sc: Scenario, seed: int, nodes: list[SimNode], loop: Loop,
                 network: Network, codec: Codec, counts: dict[str, int], host: Host) -> None:
        self.sc = sc
        self.seed = seed
        self.nodes = nodes
        self.loop = loop
        self.network = network
        self.codec = codec
        self.counts = counts
        self.host = host
        # What `on_gossip` (run once per delivered copy) reads, bound once: the
        # codec's tables only ever grow in place.
        self._msgs = codec.msgs
        self._valid = codec.valid
        self._execute = host.execute

    def start(self, node: SimNode) -> None:
        """Before the run: draw or schedule what this model needs for `node`."""

    def reset(self, node: SimNode) -> None:
        """`node` crashed: its router forgets everything."""
        node.seen = SeenCache()
        node.mcache.clear()
        node.heart_at = None
        node.rumors = []

    def publish(self, node: SimNode, data: bytes, t: float) -> None:
        """The node's core published `data` (its own token, or one it accepted)."""
        mid = self.codec.mid(data)
        node.seen.mark(mid)
        node.inflight.pop(mid, None)
        if node.behaviour.sends:
            self.spread(node, mid, len(data), t)

    def spread(self, node: SimNode, mid: int, size: int, t: float) -> None:
        """Start spreading a message this node published."""

    def relay(self, node: SimNode, mid: int, size: int, src: int, t: float) -> None:
        """Pass on a valid message first seen from `src`."""

    def on_gossip(self, node: SimNode, src: int, mid: int, t: float) -> None:
        data = self._msgs[mid]
        node.msgs_in += 1
        node.bytes_in += len(data)
        seen = node.seen
        window = seen.window
        k = mid - seen.base
        if 0 <= k < len(window):  # (the seen cache's window, inlined)
            if window[k]:
                self.counts["gossip_duplicates"] += 1
                return
            window[k] = 1
        else:
            if seen.saw(mid):
                self.counts["gossip_duplicates"] += 1
                return
            seen.mark(mid)
        node.inflight.pop(mid, None)
        # The topic validator: a token that does not verify is neither delivered
        # nor forwarded (as the node's gossipsub validator does, docs/architecture.md).
        if self._valid[mid] != 1:
            self.counts["invalid_gossip"] += 1
            return
        self.relay(node, mid, len(data), src, t)
        core = node.core
        assert core is not None
        local = EPOCH_S + t * (1.0 + node.drift) + node.skew_s  # node.local(t), inlined
        self._execute(node, core.receive_gossip(self.nodes[src].agent, data, local), t)

    def on_heartbeat(self, node: SimNode, tag: int, t: float) -> None:
        """A heartbeat or round (models that schedule none never get one)."""

    def on_ihave(self, node: SimNode, src: int, ids: tuple[int, ...], t: float) -> None:
        """Lazy gossip offer (gossipsub only)."""

    def on_iwant(self, node: SimNode, src: int, ids: tuple[int, ...], t: float) -> None:
        """Lazy gossip request (gossipsub only)."""

    def on_pull(self, node: SimNode, src: int, t: float) -> None:
        """Pull request (rumor spreading only)."""


class Gossipsub(Router):
    """Mesh push plus lazy IHAVE/IWANT gossip."""

    def start(self, node: SimNode) -> None:
        dis = self.sc.dissemination
        if dis.lazy_degree > 0:
            node.heart_phase = stream(self.seed, "heartbeat", node.index).uniform(
                0, dis.heartbeat_s)
            mesh = set(node.mesh)
            node.lazy_peers = [j for j in node.conns if j not in mesh]

    def spread(self, node: SimNode, mid: int, size: int, t: float) -> None:
        if node.mcache.maxlen:
            self._cache(node, mid, t)
        self.network.flood(node, mid, size, t, -1)

    def relay(self, node: SimNode, mid: int, size: int, src: int, t: float) -> None:
        if node.mcache.maxlen:
            self._cache(node, mid, t)
        if node.behaviour.relays:
            self.network.flood(node, mid, size, t, src)

    def _cache(self, node: SimNode, mid: int, t: float) -> None:
        """Put a message in the router's mcache; wake its heartbeat if it idles."""
        mcache = node.mcache
        if not mcache:
            mcache.append([])
        mcache[-1].append(mid)
        if node.heart_at is None:  # (an mcache exists only with lazy gossip)
            # Heartbeats fall at phase + k * heartbeat_s; one with an empty
            # mcache does nothing, so an idle router schedules none.
            hb = self.sc.dissemination.heartbeat_s
            at = node.heart_phase + (math.floor((t - node.heart_phase) / hb) + 1) * hb
            node.heart_at = at
            self.loop.schedule(at, Heartbeat(node.index, node.incarnation))

    def on_heartbeat(self, node: SimNode, tag: int, t: float) -> None:
        if node.incarnation != tag or node.heart_at != t:
            return  # scheduled before a crash (so the node is up)
        dis = self.sc.dissemination
        ids = [m for window in node.mcache for m in window]
        node.mcache.append([])
        if ids:
            node.heart_at = t + dis.heartbeat_s
            self.loop.schedule(node.heart_at, Heartbeat(node.index, node.incarnation))
        else:
            node.heart_at = None  # idle until a message enters the mcache
        if not ids or not node.behaviour.relays:
            return
        nodes = self.nodes
        others = [j for j in node.lazy_peers if nodes[j].up]
        if not others:
            return
        offer = tuple(ids)
        for j in node.net_rng.sample(others, min(dis.lazy_degree, len(others))):
            self.counts["ihave"] += 1
            self.network.transmit(node, j, IHave(j, node.index, offer),
                                  MSG_ID_BYTES * len(ids), t)

    def on_ihave(self, node: SimNode, src: int, ids: tuple[int, ...], t: float) -> None:
        if not node.up:
            return
        node.msgs_in += 1
        want = node.seen.unseen(ids)
        if want and node.behaviour.sends:
            self.counts["iwant"] += 1
            self.network.transmit(node, src, IWant(src, node.index, tuple(want)),
                                  MSG_ID_BYTES * len(want), t)

    def on_iwant(self, node: SimNode, src: int, ids: tuple[int, ...], t: float) -> None:
        if not node.up or not node.behaviour.serves:
            return
        node.msgs_in += 1
        cached = {m for window in node.mcache for m in window}
        msgs = self.codec.msgs
        for m in ids:
            if m in cached:
                self.network.transmit(node, src, Gossip(src, node.index, m), len(msgs[m]), t)


class Rumors(Router):
    """Push, pull or push-pull rumor spreading in synchronous rounds."""

    def start(self, node: SimNode) -> None:
        self.loop.schedule(self.sc.dissemination.round_s, Heartbeat(node.index, 1))

    def _round(self, t: float) -> int:
        return int(t / self.sc.dissemination.round_s + 1e-9)

    def spread(self, node: SimNode, mid: int, size: int, t: float) -> None:
        node.rumors.append((self._round(t), mid))

    def relay(self, node: SimNode, mid: int, size: int, src: int, t: float) -> None:
        if node.behaviour.relays:
            node.rumors.append((self._round(t), mid))

    def _live_rumors(self, node: SimNode, rnd: int) -> list[int]:
        ttl = self.sc.dissemination.rumor_rounds
        if ttl:
            node.rumors = [(r, m) for r, m in node.rumors if rnd - r <= ttl]
        return [m for _, m in node.rumors]

    def on_heartbeat(self, node: SimNode, tag: int, t: float) -> None:
        dis = self.sc.dissemination
        self.loop.schedule(t + dis.round_s, Heartbeat(node.index, tag + 1))
        if not node.up or not node.behaviour.sends:
            return
        n = len(self.nodes)
        partner = node.net_rng.randrange(n - 1)
        if partner >= node.index:
            partner += 1
        msgs = self.codec.msgs
        if dis.model in ("push", "push-pull"):
            for m in self._live_rumors(node, tag):
                self.network.transmit(node, partner, Gossip(partner, node.index, m),
                                      len(msgs[m]), t)
        if dis.model in ("pull", "push-pull"):
            self.counts["pulls"] += 1
            self.network.transmit(node, partner, Pull(partner, node.index), MSG_ID_BYTES, t)

    def on_pull(self, node: SimNode, src: int, t: float) -> None:
        """A pull request: answer with the rumors the asker lacks (its digest is modelled
        by looking at its seen set)."""
        if not node.up or not node.behaviour.serves:
            return
        asker = self.nodes[src]
        msgs = self.codec.msgs
        for m in self._live_rumors(node, self._round(t)):
            if not asker.seen.saw(m):
                self.network.transmit(node, src, Gossip(src, node.index, m), len(msgs[m]), t)


def make_router(sc: Scenario, seed: int, nodes: list[SimNode], loop: Loop, network: Network,
                codec: Codec, counts: dict[str, int], host: Host) -> Router:
    """The router of the scenario's `dissemination.model`."""
    model = sc.dissemination.model
    cls = Gossipsub if model == "gossipsub" else Router if model == "none" else Rumors
    return cls(sc, seed, nodes, loop, network, codec, counts, host)
