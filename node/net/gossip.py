"""Gossipsub as troth runs it: tuned parameters, peer scores, and delivery glue.

Theory of operation
-------------------
Gossipsub parameters are set deliberately (`GossipParams`): the py-libp2p
defaults silently drop bursts (10 msg/s spam limit per peer and topic that also
counts our own publishes, 32-slot outbound queue per peer, 32-slot subscription
channel) and beat once per 120 s. Peer scores are reduced to the two penalties
troth uses: invalid messages a neighbour relays (P4) and the runtime's own
`penalise()` (P5); both decay, and a low score gates what we accept and send.

Message ids are `from || seqno` (`gossip_message_id`): the originator's peer
id bytes, then the 8-byte seqno, the rule of the gossipsub spec, go-libp2p
and py-libp2p. Peers must compute ids alike, or the ids in IHAVE/IWANT never
match; js-libp2p's default differs and a js node must be told
(docs/decisions/0013-gossip-message-ids.md). The seqno counter is seeded from
the nanosecond clock at start, because py-libp2p seeds it from the seconds
clock and a node restarted within the same second would reuse seqnos: peers
drop such messages as already seen.

py-libp2p offers no parameter for five things troth needs, so small
subclasses and stand-ins supply them: which neighbour forwarded the message
being delivered (`current_forwarder()`), deeper per-peer outbound queues
(`_SizedQueues`), delivery straight into the node's own queue instead of
pubsub's 32-slot per-topic channel (`TopicInbox`), gossipsub's third
validation result, IGNORE (py-libp2p knows only accept and reject, and a
reject costs the relaying neighbour score): a validator raises `Ignored` and
`TrothPubsub` drops the message unforwarded, marks it seen and blames nobody
(p2p.py's KEEP delivers it to the node first, and so forwards nothing);
and a token bucket per neighbour (`PeerRateLimit`) with turns
(`PeerTurns`). The bucket is used twice. Reading: a neighbour's pubsub stream
is not read while its bucket is empty (`_MeteredStream`), so a flooding
neighbour is held back by yamux flow control at its own end, before this
node spends anything on decrypting, parsing and checking its messages
(py-libp2p reads and verifies a signed peer record with every RPC: that, not
troth, is most of a message's cost here). Delivering: each message spends
one token before any other work, into debt if need be (the reader runs a
little ahead); one that would take the debt past the burst (many messages
packed in one RPC) is ignored and counted. A bundle (several troth tokens in
one message, docs/decisions/0016-gossip-bundles.md) costs one message plus
`BUNDLED_TOKEN_COST` for each token after the first, read from its first
bytes (`wire.gossip_count`): a message's work here is ~5 ms of py-libp2p,
a token's verification, decode and store ~0.3 ms, so the bucket meters
CPU, and a neighbour cannot multiply what it makes us do by 256 by
bundling, while honest bundles still carry ~16 times a message's tokens.

Turns: py-libp2p handles every message in a task of its own, and trio runs
all ready tasks in turn, so an RPC that packs hundreds of messages (any
sender may write one; py-libp2p itself writes one message per RPC) puts
hundreds of tasks ahead of, and interleaved with, another neighbour's
message: that one waits for all of them (measured in
tests/test_flood.py: behind 295 of a 300-message RPC). So each neighbour
has at most `peer_in_flight_max` messages being handled at once (a FIFO
`trio.CapacityLimiter` per neighbour; the rest of an RPC's messages wait
their turn, parked), and its stream is not read again until all its read
messages have had a turn (there: behind ~33, those handled while the
other's message was in transit). A neighbour's backlog thus delays
another's message by a few messages' work, whatever the rates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import trio
from google.protobuf.message import DecodeError
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue
from libp2p.pubsub.score import ScoreParams, TopicScoreParams

import wire

from .guard import TokenBucket

log = logging.getLogger(__name__)

# What one more token in a bundle costs, in messages: ~0.3 ms of verify,
# decode and store against ~5 ms of py-libp2p's work per message, measured
# (docs/benchmarks.md, Network throughput with bundles).
BUNDLED_TOKEN_COST = 1 / 16

__all__ = [
    "GossipParams", "TopicInbox", "build_gossip", "check_topic", "current_forwarder",
    "gossip_message_id",
    "GOSSIP_DATA_MAX_BYTES", "TOPIC_MAX_CHARS", "Ignored", "PeerRateLimit", "PeerTurns",
    "TrothPubsub",
]

# Gossip payloads: the pubsub RPC limit is 1 MiB including signature, key,
# topic and the sender's signed peer record; 64 KiB of headroom covers them.
GOSSIP_DATA_MAX_BYTES = 1024 * 1024 - 64 * 1024
TOPIC_MAX_CHARS = 256


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
    # Messages per second each neighbour may relay to us, all topics together,
    # and the burst it may save up. Past it we stop reading its stream (it is
    # held back at its end) and ignore what was already read. A node takes in
    # ~130 tokens/s end to end through py-libp2p on this machine
    # (docs/benchmarks.md): one neighbour gets at most what leaves room for
    # the others; a governance network's gossip is far below, and the burst
    # covers a tally round of hundreds of tokens at once.
    peer_rate_max_per_s: float = 100.0
    peer_burst_max: float = 1000.0
    # Messages of one neighbour handled at once (the rest wait their turn,
    # and its stream waits with them): 1 gives strict turns between
    # neighbours. Handling a message awaits little (forwarding is queued),
    # so one at a time is still as fast as the node can check them: ~90 a
    # second from one flooding neighbour in bench/flood.py on a loaded box.
    peer_in_flight_max: int = 1


# The neighbour whose RPC carried the message pubsub is handling. py-libp2p
# runs every `push_msg(forwarder, msg)` in a task of its own and delivers from
# it (`notify_subscriptions(msg)`) without passing the forwarder on; `TrothPubsub`
# puts it here, task-local, for `current_forwarder()` to read.
_FORWARDER: ContextVar[ID | None] = ContextVar("troth_gossip_forwarder", default=None)


class Ignored(Exception):
    """Raised by a topic validator: drop the message, forward it to nobody,
    and do not count it against the neighbour (gossipsub's IGNORE)."""


class PeerRateLimit:
    """A token bucket per neighbour: `rate_per_s` messages a second, up to
    `burst` saved. Reading waits while a bucket is below one token (`wait_s`);
    each message delivered spends one (`take`), and may run the bucket into
    debt down to -`burst`: a reader reads a few messages ahead of the tasks
    that deliver them, and those must not be lost. Beyond the debt (many
    messages packed in one RPC), `take` says no and counts it."""

    def __init__(self, rate_per_s: float, burst: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got {rate_per_s}, {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[ID, TokenBucket] = {}
        self.limited: dict[ID, int] = {}  # peer -> messages refused

    def _bucket(self, peer: ID, now: float) -> TokenBucket:
        bucket = self._buckets.get(peer)
        if bucket is None:
            bucket = self._buckets[peer] = TokenBucket(self.rate_per_s, self.burst, now)
        return bucket

    def take(self, peer: ID, now: float, cost: float = 1.0) -> bool:
        """Spend `cost` (one message; a message carrying several tokens may
        be charged per token) of `peer`'s bucket, unless that runs it deeper
        than the burst into debt."""
        bucket = self._bucket(peer, now)
        bucket.refill(now)
        if bucket.tokens - cost < -self.burst:
            self.limited[peer] = self.limited.get(peer, 0) + 1
            return False
        bucket.tokens -= cost
        return True

    def wait_s(self, peer: ID, now: float) -> float:
        """How long until `peer` has a whole token again (0: it has one)."""
        bucket = self._buckets.get(peer)
        tokens = self.burst if bucket is None else bucket.level(now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def forget(self, peer: ID) -> None:
        """`peer` disconnected: its bucket goes (its count stays, for stats)."""
        self._buckets.pop(peer, None)


class PeerTurns:
    """Per neighbour, at most `in_flight_max` of its messages handled at
    once, the others waiting in arrival order (see the module docstring)."""

    def __init__(self, in_flight_max: int) -> None:
        if in_flight_max < 1:
            raise ValueError(f"in_flight_max must be >= 1, got {in_flight_max}")
        self.in_flight_max = in_flight_max
        self._limiters: dict[ID, trio.CapacityLimiter] = {}

    def of(self, peer: ID) -> trio.CapacityLimiter:
        limiter = self._limiters.get(peer)
        if limiter is None:
            limiter = self._limiters[peer] = trio.CapacityLimiter(self.in_flight_max)
        return limiter

    async def wait_all_had_a_turn(self, peer: ID) -> None:
        """Return once every message of `peer` read so far is being handled
        or done (a FIFO limiter: our turn comes after theirs)."""
        limiter = self.of(peer)
        if limiter.statistics().tasks_waiting:
            async with limiter:
                pass

    def forget(self, peer: ID) -> None:
        """`peer` disconnected (its waiting messages keep their limiter)."""
        self._limiters.pop(peer, None)


class _MeteredStream:
    """A neighbour's inbound pubsub stream, read only while its bucket has a
    token and its messages read so far have had their turn (the rest of the
    stream interface passes through)."""

    def __init__(self, stream: INetStream, limit: PeerRateLimit, turns: PeerTurns) -> None:
        self._stream = stream
        self._limit = limit
        self._turns = turns
        self._peer = stream.muxed_conn.peer_id

    async def read(self, n: int | None = None) -> bytes:
        await self._turns.wait_all_had_a_turn(self._peer)
        wait_s = self._limit.wait_s(self._peer, trio.current_time())
        if wait_s > 0:
            await trio.sleep(wait_s)
        return await self._stream.read(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class TrothPubsub(Pubsub):
    """Pubsub that remembers, per task, which neighbour forwarded the message,
    rate-limits each neighbour, and knows IGNORE (see the module docstring)."""

    rate_limit: PeerRateLimit
    turns: PeerTurns
    broken_streams = 0  # pubsub streams dropped for malformed RPCs (or a fault reading them)
    malformed_messages = 0  # gossip messages py-libp2p itself choked on (dropped)

    async def continuously_read_stream(self, stream: INetStream) -> None:
        """py-libp2p's reader, metered, and contained: its reader lets the
        protobuf `DecodeError` of one malformed RPC escape, and that ended the
        whole node (a stream handler's exception runs up through the swarm;
        docs/libp2p.md). Here a peer's bad RPC, or any fault in reading its
        stream, costs that stream only: it is reset and the peer dropped from
        pubsub, counted and logged; the node and every other peer go on."""
        peer_id = stream.muxed_conn.peer_id
        try:
            await super().continuously_read_stream(
                cast(INetStream, _MeteredStream(stream, self.rate_limit, self.turns)))
        except Exception as exc:  # noqa: BLE001 (no peer's bytes may end the node)
            self.broken_streams += 1
            _log_peer_fault("rpc", peer_id, exc)
            with trio.move_on_after(1):
                await stream.reset()
            self._handle_dead_peer(peer_id)

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        if msg_forwarder == self.my_id:
            await self._push(msg_forwarder, msg)
            return
        cost = 1.0 + (wire.gossip_count(msg.data) - 1) * BUNDLED_TOKEN_COST
        if not self.rate_limit.take(msg_forwarder, trio.current_time(), cost):
            return  # not marked seen: another neighbour's copy may still come
        async with self.turns.of(msg_forwarder):
            await self._push(msg_forwarder, msg)

    async def _push(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        token = _FORWARDER.set(msg_forwarder)
        try:
            await super().push_msg(msg_forwarder, msg)
        except Ignored:
            self._mark_msg_seen(msg)  # judged once: later copies cost nothing
        except Exception as exc:  # noqa: BLE001 (no peer's bytes may end the node)
            # py-libp2p's own checks raise on some malformed fields (a `key`
            # that is not a protobuf PublicKey: DecodeError from its
            # signature check, docs/libp2p.md trap 29): drop the message.
            self.malformed_messages += 1
            _log_peer_fault("message", msg_forwarder, exc)
        finally:
            _FORWARDER.reset(token)


def _log_peer_fault(what: str, peer: ID, exc: Exception) -> None:
    """One line for a peer's RPC or message that py-libp2p choked on: a
    protobuf DecodeError is the peer's malformed bytes (info); anything else
    may be ours, so it gets its traceback (warning)."""
    if isinstance(exc, DecodeError):
        log.info("event=gossip_%s_malformed peer=%s detail=%s", what, peer, exc)
    else:
        log.warning("event=gossip_%s_failed peer=%s", what, peer, exc_info=True)


def current_forwarder() -> ID | None:
    """The neighbour that forwarded the message being delivered in this task, if any."""
    return _FORWARDER.get()


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


class TopicInbox:
    """Stands in for pubsub's per-topic 32-slot channel; feeds `deliver(topic, msg)`.

    Pubsub only ever calls `send_nowait` (delivery) and `aclose` (unsubscribe).
    """

    def __init__(self, deliver: Callable[[str, rpc_pb2.Message], None], topic: str) -> None:
        self._deliver = deliver
        self._topic = topic

    def send_nowait(self, msg: rpc_pb2.Message) -> None:
        self._deliver(self._topic, msg)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


def check_topic(topic: str) -> None:
    if not isinstance(topic, str) or not topic or len(topic) > TOPIC_MAX_CHARS:
        raise ValueError(f"topic must be a non-empty str of <= {TOPIC_MAX_CHARS} chars: {topic!r}")


def gossip_message_id(msg: rpc_pb2.Message) -> bytes:
    """A message's id: originator peer id bytes || seqno (decision record 0013).

    Stated here rather than left to py-libp2p's default (the same rule today)
    because it is a fact every implementation in a troth network must share.
    """
    return bytes(msg.from_id) + bytes(msg.seqno)


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


def build_gossip(host: IHost, params: GossipParams) -> tuple[TrothPubsub, GossipSub]:
    """The pubsub service and gossipsub router for `host`, tuned by `params`."""
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
    pubsub = TrothPubsub(host, router, seen_ttl=params.seen_ttl_s, strict_signing=True,
                         msg_id_constructor=gossip_message_id)
    pubsub.rate_limit = PeerRateLimit(params.peer_rate_max_per_s, params.peer_burst_max)
    pubsub.turns = PeerTurns(params.peer_in_flight_max)
    # Seqnos from the nanosecond clock: never reused across restarts
    # (py-libp2p: int(time.time()), reused within the same second).
    pubsub.counter = time.time_ns()
    pubsub.peer_queues = _SizedQueues(params.outbound_queue_max)
    return pubsub, router
