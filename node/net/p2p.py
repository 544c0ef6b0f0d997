"""The libp2p edge: one host, gossipsub, and the `/troth/sync/1` stream protocol.

Theory of operation
-------------------
This is the only module of troth that imports py-libp2p (and multiaddr). It owns
one libp2p host per `P2PNode` and hands the runtime plain values: peer ids are
strings (`12D3KooW...`, the same text as `wire.Identity.agent_id`), addresses are
multiaddr strings, messages are frozen events. No libp2p type or exception
crosses this module's boundary: everything raised here is a `P2PError` (or a
`ValueError`/`TypeError` for API misuse, per STYLE.md §5).

What the node owns and which invariants hold (DESIGN §6):

- Security is Noise only, muxing is yamux only: a peer offering plaintext (or
  mplex) fails negotiation. One connection per peer (`max_connections_per_peer=1`
  brought connect from ~0.25 s to ~10 ms).
- The host never dials on its own. py-libp2p's auto-connector (which redials
  every peer in the peerstore whenever we are below 50 connections, and whose
  failures put a peer in a 60 s negative dial cache) is replaced by a no-op: the
  runtime decides whom to connect to. An explicit `connect()` always clears the
  negative cache first.
- Gossipsub parameters are set deliberately (`GossipParams`): the py-libp2p
  defaults silently drop bursts (10 msg/s spam limit per peer and topic that also
  counts our own publishes, 32-slot outbound queue per peer, 32-slot subscription
  channel) and beat once per 120 s.
- Message ids are `from + seqno` (the libp2p default, interoperable); the seqno
  counter is seeded from the nanosecond clock at start, because py-libp2p seeds
  it from the seconds clock and a node restarted within the same second would
  reuse seqnos: peers drop such messages as already seen (and as equivocation).
- Delivered messages never include our own publishes; a topic validator runs
  before a message is delivered or forwarded; our own publishes are checked by
  the same validator before they are handed to gossipsub (so a rejected publish
  raises instead of vanishing). A delivered message names its originator
  (`from_peer`, signed, possibly many hops away) and the neighbour that
  relayed it (`via`); only `via` is a peer we are connected to.
- Start order: pubsub services first, then the host; stop order: host closed
  explicitly (connections, listeners, transports) inside a shielded `finally`,
  then the pubsub services. Pubsub's network notifee sends on unbuffered
  channels, so pubsub must be running whenever connections come and go.

Frames on `/troth/sync/1` are `unsigned-varint(length) || bytes` (minimal
varint, libp2p's usual framing), at most `FRAME_SIZE_MAX_BYTES`; the length is
checked before any byte of the body is read, and the body is read in the chunks
that arrive, never allocated up front from the untrusted length.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.auto_connector import AutoConnector
from libp2p.network.config import ConnectionConfig
from libp2p.network.stream.exceptions import StreamEOF, StreamReset
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue
from libp2p.pubsub.score import PeerScorer, ScoreParams, TopicScoreParams
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service
from libp2p.transport.tcp.tcp import TCP

__all__ = [
    "P2PNode", "SyncStream", "GossipParams", "P2PStats",
    "GossipReceived", "PeerConnected", "PeerDisconnected", "PeerEvent",
    "Validator", "SyncHandler",
    "P2PError", "StartFailed", "IdentityMismatch", "InvalidAddress", "InvalidPeerId",
    "ConnectFailed", "NodeClosed", "PublishRejected", "PublishFailed",
    "StreamOpenFailed", "StreamClosed", "StreamFailed", "FrameTooLarge", "MalformedFrame",
    "FrameTimeout",
    "SYNC_PROTOCOL", "FRAME_SIZE_MAX_BYTES", "DEFAULT_LISTEN",
    "encode_frame_prefix",
]

logger = logging.getLogger(__name__)

SYNC_PROTOCOL = "/troth/sync/1"
DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"

# Equals wire.FRAME_SIZE_MAX_BYTES (a sync frame never exceeds it); kept here so
# the transport does not depend on the codec. Larger transfers are chunked by
# the sync protocol into several frames (yamux reads failed past ~6.5 MiB).
FRAME_SIZE_MAX_BYTES = 1024 * 1024
# A varint of 5 bytes carries 35 bits: more than enough to *report* an oversize
# length; a sixth continuation byte is garbage, not a length.
_VARINT_BYTES_MAX = 5
# A frame (prefix and body) must arrive within this; a slow or silent peer
# cannot hold a sync task longer. 1 MiB on loopback takes ~10 ms.
FRAME_READ_TIMEOUT_S = 10.0
FRAME_WRITE_TIMEOUT_S = 10.0
# Concurrent inbound sync streams per node: anti-entropy needs one or two per
# peer; more is a peer misbehaving, and each costs a task and up to 1 MiB.
SYNC_STREAMS_INBOUND_MAX = 64
STREAM_OPEN_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
# Closing the host: connections get 1 s each in py-libp2p; bound the whole.
CLOSE_TIMEOUT_S = 5.0
# Gossip payloads: the pubsub RPC limit is 1 MiB including signature, key,
# topic and the sender's signed peer record; 64 KiB of headroom covers them.
GOSSIP_DATA_MAX_BYTES = 1024 * 1024 - 64 * 1024
TOPIC_MAX_CHARS = 256
# Runtime-facing queues. A full messages queue drops (gossip is lossy; sync
# repairs) and counts; a full peer-events queue drops and counts too, and the
# runtime reconciles with connected_peers() on its tick.
MESSAGES_QUEUE_MAX = 4096
PEER_EVENTS_QUEUE_MAX = 1024


# ---------------------------------------------------------------- errors ---


class P2PError(Exception):
    """Root of every error this module raises (besides API-misuse ValueError)."""

    reason: str = "p2p-error"

    def __init__(self, detail: str = "", **numbers: object) -> None:
        self.detail = detail
        self.numbers = numbers
        extra = ", ".join(f"{k}={v!r}" for k, v in numbers.items())
        super().__init__(": ".join(x for x in (self.reason, detail, extra) if x))


class StartFailed(P2PError):
    reason = "start-failed"


class IdentityMismatch(P2PError):
    reason = "identity-mismatch"


class InvalidAddress(P2PError, ValueError):
    reason = "invalid-address"


class InvalidPeerId(P2PError, ValueError):
    reason = "invalid-peer-id"


class ConnectFailed(P2PError):
    reason = "connect-failed"


class NodeClosed(P2PError):
    reason = "node-closed"


class PublishRejected(P2PError):
    """Our own validator refused the data we tried to publish."""

    reason = "publish-rejected"


class PublishFailed(P2PError):
    reason = "publish-failed"


class StreamOpenFailed(P2PError):
    reason = "stream-open-failed"


class StreamClosed(P2PError):
    """The peer closed its side cleanly, at a frame boundary."""

    reason = "stream-closed"


class StreamFailed(P2PError):
    """Reset, EOF in the middle of a frame, or an I/O error."""

    reason = "stream-failed"


class FrameTooLarge(P2PError):
    reason = "frame-too-large"

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes
        super().__init__("", size_bytes=size_bytes, limit_bytes=limit_bytes)


class MalformedFrame(P2PError):
    reason = "malformed-frame"


class FrameTimeout(P2PError):
    reason = "frame-timeout"

    def __init__(self, timeout_s: float, received_bytes: int) -> None:
        self.timeout_s = timeout_s
        self.received_bytes = received_bytes
        super().__init__("", timeout_s=timeout_s, received_bytes=received_bytes)


# ---------------------------------------------------------------- values ---


@dataclass(frozen=True, slots=True, kw_only=True)
class GossipReceived:
    """A gossip message that passed validation, from another peer."""

    topic: str
    from_peer: str  # the originator (signed), not the neighbour who relayed it
    data: bytes
    # The neighbour whose RPC carried it to us (a connected peer): the one to
    # credit with liveness, ask for missing parents, or blame for the bytes.
    # None only for a message that arrived while its topic was being joined.
    via: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerConnected:
    peer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerDisconnected:
    peer_id: str


PeerEvent = PeerConnected | PeerDisconnected
Validator = Callable[[str, bytes], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class P2PStats:
    delivered: int
    dropped_messages_queue_full: int
    rejected: int  # validator said no (or raised)
    validator_errors: int  # validator raised (counted in rejected too)
    dropped_peer_events: int
    sync_streams_refused: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GossipParams:
    """Gossipsub knobs, each set on purpose (py-libp2p defaults in brackets)."""

    # Mesh degree D / D_low / D_high, go-libp2p's values [6/4/12 in py examples].
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    # Mesh repair and IHAVE gossip once a second [120 s]: a governance network
    # is small and slow-moving, and a 1 s beat heals a partition in seconds.
    heartbeat_interval_s: int = 1
    # Per forwarder and topic, messages per second before the rest are dropped
    # [10, counting our own publishes]. A sync burst or a tally round publishes
    # hundreds at once; real flooding is caught by validation and scores.
    topic_rate_max_per_s: float = 2000.0
    # RPCs queued per peer before drops [32]; ~300 B each, so 2048 x peers is
    # a few MiB at worst.
    outbound_queue_max: int = 2048
    # Messages held for a peer whose subscriptions are not known yet [100].
    pending_per_peer_max: int = 1024
    # Seen-message ids kept for dedup, seconds [120].
    seen_ttl_s: int = 120
    # Offer /meshsub/1.2.0 (IDONTWANT) [offered]. py-libp2p sends an IDONTWANT
    # RPC to every mesh peer for every message, whatever its size (go-libp2p
    # only above 1 KiB): for troth's few-hundred-byte tokens that doubles the
    # RPCs and costs more than the duplicates it saves. Off: 1.1 and 1.0 only.
    idontwant: bool = False
    # Scores: each invalid message a neighbour relays costs it 1 point (P4),
    # each runtime `penalise()` its amount (P5); both decay x0.97 per beat
    # (half-life ~23 s). Below -10 a neighbour's messages are dropped unread
    # and we send it none; below -20 its GRAFTs are refused too.
    invalid_message_weight: float = 1.0
    penalty_decay: float = 0.97
    publish_threshold: float = -10.0
    graylist_threshold: float = -20.0


# --------------------------------------------------------------- framing ---


def encode_frame_prefix(length: int) -> bytes:
    """Minimal unsigned-varint encoding of a frame length."""
    if length < 0:
        raise ValueError(f"negative frame length {length}")
    out = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class SyncStream:
    """One `/troth/sync/1` stream: length-prefixed frames with deadlines.

    After a `FrameTooLarge`, `MalformedFrame`, `FrameTimeout` or `StreamFailed`
    the stream is reset and every later call raises `StreamFailed`: a framed
    byte stream cannot be resynchronised. A reset sent by the peer may surface
    as `StreamClosed` (py-libp2p's yamux forgets a reset stream and then reports
    EOF), so `StreamClosed` where a reply was due is a failure too.
    """

    __slots__ = ("peer_id", "_stream", "_frame_size_max_bytes", "_broken", "_eof")

    def __init__(self, stream: INetStream, peer_id: str,
                 frame_size_max_bytes: int = FRAME_SIZE_MAX_BYTES) -> None:
        self.peer_id = peer_id
        self._stream = stream
        self._frame_size_max_bytes = frame_size_max_bytes
        self._broken: str | None = None
        self._eof = False  # the peer half-closed: no more frames to read, we may still write

    async def send_frame(self, data: bytes, *, timeout_s: float = FRAME_WRITE_TIMEOUT_S) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"frame must be bytes, got {type(data).__name__}")
        if len(data) > self._frame_size_max_bytes:
            raise ValueError(
                f"frame of {len(data)} bytes > limit {self._frame_size_max_bytes}")
        await self._write(encode_frame_prefix(len(data)) + bytes(data), timeout_s)

    async def receive_frame(self, *, timeout_s: float = FRAME_READ_TIMEOUT_S) -> bytes:
        """The next frame; `StreamClosed` if the peer finished cleanly instead."""
        self._check_usable()
        body = bytearray()
        progress = [0]  # bytes of this frame consumed so far (prefix + body)
        if self._eof:
            raise StreamClosed()
        with trio.move_on_after(timeout_s) as scope:
            length = await self._read_prefix(progress)
            if length > self._frame_size_max_bytes:
                await self._fail("frame-too-large")
                raise FrameTooLarge(length, self._frame_size_max_bytes)
            # Grows only as bytes arrive: a lying length costs us nothing.
            while len(body) < length:
                chunk = await self._read_some(length - len(body), progress)
                body += chunk
                progress[0] += len(chunk)
        if scope.cancelled_caught:
            await self._fail("timeout")
            raise FrameTimeout(timeout_s, progress[0])
        assert len(body) == length
        return bytes(body)

    async def close(self) -> None:
        """Half-close: we send no more frames; the peer sees `StreamClosed`."""
        if self._broken is not None:
            return
        try:
            with trio.move_on_after(CLOSE_TIMEOUT_S):
                await self._stream.close()
        except Exception as exc:  # the stream is done either way
            logger.debug("closing sync stream to %s: %r", self.peer_id, exc)

    async def reset(self) -> None:
        await self._fail("reset-by-us")

    async def _write_raw(self, data: bytes, *, timeout_s: float = FRAME_WRITE_TIMEOUT_S) -> None:
        """Bytes without framing. Only for tests that play a misbehaving peer."""
        await self._write(data, timeout_s)

    # -- internals --

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise StreamFailed("stream unusable", after=self._broken)

    async def _write(self, data: bytes, timeout_s: float) -> None:
        self._check_usable()
        with trio.move_on_after(timeout_s) as scope:
            try:
                await self._stream.write(data)
            except Exception as exc:  # libp2p: StreamClosed/Reset/Error, muxer errors
                await self._fail("write-error")
                raise StreamFailed("write failed", error=repr(exc)) from None
        if scope.cancelled_caught:
            await self._fail("write-timeout")
            raise StreamFailed("write timed out", timeout_s=timeout_s)

    async def _read_prefix(self, progress: list[int]) -> int:
        value = 0
        for index in range(_VARINT_BYTES_MAX):
            byte = (await self._read_some(1, progress))[0]
            progress[0] += 1
            value |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                if byte == 0 and index > 0:
                    await self._fail("malformed")
                    raise MalformedFrame("non-minimal varint length")
                return value
        await self._fail("malformed")
        raise MalformedFrame("varint length longer than 5 bytes")

    async def _read_some(self, max_bytes: int, progress: list[int]) -> bytes:
        try:
            chunk = await self._stream.read(max_bytes)
        except StreamEOF:
            chunk = b""
        except StreamReset:
            await self._fail("reset-by-peer")
            raise StreamFailed("reset by peer", received_bytes=progress[0]) from None
        except Exception as exc:  # IOException and muxer errors: never leak them
            await self._fail("read-error")
            raise StreamFailed("read failed", error=repr(exc)) from None
        if not chunk:
            if progress[0] == 0:
                self._eof = True
                raise StreamClosed()
            await self._fail("eof-mid-frame")
            raise StreamFailed("EOF in the middle of a frame", received_bytes=progress[0])
        return chunk

    async def _fail(self, why: str) -> None:
        if self._broken is None:
            self._broken = why
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
            try:
                await self._stream.reset()
            except Exception as exc:
                logger.debug("resetting sync stream to %s: %r", self.peer_id, exc)


SyncHandler = Callable[[str, SyncStream], Awaitable[None]]


# ---------------------------------------------------------- libp2p glue ---


# The neighbour whose RPC carried the message pubsub is handling. py-libp2p
# runs every `push_msg(forwarder, msg)` in a task of its own and delivers from
# it (`notify_subscriptions(msg)`) without passing the forwarder on; `_Pubsub`
# puts it here, task-local, for `P2PNode._deliver` to read.
_FORWARDER: ContextVar[ID | None] = ContextVar("troth_gossip_forwarder", default=None)


class _Pubsub(Pubsub):
    """Pubsub that remembers, per task, which neighbour forwarded the message."""

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        token = _FORWARDER.set(msg_forwarder)
        try:
            await super().push_msg(msg_forwarder, msg)
        finally:
            _FORWARDER.reset(token)


class _NoAutoConnector(AutoConnector):
    """py-libp2p redials peerstore peers by itself; troth's runtime decides."""

    async def maybe_connect(self) -> None:
        return None


class _SizedQueues(dict[ID, RpcQueue]):
    """Pubsub's per-peer outbound queues, made `size` deep as they are created.

    `Pubsub._handle_new_peer` builds `RpcQueue()` with the module default of 32
    slots and no parameter to change it; it stores each queue here first thing.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def __setitem__(self, peer: ID, queue: RpcQueue) -> None:
        queue._queue.max_size = self._size
        super().__setitem__(peer, queue)


class _TopicInbox:
    """Stands in for pubsub's per-topic 32-slot channel; feeds the node's queue.

    Pubsub only ever calls `send_nowait` (delivery) and `aclose` (unsubscribe).
    """

    def __init__(self, node: P2PNode, topic: str) -> None:
        self._node = node
        self._topic = topic

    def send_nowait(self, msg: rpc_pb2.Message) -> None:
        self._node._deliver(self._topic, msg)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class _PeerNotifee(INotifee):
    """Connection events -> peer-level up/down events, without blocking libp2p."""

    def __init__(self, node: P2PNode) -> None:
        self._node = node

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._node._on_connection_change(conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._node._on_connection_change(conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        return None


def _parse_peer_id(peer_id: str) -> ID:
    if not isinstance(peer_id, str):
        raise TypeError(f"peer id must be str, got {type(peer_id).__name__}")
    try:
        parsed = ID.from_base58(peer_id)
    except Exception:
        raise InvalidPeerId(repr(peer_id)) from None
    if parsed.to_base58() != peer_id:
        raise InvalidPeerId(repr(peer_id))
    return parsed


def _check_topic(topic: str) -> None:
    if not isinstance(topic, str) or not topic or len(topic) > TOPIC_MAX_CHARS:
        raise ValueError(f"topic must be a non-empty str of <= {TOPIC_MAX_CHARS} chars: {topic!r}")


def _build_score_params(params: GossipParams) -> ScoreParams:
    return ScoreParams(
        p4_invalid_messages=TopicScoreParams(
            weight=params.invalid_message_weight, cap=1000.0, decay=params.penalty_decay),
        p5_behavior_penalty_weight=1.0,
        p5_behavior_penalty_decay=params.penalty_decay,
        p5_behavior_penalty_threshold=0.0,
        publish_threshold=params.publish_threshold,
        gossip_threshold=params.publish_threshold,
        graylist_threshold=params.graylist_threshold,
        accept_px_threshold=0.0,
    )


# ------------------------------------------------------------------ node ---


class P2PNode:
    """A running libp2p host with gossipsub and the sync protocol.

    Create with `async with P2PNode.start(seed) as node:`; everything is closed
    when the block exits, however it exits.
    """

    def __init__(self, *, host: IHost, swarm: Swarm, pubsub: Pubsub, router: GossipSub) -> None:
        self._host = host
        self._swarm = swarm
        self._pubsub = pubsub
        self._router = router
        self._id = host.get_id()
        self._id_bytes = self._id.to_bytes()
        self.peer_id: str = self._id.to_base58()
        self._closing = False
        self._validators: dict[str, Validator] = {}
        self._sync_handler: SyncHandler | None = None
        self._sync_active = 0
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

    # -- lifecycle --

    @classmethod
    @asynccontextmanager
    async def start(cls, seed: bytes, *, listen: str = DEFAULT_LISTEN,
                    params: GossipParams | None = None,
                    expected_peer_id: str | None = None,
                    mdns: bool = False) -> AsyncIterator[P2PNode]:
        """Run a node with the Ed25519 identity of `seed` (32 bytes), listening on `listen`.

        `expected_peer_id` (e.g. `wire.Identity.agent_id`) is checked against the
        host's peer id. Raises `StartFailed` if the address cannot be bound.
        `mdns` announces us and listens for peers on the LAN (py-libp2p's
        zeroconf discovery); found peers land in the peerstore and are listed by
        `discovered_peers()`: the runtime decides whether to dial them.
        """
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise ValueError(f"seed must be 32 bytes, got {seed!r:.20}")
        params = params or GossipParams()
        listen_addr = _parse_listen_addr(listen)
        _check_port_free(listen_addr)
        node = cls._create(seed, listen_addr, params, mdns)
        if expected_peer_id is not None and node.peer_id != expected_peer_id:
            raise IdentityMismatch("", peer_id=node.peer_id, expected=expected_peer_id)
        try:
            async with node._run(listen_addr):
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
    async def _run(self, listen_addr: multiaddr.Multiaddr) -> AsyncIterator[None]:
        # Pubsub before the host: its notifee blocks the swarm until pubsub has
        # taken the event, so pubsub must be running while connections change.
        async with background_trio_service(self._pubsub), \
                background_trio_service(self._router):
            await self._pubsub.wait_until_ready()
            async with self._host.run([listen_addr]):
                try:
                    if not self._swarm.listeners:
                        raise StartFailed("cannot listen", listen=str(listen_addr))
                    yield
                finally:
                    # Inside host.run(): leaving it first cancels the swarm, whose
                    # own cleanup then gets cancelled too and leaves established
                    # connections open (the peer never sees us go). Close here,
                    # shielded, before pubsub stops, whatever ended the block.
                    await self._close()

    @classmethod
    def _create(cls, seed: bytes, listen_addr: multiaddr.Multiaddr,
                params: GossipParams, mdns: bool = False) -> P2PNode:
        key_pair = create_new_key_pair(seed)
        noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
        host = new_host(
            key_pair=key_pair,
            sec_opt={NOISE_PROTOCOL_ID: noise},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            connection_config=ConnectionConfig(max_connections_per_peer=1),
            listen_addrs=[listen_addr],
            # TCP only: py-libp2p picks transports from the listen address,
            # and a QUIC one would bring its own TLS security, not Noise.
            transports=[TCP()],
            enable_mDNS=mdns,
        )
        swarm = host.get_network()
        assert isinstance(swarm, Swarm), type(swarm)
        swarm.auto_connector = _NoAutoConnector(
            swarm, auto_connect_interval=swarm.connection_config.auto_connect_interval)
        router = GossipSub(
            protocols=([PROTOCOL_ID_V12] if params.idontwant else []) + [
                PROTOCOL_ID_V11, PROTOCOL_ID],
            degree=params.degree, degree_low=params.degree_low,
            degree_high=params.degree_high,
            heartbeat_interval=params.heartbeat_interval_s,
            score_params=_build_score_params(params),
            # Adaptive gossip re-tunes degree and heartbeat from a "health" score
            # that is 0 whenever no positive score weights are set: off.
            adaptive_gossip_enabled=False,
            spam_protection_enabled=True,
            max_messages_per_topic_per_second=params.topic_rate_max_per_s,
            max_pending_messages_per_peer=params.pending_per_peer_max,
        )
        pubsub = _Pubsub(host, router, seen_ttl=params.seen_ttl_s, strict_signing=True)
        # Seqnos from the nanosecond clock: never reused across restarts
        # (py-libp2p: int(time.time()), reused within the same second).
        pubsub.counter = time.time_ns()
        pubsub.peer_queues = _SizedQueues(params.outbound_queue_max)
        node = cls(host=host, swarm=swarm, pubsub=pubsub, router=router)
        swarm.register_notifee(_PeerNotifee(node))
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
        """Full multiaddrs to dial us, each ending in `/p2p/<peer id>`."""
        return [f"{addr}/p2p/{self.peer_id}" for addr in self._host.get_transport_addrs()]

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with `/tcp/0`)."""
        for addr in self._host.get_transport_addrs():
            value = addr.value_for_protocol("tcp")
            if value:
                return int(value)
        raise NodeClosed("not listening")

    async def connect(self, addr: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
        """Dial `addr` (must end in `/p2p/<peer id>`); return the peer id when up."""
        self._check_open()
        maddr = _parse_multiaddr(addr)
        try:
            info = info_from_p2p_addr(maddr)
        except Exception:
            raise InvalidAddress("needs a /p2p/<peer id> suffix", addr=addr) from None
        if info.peer_id == self._id:
            raise ValueError(f"cannot connect to ourselves: {addr}")
        # An earlier failed dial (ours, or py-libp2p's) blocks a peer for 60 s;
        # an explicit connect is the runtime saying "try now".
        self._swarm.unblock_peer(info.peer_id)
        with trio.move_on_after(timeout_s) as scope:
            try:
                await self._host.connect(info)
            except Exception as exc:
                raise ConnectFailed("", addr=addr, error=repr(exc)) from None
        if scope.cancelled_caught:
            raise ConnectFailed("timed out", addr=addr, timeout_s=timeout_s)
        return info.peer_id.to_base58()

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
        pid = _parse_peer_id(peer_id)
        try:
            addrs = self._host.get_peerstore().addrs(pid)
        except Exception:
            addrs = []
        if not addrs:
            raise ConnectFailed("no known address", peer_id=peer_id)
        self._swarm.unblock_peer(pid)
        with trio.move_on_after(timeout_s) as scope:
            try:
                await self._host.connect(PeerInfo(pid, addrs))
            except Exception as exc:
                raise ConnectFailed("", peer_id=peer_id, error=repr(exc)) from None
        if scope.cancelled_caught:
            raise ConnectFailed("timed out", peer_id=peer_id, timeout_s=timeout_s)
        return peer_id

    def remember(self, addr: str) -> str:
        """Put a peer's address in the peerstore, as discovery does. Returns its id."""
        maddr = _parse_multiaddr(addr)
        try:
            info = info_from_p2p_addr(maddr)
        except Exception:
            raise InvalidAddress("needs a /p2p/<peer id> suffix", addr=addr) from None
        self._host.get_peerstore().add_addrs(info.peer_id, info.addrs, 3600)
        return info.peer_id.to_base58()

    async def disconnect(self, peer_id: str) -> None:
        self._check_open()
        try:
            await self._host.disconnect(_parse_peer_id(peer_id))
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
        if live and text not in self._up:
            self._up.add(text)
            self._emit(PeerConnected(peer_id=text))
        elif not live and text in self._up:
            self._up.discard(text)
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
        _check_topic(topic)
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
            "trio.MemorySendChannel[rpc_pb2.Message]", _TopicInbox(self, topic))
        orphan.close()

    async def unsubscribe(self, topic: str) -> None:
        self._check_open()
        _check_topic(topic)
        try:
            await self._pubsub.unsubscribe(topic)
        except Exception as exc:
            raise P2PError("unsubscribe failed", topic=topic, error=repr(exc)) from None
        self.remove_validator(topic)

    @property
    def subscriptions(self) -> frozenset[str]:
        return frozenset(self._pubsub.topic_ids)

    def set_validator(self, topic: str, validator: Validator) -> None:
        """`validator(topic, data) -> bool` runs synchronously before delivery and forwarding.

        A False (or an exception, logged) drops the message; py-libp2p then
        counts one invalid message against the neighbour that relayed it (P4
        score, see GossipParams). It must be quick: it runs in pubsub's task.
        """
        _check_topic(topic)
        if not callable(validator):
            raise TypeError(f"validator must be callable, got {validator!r}")
        self._validators[topic] = validator

        def libp2p_validator(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            if forwarder == self._id:
                return True  # checked in publish() already
            return self._run_validator(topic, msg.data)

        self._pubsub.set_topic_validator(topic, libp2p_validator, is_async_validator=False)

    def remove_validator(self, topic: str) -> None:
        if self._validators.pop(topic, None) is not None:
            self._pubsub.remove_topic_validator(topic)

    def _run_validator(self, topic: str, data: bytes) -> bool:
        validator = self._validators.get(topic)
        if validator is None:
            return True
        try:
            ok = validator(topic, data) is True
        except Exception:
            logger.exception("validator for topic %r raised; message rejected", topic)
            self._validator_errors += 1
            ok = False
        if not ok:
            self._rejected += 1
        return ok

    async def publish(self, topic: str, data: bytes) -> None:
        """Sign and publish `data` on `topic` (subscribed or not)."""
        self._check_open()
        _check_topic(topic)
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        if len(data) > GOSSIP_DATA_MAX_BYTES:
            raise ValueError(f"gossip data of {len(data)} bytes > {GOSSIP_DATA_MAX_BYTES}")
        if not self._run_validator(topic, data):
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
            from_peer = ID(msg.from_id).to_base58()
        except Exception:
            return
        forwarder = _FORWARDER.get()
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
        self._scorer().penalize_behavior(_parse_peer_id(peer_id), amount)

    def peer_score(self, peer_id: str, topic: str) -> float:
        """The gossipsub score gating `peer_id` on `topic` (0 = neutral, lower = worse)."""
        peer = _parse_peer_id(peer_id)
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
        )

    # -- sync streams --

    def set_sync_handler(self, handler: SyncHandler | None) -> None:
        """`await handler(peer_id, stream)` for each inbound `/troth/sync/1` stream.

        The stream is closed when the handler returns; a `P2PError` from the
        handler resets it (logged at debug), any other exception is logged.
        """
        if handler is not None and not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._sync_handler = handler

    async def open_sync_stream(self, peer_id: str, *,
                               timeout_s: float = STREAM_OPEN_TIMEOUT_S) -> SyncStream:
        self._check_open()
        peer = _parse_peer_id(peer_id)
        with trio.move_on_after(timeout_s) as scope:
            try:
                stream = await self._host.new_stream(peer, [TProtocol(SYNC_PROTOCOL)])
            except Exception as exc:
                raise StreamOpenFailed("", peer_id=peer_id, error=repr(exc)) from None
        if scope.cancelled_caught:
            raise StreamOpenFailed("timed out", peer_id=peer_id, timeout_s=timeout_s)
        return SyncStream(stream, peer_id)

    async def _on_sync_stream(self, stream: INetStream) -> None:
        try:
            peer_id = stream.muxed_conn.peer_id.to_base58()
        except Exception:
            peer_id = "?"
        sync = SyncStream(stream, peer_id)
        handler = self._sync_handler
        if handler is None or self._closing or self._sync_active >= SYNC_STREAMS_INBOUND_MAX:
            self._sync_refused += 1
            await sync.reset()
            return
        self._sync_active += 1
        try:
            await handler(peer_id, sync)
        except P2PError as exc:
            logger.debug("sync stream from %s ended: %s", peer_id, exc)
            await sync.reset()
        except Exception:
            logger.exception("sync handler failed for a stream from %s", peer_id)
            await sync.reset()
        else:
            await sync.close()
        finally:
            self._sync_active -= 1


def _parse_multiaddr(addr: str) -> multiaddr.Multiaddr:
    if not isinstance(addr, str):
        raise TypeError(f"multiaddr must be str, got {type(addr).__name__}")
    try:
        return multiaddr.Multiaddr(addr)
    except Exception:
        raise InvalidAddress("not a multiaddr", addr=addr) from None


def _parse_listen_addr(listen: str) -> multiaddr.Multiaddr:
    """Only `/ip4/<ip>/tcp/<port>` or `/ip6/<ip>/tcp/<port>`: no DNS, no QUIC."""
    addr = _parse_multiaddr(listen)
    names = [p.name for p in addr.protocols()]
    if names not in (["ip4", "tcp"], ["ip6", "tcp"]):
        raise InvalidAddress("listen on /ip4|ip6/<address>/tcp/<port> only", listen=listen)
    return addr


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


def _check_port_free(listen_addr: multiaddr.Multiaddr) -> None:
    """Refuse a fixed port that another socket already listens on.

    py-libp2p binds with SO_REUSEPORT (for TCP hole punching), so a second
    node, or a stale instance of the same node, on the same port binds
    *successfully* and the kernel then splits incoming connections between
    the two. A plain bind (SO_REUSEADDR only, so TIME_WAIT does not count)
    fails if anything listens there.
    """
    protocols = {p.name for p in listen_addr.protocols()}
    if "tcp" not in protocols:
        return
    port = int(listen_addr.value_for_protocol("tcp") or 0)
    if port == 0:
        return
    if "ip4" in protocols:
        family, host = socket.AF_INET, str(listen_addr.value_for_protocol("ip4"))
    elif "ip6" in protocols:
        family, host = socket.AF_INET6, str(listen_addr.value_for_protocol("ip6"))
    else:
        return
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise StartFailed("address in use or unavailable", listen=str(listen_addr),
                          error=exc.strerror) from None
    finally:
        probe.close()
