"""The running node: trio + libp2p around the sans-IO core.

Theory of operation: `Runtime.run()` owns one `P2PNode` (node/net/p2p.py, the only
libp2p importer), one `Engine` (core + SQLite store), the HTTP API, and these
trio tasks:

    gossip    drain validated gossip in bursts -> engine.receive_gossip_many
    peers     connect/disconnect events -> engine.peer_up/peer_down, liveness
    timer     engine.tick(now) at the core's next deadline (at least every 1 s)
    publish   hand Publish outputs to gossipsub, in order; what is queued
              together goes out in bundles (wire/bundle.py)
    sync      inbound /troth/sync/1 streams -> engine.receive_frame; Send
              outputs are queued with p2p.send_sync (node/net writes them, and
              bounds what each peer may cost us: node/net/guard.py)
    discovery the peer book (bootstrap peers, peers met, peers other peers
              told us of): redial with exponential backoff, `/troth/peers/1`
              peer exchange (node/net/discovery.py)
    relays    reachability checks and relay reservations (node/app/relaying.py)
    heap      keeps the long-lived heap out of the garbage collector's full
              passes (node/app/heap.py: gc.freeze once restored, then every 10 s)
    api       hypercorn serving node/app/api.py on loopback (tokens re-read from
              the home when their files change; idempotent POSTs whose answers
              live in the store file); on SIGINT/SIGTERM it
              stops accepting and lets requests in flight finish (API_GRACE_S)
              before the rest of the node is cancelled (event streams end
              at once: node/app/events.py)

Every core call goes through `Engine`, which commits Persist outputs before it
returns the rest, and `_dispatch` only then queues publishes and sends: a token
is on disk before the network sees it, so `kill -9` loses nothing accepted or
signed. `_dispatch` also hands every batch to the event hub (node/app/events.py),
which copies the watchable reports to `GET /v1/events` subscribers without
ever waiting for them. The engine is used from one trio thread only (tasks interleave only at
awaits, and no await happens inside an engine call).

Gossip validation: the topic validator takes the message's token, or each
token of its bundle, and first peeks at the token's issuer and seq
(`wire.peek_token`, no signature check) to ask admission
(`Core.judge_gossip_many`): a token it would not take (a stranger's past its
quota or the budget) is not verified at all, so a flood past the budget costs
a few header reads a token, not an Ed25519 verification and a decode. The
rest is verified (`wire.decode_token`: signature and profile) before
gossipsub delivers or forwards the message; the decoded tokens are cached by
their bytes so the core does not verify them twice, and the core judges them
again on their verified values. A token that fails rejects the whole message
and costs the relaying peer score (gossipsub P4) and our `penalise()`; a
token whose deps are missing is valid and is forwarded (it cannot be judged
yet, so it is never punished). A message whose new tokens admission would
all ignore is IGNOREd. One whose new tokens are all inside the horizon (or
needed by an admitted token) is accepted and forwarded. Otherwise (some
token ignored, unverified, or a stranger's within its quota and the budget)
it is KEEPt: delivered here, forwarded to nobody, since a node forwards only
what it verified and would spread (peers that want strangers' tokens pull
them by sync, each within its own budget, so a flood does not travel by
gossip). Nobody is penalised for a valid token.

Gossip has two peers: the originator (`from_peer`, who signed the pubsub
message, maybe hops away) and the neighbour that relayed it (`via`). Liveness
and the core hear of the relay: it is the peer we are connected to, so missing
parents are asked of it and its `peer_down` ends those requests.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve

import trust
import wire
from node.core import (
    DEFAULT_TOPIC,
    ConsensusChanged,
    CoreParams,
    EquivocationDetected,
    FrameRejected,
    OutcomeChanged,
    Output,
    Publish,
    Send,
    TokenAccepted,
    TokenRejected,
    TrustChanged,
    VerdictChanged,
    topic_for,
)
from node.core.admission import ADMIT_REASONS
from node.core.liveness import Liveness
from node.net.discovery import Discovery
from node.net.p2p import (
    STREAM_IDLE_S,
    GossipParams,
    GossipReceived,
    P2PError,
    P2PNode,
    PeerConnected,
    SyncLimits,
    SyncStream,
    Validation,
)
from node.store import Store
from node.store.answers import AnswerLog
from node.store.engine import Engine, EngineFailed
from node.store.home import ApiTokenFiles, Config, Home, HomeError
from node.store.names import PetnameError, Petnames

from .api import NetView, make_app
from .events import EventHub
from .heap import keep_heap
from .idempotency import Idempotency
from .relaying import RelayKeeper, relay_params
from .service import NodeService, key_json

__all__ = ["Runtime"]

log = logging.getLogger("troth.node")

# Gossip arrivals handled in one engine batch (one SQLite commit, so large
# bursts under load amortise it; a quiet network still commits each arrival at
# once, without an fsync: received tokens need none, ADR 0019).
GOSSIP_BURST_MAX = 1024
# Decoded-by-the-validator tokens waiting for the core; gossip is delivered
# right after validation, so a few thousand covers any burst.
DECODED_CACHE_MAX = 4096
PUBLISH_QUEUE_MAX = 4096
# Timer granularity: liveness and deadlines are judged at least this often.
TICK_MAX_S = 1.0
# How often peers found by mDNS (and not connected) are dialled.
DISCOVERY_INTERVAL_S = 2.0
# On SIGINT/SIGTERM the API stops accepting connections and requests in flight
# get this long to finish before the node stops (the rest are cut off).
API_GRACE_S = 2.0


class Runtime(NetView):
    def __init__(self, home: Home, identity: wire.Identity, config: Config, *,
                 clock: Callable[[], float] = time.time,
                 sync_limits: SyncLimits | None = None) -> None:
        self.home = home
        self.identity = identity
        self.config = config
        self.clock = clock
        self.sync_limits = sync_limits or SyncLimits()
        self.liveness = Liveness(min_mean_s=config.sync_interval_s)
        self._decoded: OrderedDict[bytes, wire.Token] = OrderedDict()
        # Token signatures the gossip validator checked (what it ignored on a
        # peek, it did not).
        self.gossip_verified = 0
        self._pub_send, self._pub_recv = trio.open_memory_channel[Publish](PUBLISH_QUEUE_MAX)
        self._wake = trio.Event()
        self.p2p: P2PNode | None = None
        self.relaying: RelayKeeper | None = None
        self.engine: Engine | None = None
        self.api_url: str | None = None
        self._nursery: trio.Nursery | None = None
        self.started = trio.Event()
        self.failure: EngineFailed | None = None
        self._api_closing = trio.Event()
        self._api_closed = trio.Event()
        self.events = EventHub(clock=clock)
        self.names: Petnames | None = None  # the home's, loaded by `run`
        self.discovery: Discovery | None = None

    # -- NetView (for the API) -------------------------------------------
    def listen_addrs(self) -> list[str]:
        return list(self.p2p.listen_addrs) if self.p2p else []

    def relaying_view(self) -> dict[str, Any]:
        return self.relaying.view() if self.relaying else {}

    def peers(self) -> list[dict[str, Any]]:
        """Liveness of the peers we heard from, with how each is reached and the
        addresses tried (the peer book); booked peers never reached as well."""
        rows: list[dict[str, Any]] = [dict(r) for r in self.liveness.report(self.clock())]
        connected = set(self.p2p.connected_peers()) if self.p2p else set()
        book = self.discovery.rows() if self.discovery else {}
        for r in rows:
            r["connected"] = r["peer"] in connected
        known = {r["peer"] for r in rows}
        for peer in sorted(set(book) - known - connected):
            rows.append({"peer": peer, "state": "unreachable", "phi": None,
                         "last_heard_s_ago": None, "connected": False})
        for r in rows:
            seen = book.get(r["peer"], {})
            r.update(seen)
            r.setdefault("reached", "direct" if r["connected"] else "not connected")
            r["never_reached"] = r["peer"] not in known and seen.get("last_seen_s_ago") is None
        return rows

    def gossip_stats(self) -> dict[str, Any]:
        if self.p2p is None:
            return {}
        st = self.p2p.stats
        return {"verified": self.gossip_verified,
                "delivered": st.delivered, "rejected": st.rejected, "ignored": st.ignored,
                "kept_unforwarded": st.kept, "rate_limited": st.rate_limited,
                "broken_streams": st.broken_streams, "malformed_messages": st.malformed_messages,
                "rate_limited_by_peer": self.p2p.rate_limited_by_peer(),
                "dropped_queue_full": st.dropped_messages_queue_full}

    # -- decoding with the validator's cache ------------------------------
    def _validate(self, _topic: str, data: bytes) -> Validation:
        """Gossipsub's verdict on a message: one token, or a bundle judged
        token by token (docs/decisions/0016-gossip-bundles.md, 0006-admission.md):
        any token that fails its peek or its verification rejects it; tokens we
        hold do not count (they were verified when we accepted them); the new
        ones are judged by admission on their unverified heads, and only those
        it would take are verified; if none would be taken the message is
        ignored; if some would be ignored, or kept as a stranger's, it is kept
        (delivered, not forwarded); else accepted."""
        try:
            raws = wire.gossip_tokens(data)
        except wire.InvalidBundle as exc:
            log.info("event=gossip_rejected reason=%s bundle=true", exc.reason)
            return Validation.REJECT
        core = self.engine.core if self.engine is not None else None
        fresh: list[tuple[bytes, wire.TokenHead, str]] = []
        for raw in raws:
            try:
                head = wire.peek_token(raw)  # (checks the size first)
            except wire.InvalidToken as exc:
                log.info("event=gossip_rejected reason=%s tokens=%d", exc.reason, len(raws))
                return Validation.REJECT
            cid = wire.cid_of(raw)
            if core is None or not core.has(cid):
                fresh.append((raw, head, cid))
        if not fresh:
            return Validation.ACCEPT  # (our own publishes, and repeats)
        reasons = (core.judge_gossip_many([(h, c) for _r, h, c in fresh], self.clock())
                   if core is not None else [None] * len(fresh))
        taken = [(raw, head, r) for (raw, head, _c), r in zip(fresh, reasons, strict=True)
                 if r is None or r in ADMIT_REASONS]
        if not taken:
            log.debug("event=gossip_ignored reasons=%s tokens=%d",
                      ",".join(sorted({str(r) for r in reasons})), len(raws))
            return Validation.IGNORE  # unverified: a forgery gets no more than this
        decoded: list[wire.Token] = []
        # A bundle's signatures are checked by the verify threads or processes
        # while this thread reads the claims of those already checked.
        verifier = self.engine.verifier if self.engine is not None else None
        decode: Callable[[bytes], wire.Token] = wire.decode_token
        if verifier is not None and not verifier.gave_up and len(taken) > 1:
            decode = verifier.batch([raw for raw, _h, _r in taken]).decode
            self.gossip_verified += len(taken)  # all checked, even past a forgery
        for raw, head, _r in taken:
            if decode is wire.decode_token:
                self.gossip_verified += 1
            try:
                tok = decode(raw)
            except wire.InvalidToken as exc:
                log.info("event=gossip_rejected reason=%s tokens=%d", exc.reason, len(raws))
                return Validation.REJECT
            assert (tok.issuer, tok.seq) == (head.issuer, head.seq), "a valid token peeks to itself"
            decoded.append(tok)
        for tok in decoded:
            self._decoded[tok.raw] = tok
            if len(self._decoded) > DECODED_CACHE_MAX:
                self._decoded.popitem(last=False)
        if len(taken) < len(fresh) or any(r == "stranger" for _raw, _h, r in taken):
            return Validation.KEEP
        return Validation.ACCEPT

    def _decode(self, data: bytes) -> wire.Token:
        tok = self._decoded.pop(data, None)
        return tok if tok is not None else wire.decode_token(data)

    # -- outputs -----------------------------------------------------------
    def _dispatch(self, outs: list[Output], *, gossip: bool = False) -> None:
        """Network outputs of a batch whose Persists are already committed.

        `gossip`: the batch came from gossip, whose rejections blame nobody here.
        """
        for o in outs:
            if isinstance(o, Send):
                if self.p2p is not None:
                    self.p2p.send_sync(o.peer, o.data)
            elif isinstance(o, Publish):
                try:
                    self._pub_send.send_nowait(o)
                except trio.WouldBlock:
                    log.warning("event=publish_dropped reason=queue-full")
            elif isinstance(o, TokenAccepted):
                t = o.token
                log.debug("event=token_accepted cid=%s kind=%s issuer=%s seq=%d", t.cid, t.kind,
                          t.issuer, t.seq)
                if t.kind == "charter":
                    self._follow(t.cid)
            elif isinstance(o, (TokenRejected, FrameRejected)):
                log.info("event=%s peer=%s reason=%s", type(o).__name__, o.peer, o.reason)
                # Penalise the peer that sent us the bytes, i.e. a sync peer.
                # Not for gossip: what fails our validator (signature, profile,
                # size) never reaches the core -- pubsub drops it unforwarded and
                # counts it (P4) against the neighbour that sent it, which for
                # invalid gossip is its originator, since no validating node
                # forwards it. What the core rejects from gossip passed that
                # same validator at every hop (in practice only "bad-chain": a
                # prev of another issuer or seq, which needs the parent to see),
                # so the relay forwarded it in good faith, and the originator is
                # usually not a neighbour. (A sync-received token unblocked by a
                # gossip batch goes unpunished too: rare, and sync repairs it.)
                if o.peer and self.p2p is not None and not gossip:
                    self.p2p.penalise(o.peer)
            elif isinstance(o, EquivocationDetected):
                log.warning("event=equivocation issuer=%s seq=%d cids=%s", o.issuer, o.seq,
                            ",".join(o.cids))
            elif isinstance(o, OutcomeChanged):
                oc = o.outcome
                log.info("event=outcome proposal=%s state=%s result=%s", oc.proposal, oc.state,
                         oc.result)
            elif isinstance(o, VerdictChanged):
                v = o.verdict
                log.info("event=verdict cid=%s state=%s reason=%r", v.cid, v.state, v.reason)
            elif isinstance(o, ConsensusChanged) and log.isEnabledFor(logging.INFO):
                c = o.consensus  # (the key's text is built only when it is logged)
                key = " ".join(f"{k}={v!r}" if k == "slot" else f"{k}={v}"  # (free text)
                               for k, v in key_json(c.key).items())
                log.info("event=consensus %s state=%s leader=%s support=%.4f", key, c.state,
                         c.leader, c.support)
            elif isinstance(o, TrustChanged):
                log.debug("event=trust agent=%s expectation=%.4f", o.agent,
                          o.opinion.expectation)
        self.events.publish(outs)
        self._wake.set()

    def _follow(self, scope: str) -> None:
        """Join a community's gossip topic (scoped tokens travel on it)."""
        topic = topic_for(scope)
        if self._nursery is None or self.p2p is None or topic in self.p2p.subscriptions:
            return

        async def join() -> None:
            assert self.p2p is not None
            try:
                await self.p2p.subscribe(topic, self._validate)
                log.info("event=following scope=%s", scope)
            except P2PError as exc:
                log.warning("event=follow_failed scope=%s error=%s", scope, exc)

        self._nursery.start_soon(join)

    # -- tasks ---------------------------------------------------------------
    async def _on_sync_stream(self, peer: str, stream: SyncStream) -> None:
        assert self.engine is not None
        while True:
            try:
                # (The peer's writer closes an idle stream after STREAM_IDLE_S.)
                frame = await stream.receive_frame(idle_timeout_s=STREAM_IDLE_S + 5)
            except P2PError:
                return
            now = self.clock()
            self.liveness.heard(peer, now)
            try:
                outs = self.engine.receive_frame(peer, frame, now)
            except EngineFailed:
                return  # _fatal (the engine's on_failure) is stopping the node
            self._dispatch(outs)

    async def _gossip_loop(self) -> None:
        assert self.p2p is not None and self.engine is not None
        async for first in self.p2p.messages:
            batch: list[GossipReceived] = [first]
            while len(batch) < GOSSIP_BURST_MAX:
                try:
                    batch.append(self.p2p.messages.receive_nowait())
                except trio.WouldBlock:
                    break
            now = self.clock()
            for m in batch:
                if m.via is not None:
                    self.liveness.heard(m.via, now)
            # `via or from_peer`: a message delivered while its topic was being
            # joined has no recorded relay (rare; asking its originator for
            # missing parents then fails quietly, and sync repairs it).
            self._dispatch(self.engine.receive_gossip_many(
                [(m.via or m.from_peer, m.data) for m in batch], now), gossip=True)

    async def _peer_loop(self) -> None:
        assert self.p2p is not None and self.engine is not None
        async for ev in self.p2p.peer_events:
            now = self.clock()
            if isinstance(ev, PeerConnected):
                log.info("event=peer_up peer=%s", ev.peer_id)
                self.liveness.connected(ev.peer_id, now)
                self._dispatch(self.engine.peer_up(ev.peer_id, now))
            else:
                log.info("event=peer_down peer=%s", ev.peer_id)
                self.liveness.disconnected(ev.peer_id, now)
                self._dispatch(self.engine.peer_down(ev.peer_id, now))

    async def _timer_loop(self) -> None:
        assert self.engine is not None
        while True:
            now = self.clock()
            deadline = self.engine.core.next_deadline()
            wait = TICK_MAX_S if deadline is None else min(TICK_MAX_S, max(0.0, deadline - now))
            self._wake = trio.Event()
            with trio.move_on_after(wait):
                await self._wake.wait()
            self._dispatch(self.engine.tick(self.clock()))

    async def _publisher(self) -> None:
        """Publish this node's own tokens, in order. Whatever is queued when
        the task wakes goes out together: per topic, consecutive tokens in
        bundles (`wire.pack_gossip`), a lone token bare. A burst (a tally
        round, a client issuing fast) then costs gossipsub a few messages
        instead of one per token (docs/decisions/0016-gossip-bundles.md)."""
        assert self.p2p is not None
        async for first in self._pub_recv:
            by_topic: dict[str, list[bytes]] = {first.topic: [first.data]}
            while True:
                try:
                    pub = self._pub_recv.receive_nowait()
                except trio.WouldBlock:
                    break
                by_topic.setdefault(pub.topic, []).append(pub.data)
            for topic, raws in by_topic.items():
                for data in wire.pack_gossip(raws):
                    try:
                        await self.p2p.publish(topic, data)
                    except P2PError as exc:
                        # Lost gossip is repaired by sync; the tokens are durable.
                        log.warning("event=publish_failed topic=%s error=%s", topic, exc)

    async def _discovery(self) -> None:
        """mDNS: dial peers discovered on the LAN (they are in the peerstore)."""
        assert self.p2p is not None
        while True:
            for peer in self.p2p.discovered_peers():
                try:
                    await self.p2p.connect_known(peer)
                    log.info("event=discovered_peer_dialled peer=%s", peer)
                except P2PError as exc:
                    log.debug("event=discovered_dial_failed peer=%s error=%s", peer, exc)
            await trio.sleep(DISCOVERY_INTERVAL_S)

    async def _serve_api(self, service: NodeService, idempotency: Idempotency, *,
                         task_status: Any) -> None:
        cfg = HyperConfig()
        cfg.bind = [f"{self.config.api_host}:{self.config.api_port}"]
        cfg.accesslog = None
        cfg.errorlog = logging.getLogger("troth.api")
        cfg.graceful_timeout = API_GRACE_S
        app = make_app(service, ApiTokenFiles(self.home), self, self.events, idempotency,
                       names=self.names)
        try:
            await serve(app, cfg, shutdown_trigger=self._api_closing.wait,  # type: ignore[arg-type]
                        task_status=task_status)
        finally:
            self._api_closed.set()

    async def _signals(self) -> None:
        """The first SIGINT/SIGTERM stops gracefully; a second one stops at once."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                async for sig in signals:
                    name = signal.Signals(sig).name
                    if self._api_closing.is_set():
                        log.info("event=stopping_now signal=%s", name)
                        self.stop()
                        return
                    log.info("event=stopping signal=%s", name)
                    nursery.start_soon(self.shutdown)

    async def shutdown(self) -> None:
        """Stop gracefully: the API takes no new connections, requests in
        flight get `API_GRACE_S` to finish (the node keeps running meanwhile,
        so they complete normally), then everything stops. `stop()` is the
        immediate version."""
        self._api_closing.set()
        self.events.close()  # event streams never finish by themselves
        with trio.move_on_after(API_GRACE_S + 1.0):
            await self._api_closed.wait()
        self.stop()

    # -- the whole node ---------------------------------------------------
    async def run(self, *, handle_signals: bool = True,
                  task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config
        lock = self._lock_home()
        try:
            try:
                self.names = Petnames(self.home.names_path)
            except PetnameError as exc:
                raise HomeError(exc.detail) from None
            store = Store(self.home.store_path)
        except BaseException:
            lock.close()
            raise
        params = CoreParams(sync_interval_s=cfg.sync_interval_s, admission=cfg.admission)
        try:
            engine = Engine(store, self.identity, params, decode=self._decode,
                            predecoded=self._decoded.__contains__,
                            verify_threads=cfg.verify_threads,
                            verify_processes=cfg.verify_processes,
                            trust_params=trust.Params(skew_allowance_s=cfg.skew_allowance_s),
                            on_failure=self._fatal, debug=log.isEnabledFor(logging.DEBUG))
        except BaseException:
            store.close()
            lock.close()
            raise
        self.engine = engine
        service = NodeService(engine, self.clock, self._dispatch)
        try:
            # Before anything can sign: answer the API request a crash cut off, and
            # give a home from before read tokens its read token.
            idempotency = Idempotency(AnswerLog(store), service)
            idempotency.resolve_interrupted()
            for path in self.home.ensure_api_tokens():
                log.info("event=api_token_created file=%s", path)
            async with P2PNode.start(self.identity.private_bytes(), listen=cfg.listen,
                                     announce=cfg.announce,
                                     expected_peer_id=self.identity.agent_id,
                                     params=self._gossip_params(), mdns=cfg.mdns,
                                     sync_limits=self.sync_limits,
                                     relay=relay_params(cfg)) as p2p:
                self.p2p = p2p
                self.relaying = RelayKeeper(p2p, cfg, self.clock)
                p2p.set_sync_handler(self._on_sync_stream)
                await p2p.subscribe(DEFAULT_TOPIC, self._validate)
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    if handle_signals:
                        nursery.start_soon(self._signals)
                    for fn in (self._gossip_loop, self._peer_loop, self._timer_loop,
                               self._publisher, keep_heap):
                        nursery.start_soon(fn)
                    for t in list(engine.core.tokens.values()):
                        if t.kind == "charter":
                            self._follow(t.cid)
                    binds = await nursery.start(self._serve_api, service, idempotency)
                    self.api_url = binds[0]
                    self.discovery = Discovery(p2p, self.home.peers_path,
                                               bootstrap=cfg.bootstrap,
                                               exchange=cfg.peer_exchange, clock=self.clock)
                    nursery.start_soon(self.discovery.run)
                    if cfg.mdns:
                        nursery.start_soon(self._discovery)
                    nursery.start_soon(self.relaying.run)
                    self.home.write_runtime({
                        "pid": os.getpid(), "agent_id": self.identity.agent_id,
                        "api": self.api_url, "listen": self.listen_addrs()})
                    log.info("event=started agent=%s api=%s listen=%s tokens=%d",
                             self.identity.agent_id, self.api_url, ",".join(self.listen_addrs()),
                             len(engine.core.tokens))
                    self.started.set()
                    task_status.started(self)
        finally:
            self.home.clear_runtime()
            self.p2p = None
            self.relaying = None
            engine.close()
            lock.close()
            log.info("event=stopped agent=%s", self.identity.agent_id)
        if self.failure is not None:
            raise self.failure

    def _gossip_params(self) -> GossipParams:
        """Gossipsub's parameters, with the per-neighbour rate the config sets."""
        cfg, params = self.config, GossipParams()
        if cfg.peer_gossip_rate_per_s is not None:
            params = replace(params, peer_rate_max_per_s=cfg.peer_gossip_rate_per_s)
        if cfg.peer_gossip_burst is not None:
            params = replace(params, peer_burst_max=cfg.peer_gossip_burst)
        return params

    def stop(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _fatal(self, failure: EngineFailed) -> None:
        """The store failed: stop at once (restart recovers from disk)."""
        log.error("event=fatal reason=%s error=%s", failure.reason, failure)
        self.failure = failure
        self.stop()

    def _lock_home(self) -> Any:
        """One running node per home: two would restore the same seq and each
        sign their own next token (equivocation)."""
        import fcntl

        fh = open(self.home.path / "node.lock", "a+")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise HomeError(f"another troth node is running on {self.home.path}") from None
        return fh
