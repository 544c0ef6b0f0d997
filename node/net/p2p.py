"""The libp2p edge: one `P2PNode` = a host, gossipsub and the `/troth/sync/1` protocol.

Theory of operation
-------------------
The node/net package is the only part of troth that imports py-libp2p (and
multiaddr); this module assembles its pieces and is the package's front door:
every name the runtime, tests and benchmarks use is importable from here. One
`P2PNode` owns one libp2p host and hands the runtime plain values: peer ids are
strings (`12D3KooW...`, the same text as `wire.Identity.agent_id`), addresses
are multiaddr strings, messages are frozen events (events.py). No libp2p type
or exception crosses the package's boundary: everything raised is a `P2PError`
(errors.py), or a `ValueError`/`TypeError` for API misuse.

The pieces, and the invariants each keeps (why: docs/libp2p.md):

- host.py: Noise and yamux only, one connection per peer, and no dialling on
  its own; an explicit `connect()` always clears the negative dial cache first.
- gossip.py: gossipsub parameters set on purpose (`GossipParams`), peer
  scores, seqnos that are never reused across restarts.
- sync.py: the `/troth/sync/1` stream, `unsigned-varint(length) || bytes`
  frames checked before they are read, with deadlines.
- sync_peers.py (with guard.py and outbox.py): what one sync peer may cost
  us. Frames we send a peer are queued in its bounded outbox (`send_sync`),
  never awaited; frames it sends us are charged to its budget; a peer that
  breaks the limits (`SyncLimits`) is disconnected and banned for a while,
  and every refusal is counted (`sync_defence`).
- relay.py: circuit relay v2, as a relay for others (if asked) and to be
  reached through relays; `connect()` takes `/p2p-circuit` addresses too.
- reachability.py: AutoNAT dial-backs, so a node learns whether it needs a relay.

Here: delivered messages never include our own publishes; a topic validator
runs before a message is delivered or forwarded; our own publishes are checked
by the same validator before they are handed to gossipsub (so a rejected
publish raises instead of vanishing). A delivered message names its originator
(`from_peer`, signed, possibly many hops away) and the neighbour that relayed
it (`via`); only `via` is a peer we are connected to.

Start order: pubsub services first, then the host, then our nursery (outbox
tasks, disconnects of banned peers); stop order: our nursery cancelled, host
closed explicitly (connections, listeners, transports) inside a shielded
`finally`, then the pubsub services. Pubsub's network notifee sends on unbuffered
channels, so pubsub must be running whenever connections come and go.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import multiaddr
import trio
from libp2p.abc import IHost, INetConn, INetStream
from libp2p.custom_types import TProtocol
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.score import PeerScorer
from libp2p.tools.anyio_service import background_trio_service

from .errors import (
    ConnectFailed,
    FrameTimeout,
    FrameTooLarge,
    IdentityMismatch,
    InvalidAddress,
    InvalidPeerId,
    MalformedFrame,
    NodeClosed,
    P2PError,
    PeerBanned,
    PublishFailed,
    PublishRejected,
    RequestRateExceeded,
    StartFailed,
    StreamClosed,
    StreamFailed,
    StreamOpenFailed,
    SyncLimitExceeded,
    TooManyStreams,
    TruncatedFrame,
    WriteTimeout,
)
from .events import (
    GossipReceived,
    P2PStats,
    PeerConnected,
    PeerDisconnected,
    PeerEvent,
    Validation,
    Validator,
)
from .gossip import (
    GOSSIP_DATA_MAX_BYTES,
    GossipParams,
    Ignored,
    TopicInbox,
    TrothPubsub,
    build_gossip,
    check_topic,
    current_forwarder,
)
from .guard import PeerSyncInfo, SyncDefenceStats, SyncLimits
from .host import (
    CONNECT_TIMEOUT_S,
    DEFAULT_LISTEN,
    PeerNotifee,
    build_host,
    check_port_free,
    parse_announce_addrs,
    parse_listen_addrs,
    parse_multiaddr,
    parse_p2p_addr,
    parse_peer_id,
)
from .reachability import DialBack, Reachability, direct_ip
from .relay import (
    Relay,
    RelayParams,
    RelayStatus,
    Reservation,
    is_circuit_addr,
    parse_circuit_addr,
    relay_between,
)
from .sync import (
    CLOSE_TIMEOUT_S,
    FRAME_SIZE_MAX_BYTES,
    STREAM_IDLE_S,
    STREAM_OPEN_TIMEOUT_S,
    SYNC_PROTOCOL,
    SYNC_STREAMS_INBOUND_MAX,
    SyncHandler,
    SyncStream,
    encode_frame_prefix,
)
from .sync_peers import SyncPeers

__all__ = [
    "P2PNode", "SyncStream", "GossipParams", "P2PStats",
    "SyncLimits", "SyncDefenceStats", "PeerSyncInfo",
    "GossipReceived", "PeerConnected", "PeerDisconnected", "PeerEvent",
    "Validator", "Validation", "SyncHandler", "RelayParams", "RelayStatus", "Reservation",
    "Reachability",
    "P2PError", "StartFailed", "IdentityMismatch", "InvalidAddress", "InvalidPeerId",
    "ConnectFailed", "NodeClosed", "PublishRejected", "PublishFailed",
    "StreamOpenFailed", "StreamClosed", "StreamFailed", "FrameTooLarge", "MalformedFrame",
    "FrameTimeout", "TruncatedFrame", "WriteTimeout", "SyncLimitExceeded",
    "RequestRateExceeded", "TooManyStreams", "PeerBanned",
    "SYNC_PROTOCOL", "FRAME_SIZE_MAX_BYTES", "STREAM_IDLE_S", "DEFAULT_LISTEN",
    "encode_frame_prefix",
]

logger = logging.getLogger(__name__)

# Runtime-facing queues. A full messages queue drops (gossip is lossy; sync
# repairs) and counts; a full peer-events queue drops and counts too, and the
# runtime reconciles with connected_peers() on its tick.
MESSAGES_QUEUE_MAX = 4096
PEER_EVENTS_QUEUE_MAX = 1024


class P2PNode:
    """A running libp2p host with gossipsub and the sync protocol.

    Create with `async with P2PNode.start(seed) as node:`; everything is closed
    when the block exits, however it exits.
    """

    def __init__(self, *, host: IHost, swarm: Swarm, pubsub: TrothPubsub, router: GossipSub,
                 sync_limits: SyncLimits, relay: Relay) -> None:
        self._host = host
        self._relay = relay
        self._dialback = DialBack(host)
        self._swarm = swarm
        self._pubsub = pubsub
        self._router = router
        self._id = host.get_id()
        self._id_bytes = self._id.to_bytes()
        self.peer_id: str = self._id.to_base58()
        self._closing = False
        self._validators: dict[str, Validator] = {}
        self._sync_handler: SyncHandler | None = None
        self._streams_active: dict[str, int] = {}  # protocol -> inbound streams being served
        self._up: set[str] = set()
        self._msg_send, self.messages = trio.open_memory_channel[GossipReceived](
            MESSAGES_QUEUE_MAX)
        self._evt_send, self.peer_events = trio.open_memory_channel[PeerEvent](
            PEER_EVENTS_QUEUE_MAX)
        self._delivered = 0
        self._dropped_messages = 0
        self._rejected = 0
        self._validator_errors = 0
        self._dropped_events = 0
        self._sync_refused = 0
        self._sync_peers = SyncPeers(sync_limits, open_stream=self.open_sync_stream,
                                     disconnect=self._drop_peer)
        self._ignored = 0
        self._kept = 0

    # -- lifecycle --

    @classmethod
    @asynccontextmanager
    async def start(cls, seed: bytes, *, listen: str | Sequence[str] = DEFAULT_LISTEN,
                    announce: Sequence[str] = (),
                    params: GossipParams | None = None,
                    expected_peer_id: str | None = None,
                    mdns: bool = False,
                    sync_limits: SyncLimits | None = None,
                    relay: RelayParams | None = None) -> AsyncIterator[P2PNode]:
        """Run a node with the Ed25519 identity of `seed` (32 bytes), listening on `listen`.

        `listen` is one multiaddr or several (IPv4 and IPv6, TCP); `announce`
        adds public addresses to what we advertise (a port forward). What is
        advertised is `listen_addrs`: see node/net/addrs.py.

        `expected_peer_id` (e.g. `wire.Identity.agent_id`) is checked against the
        host's peer id. Raises `StartFailed` if the address cannot be bound.
        `mdns` announces us and listens for peers on the LAN (py-libp2p's
        zeroconf discovery); found peers land in the peerstore and are listed by
        `discovered_peers()`: the runtime decides whether to dial them.
        `sync_limits`: what one sync peer may cost us (guard.py; defaults
        leave honest sync alone).
        `relay` says whether (and within which limits) we relay for others;
        every node can reserve on relays and be dialled through them.
        """
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise ValueError(f"seed must be 32 bytes, got {seed!r:.20}")
        params = params or GossipParams()
        listen_addrs = parse_listen_addrs(listen)
        announce_addrs = parse_announce_addrs(announce)
        for addr in listen_addrs:
            check_port_free(addr)
        node = cls._create(seed, listen_addrs, announce_addrs, params, mdns,
                           sync_limits or SyncLimits(), relay or RelayParams())
        if expected_peer_id is not None and node.peer_id != expected_peer_id:
            raise IdentityMismatch("", peer_id=node.peer_id, expected=expected_peer_id)
        try:
            async with node._run(listen_addrs):
                yield node
        except BaseExceptionGroup as group:
            # The nurseries inside are ours and py-libp2p's, not the caller's:
            # one failure comes out as itself, not wrapped in a group.
            leaf = _single_leaf(group)
            if leaf is None:
                raise
            raise leaf from None
        finally:
            node._msg_send.close()
            node._evt_send.close()

    @asynccontextmanager
    async def _run(self, listen_addrs: list[multiaddr.Multiaddr]) -> AsyncIterator[None]:
        # Pubsub before the host: its notifee blocks the swarm until pubsub has
        # taken the event, so pubsub must be running while connections change.
        async with background_trio_service(self._pubsub), \
                background_trio_service(self._router):
            await self._pubsub.wait_until_ready()
            async with self._host.run(listen_addrs), \
                    background_trio_service(self._relay.service):
                try:
                    missing = [str(a) for a in listen_addrs
                               if str(a) not in self._swarm.listeners]
                    if missing:
                        raise StartFailed("cannot listen", listen=missing)
                    async with trio.open_nursery() as nursery:
                        self._sync_peers.attach(nursery)
                        try:
                            yield
                        finally:
                            self._sync_peers.attach(None)
                            nursery.cancel_scope.cancel()
                finally:
                    # Inside host.run(): leaving it first cancels the swarm, whose
                    # own cleanup then gets cancelled too and leaves established
                    # connections open (the peer never sees us go). Close here,
                    # shielded, before pubsub stops, whatever ended the block.
                    await self._close()

    @classmethod
    def _create(cls, seed: bytes, listen_addrs: list[multiaddr.Multiaddr],
                announce_addrs: list[multiaddr.Multiaddr], params: GossipParams,
                mdns: bool, sync_limits: SyncLimits, relay: RelayParams) -> P2PNode:
        host, swarm = build_host(seed, listen_addrs, announce_addrs, mdns)
        pubsub, router = build_gossip(host, params)
        node = cls(host=host, swarm=swarm, pubsub=pubsub, router=router,
                   sync_limits=sync_limits, relay=Relay(host, relay))
        swarm.register_notifee(PeerNotifee(node._on_connection_change))
        host.set_stream_handler(TProtocol(SYNC_PROTOCOL), node._on_sync_stream)
        return node

    async def _close(self) -> None:
        self._closing = True
        with trio.CancelScope(shield=True):
            with trio.move_on_after(CLOSE_TIMEOUT_S) as scope:
                try:
                    await self._host.close()
                except Exception as exc:
                    logger.warning("closing libp2p host %s: %r", self.peer_id, exc)
            if scope.cancelled_caught:
                logger.warning("closing libp2p host %s timed out", self.peer_id)

    def _check_open(self) -> None:
        if self._closing:
            raise NodeClosed(self.peer_id)

    # -- addresses and peers --

    @property
    def listen_addrs(self) -> list[str]:
        """Full multiaddrs to dial us, each ending in `/p2p/<peer id>`: what we
        advertise (wildcards expanded, announced first, nothing undialable)."""
        return [str(addr) for addr in self._host.get_addrs()]

    @property
    def bound_addrs(self) -> list[str]:
        """The sockets' own addresses (a wildcard stays a wildcard), without `/p2p/`."""
        return [str(addr) for addr in self._host.get_transport_addrs()]

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with `/tcp/0`)."""
        for addr in self._host.get_transport_addrs():
            value = addr.value_for_protocol("tcp")
            if value:
                return int(value)
        raise NodeClosed("not listening")

    async def connect(self, addr: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
        """Dial `addr` (must end in `/p2p/<peer id>`); return the peer id when up.

        A `/p2p-circuit` address is dialled through its relay (relay.py).
        """
        self._check_open()
        info = parse_p2p_addr(addr)
        if info.peer_id == self._id:
            raise ValueError(f"cannot connect to ourselves: {addr}")
        if is_circuit_addr(info.addrs[0]):
            await self._dial_relayed(addr, timeout_s)
        else:
            await self._dial(info, timeout_s, addr=addr)
        return info.peer_id.to_base58()

    async def _dial(self, info: PeerInfo, timeout_s: float, **where: str) -> None:
        """Connect to `info` within `timeout_s`; failures name the peer by `where`."""
        if self._sync_peers.banned(info.peer_id.to_base58()):
            raise PeerBanned("", **where)
        # An earlier failed dial (ours, or py-libp2p's) blocks a peer for 60 s;
        # an explicit connect is the runtime saying "try now".
        self._swarm.unblock_peer(info.peer_id)
        with trio.move_on_after(timeout_s) as scope:
            try:
                await self._host.connect(info)
            except Exception as exc:
                raise ConnectFailed("", **where, error=repr(exc)) from None
        if scope.cancelled_caught:
            raise ConnectFailed("timed out", **where, timeout_s=timeout_s)

    async def _dial_relayed(self, addr: str, timeout_s: float) -> None:
        circuit = parse_circuit_addr(parse_multiaddr(addr))
        if circuit.relay.peer_id == self._id:
            raise ValueError(f"cannot dial through ourselves: {addr}")
        await self._dial(circuit.relay, timeout_s, addr=addr)
        with trio.move_on_after(timeout_s) as scope:
            await self._relay.dial(circuit)
        if scope.cancelled_caught:
            raise ConnectFailed("timed out through the relay", addr=addr, timeout_s=timeout_s)

    # -- relays and reachability (relay.py, reachability.py) --

    async def reserve(self, relay_addr: str, *,
                      timeout_s: float = CONNECT_TIMEOUT_S) -> Reservation:
        """Connect to the relay at `relay_addr` (with /p2p/) and reserve a slot on it:
        until the reservation expires or the connection ends, peers reach us at
        the reservation's circuit address."""
        self._check_open()
        info = parse_p2p_addr(relay_addr)
        if info.peer_id == self._id or is_circuit_addr(info.addrs[0]):
            raise ValueError(f"not a relay address for us: {relay_addr}")
        await self._dial(info, timeout_s, addr=relay_addr)
        return await self._relay.reserve(relay_addr, info.peer_id)

    @property
    def relay_addrs(self) -> list[str]:
        """Circuit addresses at which peers reach us through relays we hold slots on."""
        return [r.addr for r in self._relay.held()]

    @property
    def relay_status(self) -> RelayStatus:
        return self._relay.status()

    @property
    def reachability(self) -> Reachability:
        """What the last dial-back check found (`check_reachability`)."""
        return self._dialback.verdict

    async def check_reachability(self, peer_ids: list[str],
                                 addrs: list[str] | None = None) -> Reachability:
        """Ask these peers (connected directly: a relayed request is refused) to dial
        us back at `addrs` (default: where we listen; a wildcard listen address
        becomes the address our traffic to each peer leaves from); peers that
        cannot answer do not count."""
        self._check_open()
        servers = [(peer, direct_ip(self._swarm.get_connections(peer)))
                   for peer in map(parse_peer_id, peer_ids)]
        maddrs = (list(self._host.get_transport_addrs()) if addrs is None
                  else [parse_multiaddr(a) for a in addrs])
        return await self._dialback.check(servers, maddrs)

    def peer_routes(self) -> dict[str, str | None]:
        """Connected peers -> None if reached directly, else the id of the relay between us."""
        return {peer.to_base58(): relay_between(self._swarm.get_connections(peer))
                for peer in self._host.get_connected_peers()}

    def discovered_peers(self) -> list[str]:
        """Peers the peerstore has addresses for (e.g. found by mDNS), not connected now."""
        up = {p.to_base58() for p in self._host.get_connected_peers()}
        found = []
        for pid in self._host.get_peerstore().peers_with_addrs():
            text = pid.to_base58()
            if pid != self._id and text not in up:
                found.append(text)
        return sorted(found)

    async def connect_known(self, peer_id: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
        """Dial a peer by id, at the addresses the peerstore has for it."""
        self._check_open()
        pid = parse_peer_id(peer_id)
        try:
            addrs = self._host.get_peerstore().addrs(pid)
        except Exception:
            addrs = []
        if not addrs:
            raise ConnectFailed("no known address", peer_id=peer_id)
        await self._dial(PeerInfo(pid, addrs), timeout_s, peer_id=peer_id)
        return peer_id

    def remember(self, addr: str) -> str:
        """Put a peer's address in the peerstore, as discovery does. Returns its id."""
        info = parse_p2p_addr(addr)
        self._host.get_peerstore().add_addrs(info.peer_id, info.addrs, 3600)
        return info.peer_id.to_base58()

    async def disconnect(self, peer_id: str) -> None:
        self._check_open()
        await self._drop_peer(peer_id)

    async def _drop_peer(self, peer_id: str) -> None:
        try:
            await self._host.disconnect(parse_peer_id(peer_id))
        except P2PError:
            raise
        except Exception as exc:
            logger.debug("disconnect %s: %r", peer_id, exc)

    def connected_peers(self) -> list[str]:
        return sorted(p.to_base58() for p in self._host.get_connected_peers())

    def _on_connection_change(self, conn: INetConn) -> None:
        try:
            peer = conn.muxed_conn.peer_id
        except Exception:  # a half-built connection: nothing to report
            return
        text = peer.to_base58()
        live = any(not c.is_closed for c in self._swarm.get_connections(peer))
        if live and self._sync_peers.refuse_if_banned(text):
            return  # being disconnected: the runtime never hears of it
        if live and text not in self._up:
            self._up.add(text)
            self._emit(PeerConnected(peer_id=text))
        elif not live and text in self._up:
            self._up.discard(text)
            self._sync_peers.disconnected(text)
            self._pubsub.rate_limit.forget(peer)
            self._pubsub.turns.forget(peer)
            self._emit(PeerDisconnected(peer_id=text))

    def _emit(self, event: PeerEvent) -> None:
        if self._closing:
            return
        try:
            self._evt_send.send_nowait(event)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self._dropped_events += 1
            logger.warning("peer event dropped (queue full): %s", event)

    # -- gossip --

    async def subscribe(self, topic: str, validator: Validator | None = None) -> None:
        """Join `topic`; deliver its messages to `messages`, after `validator`.

        The validator is installed before the subscription is announced, so no
        unvalidated message of the topic is ever delivered or forwarded.
        """
        self._check_open()
        check_topic(topic)
        if validator is not None:
            self.set_validator(topic, validator)
        if topic in self._pubsub.topic_ids:
            return
        try:
            subscription = await self._pubsub.subscribe(topic)
        except Exception as exc:
            raise P2PError("subscribe failed", topic=topic, error=repr(exc)) from None
        # Swap pubsub's 32-slot channel for our inbox. No checkpoint between
        # draining and swapping, so nothing slips past or out of order.
        orphan = cast(Any, subscription).receive_channel
        while True:
            try:
                self._deliver(topic, orphan.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        self._pubsub.subscribed_topics_send[topic] = cast(
            "trio.MemorySendChannel[rpc_pb2.Message]", TopicInbox(self._deliver, topic))
        orphan.close()

    async def unsubscribe(self, topic: str) -> None:
        self._check_open()
        check_topic(topic)
        try:
            await self._pubsub.unsubscribe(topic)
        except Exception as exc:
            raise P2PError("unsubscribe failed", topic=topic, error=repr(exc)) from None
        self.remove_validator(topic)

    @property
    def subscriptions(self) -> frozenset[str]:
        return frozenset(self._pubsub.topic_ids)

    def set_validator(self, topic: str, validator: Validator) -> None:
        """`validator(topic, data)` runs synchronously before delivery and forwarding.

        It answers a `Validation` (or True/False for ACCEPT/REJECT). REJECT (or
        an exception, logged) drops the message, and py-libp2p counts one
        invalid message against the neighbour that relayed it (P4 score, see
        GossipParams). IGNORE drops it too, unforwarded, and blames nobody: a
        valid message this node does not want. KEEP delivers it to `messages`
        but forwards it to nobody. It must be quick: it runs in pubsub's task.
        """
        check_topic(topic)
        if not callable(validator):
            raise TypeError(f"validator must be callable, got {validator!r}")
        self._validators[topic] = validator

        def libp2p_validator(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            if forwarder == self._id:
                return True  # checked in publish() already
            result = self._run_validator(topic, msg.data)
            if result is Validation.KEEP:
                self._kept += 1
                self._deliver(topic, msg)  # (pubsub would deliver and forward: we only deliver)
                raise Ignored
            if result is Validation.IGNORE:
                self._ignored += 1
                raise Ignored
            return result is Validation.ACCEPT

        self._pubsub.set_topic_validator(topic, libp2p_validator, is_async_validator=False)

    def remove_validator(self, topic: str) -> None:
        if self._validators.pop(topic, None) is not None:
            self._pubsub.remove_topic_validator(topic)

    def _run_validator(self, topic: str, data: bytes) -> Validation:
        validator = self._validators.get(topic)
        if validator is None:
            return Validation.ACCEPT
        try:
            answer = validator(topic, data)
        except Exception:
            logger.exception("validator for topic %r raised; message rejected", topic)
            self._validator_errors += 1
            answer = Validation.REJECT
        result = answer if isinstance(answer, Validation) else (
            Validation.ACCEPT if answer is True else Validation.REJECT)
        if result is Validation.REJECT:
            self._rejected += 1
        return result

    async def publish(self, topic: str, data: bytes) -> None:
        """Sign and publish `data` on `topic` (subscribed or not)."""
        self._check_open()
        check_topic(topic)
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        if len(data) > GOSSIP_DATA_MAX_BYTES:
            raise ValueError(f"gossip data of {len(data)} bytes > {GOSSIP_DATA_MAX_BYTES}")
        if self._run_validator(topic, data) not in (Validation.ACCEPT, Validation.KEEP):
            raise PublishRejected("our own validator refused it", topic=topic,
                                  size_bytes=len(data))
        try:
            await self._pubsub.publish(topic, data)
        except Exception as exc:
            raise PublishFailed("", topic=topic, error=repr(exc)) from None

    def _deliver(self, topic: str, msg: rpc_pb2.Message) -> None:
        if msg.from_id == self._id_bytes:
            return  # our own publish: the runtime already has it
        try:
            from_peer = _peer_text(msg.from_id)
        except Exception:
            return
        forwarder = current_forwarder()
        event = GossipReceived(topic=topic, from_peer=from_peer, data=bytes(msg.data),
                               via=None if forwarder is None else forwarder.to_base58())
        try:
            self._msg_send.send_nowait(event)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self._dropped_messages += 1
            if self._dropped_messages in (1, 10, 100) or self._dropped_messages % 1000 == 0:
                logger.warning("gossip message dropped: messages queue full (%d so far)",
                               self._dropped_messages)
            return
        self._delivered += 1

    def outbound_queued(self, peer_id: str) -> int:
        """Gossip RPCs queued for `peer_id` and not yet written. py-libp2p
        writes one RPC per message, a few hundred a second per peer on this
        machine; past `GossipParams.outbound_queue_max` it drops: a publisher
        that must not lose a burst waits while this is high."""
        queue = self._pubsub.peer_queues.get(parse_peer_id(peer_id))
        return 0 if queue is None else len(queue)

    def topic_peers(self, topic: str) -> frozenset[str]:
        """Connected peers known to be subscribed to `topic`."""
        return frozenset(p.to_base58() for p in self._pubsub.peer_topics.get(topic, ()))

    def mesh_peers(self, topic: str) -> frozenset[str]:
        """Our gossipsub mesh for `topic` (full-message peers)."""
        return frozenset(p.to_base58() for p in self._router.mesh.get(topic, ()))

    def penalise(self, peer_id: str, amount: float = 1.0) -> None:
        """Lower a neighbour's gossipsub score by `amount` (decays x0.97 per second).

        What happens (py-libp2p 0.8.1, GossipParams defaults): once its score
        is below -10, messages it relays are dropped before validation and we
        stop sending it messages (IHAVE gossip is not gated); below -20 its
        GRAFTs are refused. It is not disconnected and stays in a mesh it is
        already in, unless the mesh is over D_high. See docs/libp2p.md.
        """
        if amount < 0:
            raise ValueError(f"penalty must be >= 0, got {amount}")
        self._scorer().penalize_behavior(parse_peer_id(peer_id), amount)

    def peer_score(self, peer_id: str, topic: str) -> float:
        """The gossipsub score gating `peer_id` on `topic` (0 = neutral, lower = worse)."""
        peer = parse_peer_id(peer_id)
        scorer = self._scorer()
        score = scorer.topic_score(peer, topic)
        excess = scorer.behavior_penalty[peer] - scorer.params.p5_behavior_penalty_threshold
        if excess > 0:
            score -= excess * scorer.params.p5_behavior_penalty_weight
        return score

    def _scorer(self) -> PeerScorer:
        scorer = self._router.scorer
        assert scorer is not None, "GossipSub always builds a scorer"
        return scorer

    @property
    def stats(self) -> P2PStats:
        return P2PStats(
            delivered=self._delivered,
            dropped_messages_queue_full=self._dropped_messages,
            rejected=self._rejected,
            validator_errors=self._validator_errors,
            dropped_peer_events=self._dropped_events,
            sync_streams_refused=self._sync_refused,
            ignored=self._ignored,
            kept=self._kept,
            rate_limited=sum(self._pubsub.rate_limit.limited.values()),
            broken_streams=self._pubsub.broken_streams,
            malformed_messages=self._pubsub.malformed_messages,
        )

    def rate_limited_by_peer(self) -> dict[str, int]:
        """Per neighbour (ever connected), gossip messages ignored over its rate."""
        return {p.to_base58(): n for p, n in sorted(self._pubsub.rate_limit.limited.items(),
                                                     key=lambda kv: kv[0].to_base58())}

    # -- sync streams --

    def send_sync(self, peer_id: str, data: bytes) -> bool:
        """Queue one sync frame for a connected peer, without waiting.

        Written in order on one outbound stream by the peer's outbox task
        (outbox.py). False if it was dropped: the peer is not connected, its
        outbox is full (it does not read), or it is banned. Sync repairs.
        """
        if not isinstance(data, bytes):
            raise TypeError(f"frame must be bytes, got {type(data).__name__}")
        if len(data) > FRAME_SIZE_MAX_BYTES:
            raise ValueError(f"frame of {len(data)} bytes > limit {FRAME_SIZE_MAX_BYTES}")
        if self._closing or peer_id not in self._up:
            return self._sync_peers.send_refused()
        return self._sync_peers.send(peer_id, data)

    @property
    def sync_limits(self) -> SyncLimits:
        return self._sync_peers.limits

    @property
    def sync_defence(self) -> SyncDefenceStats:
        """What the sync defences refused, and why (a copy)."""
        return self._sync_peers.stats

    def sync_peer_info(self, peer_id: str) -> PeerSyncInfo:
        """What `peer_id` costs us now: budget, streams, queued frames, ban."""
        return self._sync_peers.info(peer_id)

    def sync_table_sizes(self) -> dict[str, int]:
        """Entries of the per-peer sync tables (bounded by connected peers, and bans)."""
        return self._sync_peers.table_sizes()

    def set_sync_handler(self, handler: SyncHandler | None) -> None:
        """`await handler(peer_id, stream)` for each inbound `/troth/sync/1` stream.

        The stream is gated (sync_peers.py): frames over the peer's budget are
        dropped before `receive_frame` returns them, and an offence raises (a
        `P2PError`) and bans the peer. The stream is closed when the handler
        returns; a `P2PError` from the handler resets it (logged at debug),
        any other exception is logged.
        """
        if handler is not None and not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._sync_handler = handler

    async def open_sync_stream(self, peer_id: str, *,
                               timeout_s: float = STREAM_OPEN_TIMEOUT_S) -> SyncStream:
        return await self.open_stream(peer_id, SYNC_PROTOCOL, timeout_s=timeout_s,
                                      frame_size_max_bytes=FRAME_SIZE_MAX_BYTES)

    async def _on_sync_stream(self, stream: INetStream) -> None:
        peer_id = _stream_peer(stream)
        handler = self._sync_handler
        active = self._streams_active.get(SYNC_PROTOCOL, 0)
        if handler is None or self._closing or active >= SYNC_STREAMS_INBOUND_MAX:
            self._sync_refused += 1
            await SyncStream(stream, peer_id).reset()
            return
        self._streams_active[SYNC_PROTOCOL] = active + 1
        try:
            async with self._sync_peers.inbound(stream, peer_id) as sync:
                await _run_handler("sync", handler, peer_id, sync)
        except SyncLimitExceeded as exc:
            self._sync_refused += 1
            logger.debug("sync stream from %s refused: %s", peer_id, exc)
        finally:
            self._streams_active[SYNC_PROTOCOL] -= 1

    async def _serve_stream(self, stream: INetStream, protocol: str, handler: SyncHandler,
                            streams_max: int, frame_size_max_bytes: int) -> None:
        """Run `handler` on an inbound stream of a protocol other than sync
        (which has its own gate, sync_peers.py); reset it if `streams_max` of
        this protocol are open already, or we are closing."""
        peer_id = _stream_peer(stream)
        framed = SyncStream(stream, peer_id, frame_size_max_bytes)
        active = self._streams_active.get(protocol, 0)
        if self._closing or active >= streams_max:
            await framed.reset()
            return
        self._streams_active[protocol] = active + 1
        try:
            await _run_handler(protocol, handler, peer_id, framed)
        finally:
            self._streams_active[protocol] -= 1

    # -- more stream protocols, and what we know of peers (discovery.py) --

    def serve_protocol(self, protocol: str, handler: SyncHandler, *, streams_max: int,
                       frame_size_max_bytes: int) -> None:
        """`await handler(peer_id, stream)` for each inbound stream of `protocol`,
        framed as sync streams are, at most `streams_max` at once."""
        if not protocol.startswith("/troth/") or protocol == SYNC_PROTOCOL:
            raise ValueError(f"not a protocol to serve here: {protocol!r}")

        async def on_stream(stream: INetStream) -> None:
            await self._serve_stream(stream, protocol, handler, streams_max,
                                     frame_size_max_bytes)

        self._host.set_stream_handler(TProtocol(protocol), on_stream)

    async def open_stream(self, peer_id: str, protocol: str, *, frame_size_max_bytes: int,
                          timeout_s: float = STREAM_OPEN_TIMEOUT_S) -> SyncStream:
        """A framed stream of `protocol` to a connected peer."""
        self._check_open()
        peer = parse_peer_id(peer_id)
        with trio.move_on_after(timeout_s) as scope:
            try:
                stream = await self._host.new_stream(peer, [TProtocol(protocol)])
            except Exception as exc:
                raise StreamOpenFailed("", peer_id=peer_id, protocol=protocol,
                                       error=repr(exc)) from None
        if scope.cancelled_caught:
            raise StreamOpenFailed("timed out", peer_id=peer_id, protocol=protocol,
                                   timeout_s=timeout_s)
        return SyncStream(stream, peer_id, frame_size_max_bytes)

    def peer_addrs(self, peer_id: str) -> list[str]:
        """The addresses a peer advertised to us (identify), without `/p2p/`."""
        try:
            addrs = self._host.get_peerstore().addrs(parse_peer_id(peer_id))
        except P2PError:
            raise
        except Exception:  # py-libp2p raises PeerStoreError for an unknown peer
            return []
        suffix = f"/p2p/{peer_id}"  # identify's addresses carry it, the dialled one not
        return [str(a).removesuffix(suffix) for a in addrs]

    def remote_addr(self, peer_id: str) -> str | None:
        """The address of our live connection to `peer_id` (None if not connected)."""
        for conn in self._swarm.get_connections(parse_peer_id(peer_id)):
            if conn.is_closed:
                continue
            try:
                addrs = conn.get_transport_addresses()
            except Exception:  # a connection being torn down
                continue
            if addrs:
                return str(addrs[0])
        return None


def _stream_peer(stream: INetStream) -> str:
    """The id of the peer that opened `stream` ("?" for a connection being torn down)."""
    try:
        return stream.muxed_conn.peer_id.to_base58()
    except Exception:
        return "?"


async def _run_handler(label: str, handler: SyncHandler, peer_id: str,
                       framed: SyncStream) -> None:
    """`handler` on an inbound stream: closed when it returns, reset if it raises
    (a `P2PError` is the stream's or the peer's doing, logged at debug)."""
    try:
        await handler(peer_id, framed)
    except P2PError as exc:
        logger.debug("%s stream from %s ended: %s", label, peer_id, exc)
        await framed.reset()
    except Exception:
        logger.exception("%s handler failed for a stream from %s", label, peer_id)
        await framed.reset()
    else:
        await framed.close()


@functools.lru_cache(maxsize=1024)
def _peer_text(from_id: bytes) -> str:
    """The base58 text of a message's originator. Per delivered message, from a
    handful of originators: a fresh `ID` encodes its base58 anew (~20 us)."""
    return ID(from_id).to_base58()


def _single_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else None
