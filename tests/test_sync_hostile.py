"""Hostile sync peers, on real libp2p hosts on 127.0.0.1.

A victim node (the real runtime: core, SQLite store, libp2p) is connected to
an honest node and to a hostile peer. The hostile peer is a raw py-libp2p host
(no troth runtime) that opens `/troth/sync/1` streams and writes legal frames
made with the wire encoder, in hostile sequences: endless Hellos, frontiers
claiming huge seqs, WantRange storms, never reading the victim's answers,
half-sent frames. For each, the test asserts that

- what the victim holds and does for that peer stays bounded: its per-peer
  tables, queued bytes, the frames it admits and the answers it sends;
- the hostile peer is throttled, then disconnected and banned (its redial is
  refused);
- the honest node keeps exchanging tokens with the victim by sync (gossip
  is bypassed) within normal time while the attack runs.

The victim runs with small limits (`LIMITS`), so that each attack is over in
a second or two; real time, every wait on a condition.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol

import wire
from node.app.runtime import Runtime
from node.core.sync import THROTTLE_EXTRA_MAX
from node.net.host import (
    DEFAULT_LISTEN,
    build_host,
    parse_listen_addr,
    parse_p2p_addr,
    parse_peer_id,
)
from node.net.p2p import (
    SYNC_PROTOCOL,
    P2PError,
    P2PNode,
    SyncLimits,
    SyncStream,
    encode_frame_prefix,
)
from node.store.home import Config, Home
from tests.test_runtime import WAIT_S, holds, run_in, wait_until
from wire.frames import FRONTIER_ENTRIES_MAX, RANGE_SPAN_MAX
from wire.limits import SEQ_MAX

F = TypeVar("F")
# One honest sync exchange (a token each way, by anti-entropy only) takes a
# round or two: 0.25-0.5 s here. Under attack it must stay within this (or ten
# times the exchange measured before the attack, on a machine loaded enough
# to make that longer).
HONEST_EXCHANGE_MAX_S = 5.0
SYNC_INTERVAL_S = 0.5

# Small limits, so that an attack trips them in a second or two: three nodes
# in one process move a few hundred small frames a second through
# py-libp2p, so the rate must be well below that. The honest node's traffic
# (per round a Hello, a small frontier, a token: ~6 units/s) stays inside.
# The timeouts leave room for the three nodes sharing one trio loop on a
# loaded 2-core machine.
LIMITS = SyncLimits(
    budget_rate_units_per_s=20.0,
    budget_burst_units=200.0,
    refused_max_units=100,
    backlog_max_bytes=256 * 1024,
    outbox_max_frames=256,
    outbox_max_bytes=1024 * 1024,
    write_timeout_s=2.0,
    frame_timeout_s=1.5,
    streams_per_peer_max=2,
    ban_s=30.0,
)
# The victim's own chain, served to WantRange storms: ~4.2 KiB a token.
CHAIN_TOKENS = 40
BIG_TEXT = "x" * 4000


# --------------------------------------------------------------- the arena ---


@dataclass
class Arena:
    victim: Runtime
    honest: Runtime
    exchanges_s: list[float] = field(default_factory=list)

    @property
    def p2p(self) -> P2PNode:
        assert self.victim.p2p is not None
        return self.victim.p2p

    async def exchange(self) -> float:
        """A token each way between victim and honest node, by sync only; its time."""
        n = len(self.exchanges_s)
        t0 = trio.current_time()
        assert self.victim.engine is not None and self.honest.engine is not None
        # The outputs (with the Publish) are dropped: only anti-entropy carries them.
        mine, _ = self.victim.engine.issue(kind="promise", now=self.victim.clock(),
                                           body={"text": f"victim {n}"})
        theirs, _ = self.honest.engine.issue(kind="promise", now=self.honest.clock(),
                                             body={"text": f"honest {n}"})
        await wait_until(lambda: holds(self.honest, mine.cid) and holds(self.victim, theirs.cid),
                         "an honest exchange by sync")
        took = trio.current_time() - t0
        self.exchanges_s.append(took)
        return took

    async def exchanges_during(self, attack: Callable[[], Awaitable[None]]) -> None:
        """Run `attack` while the honest node keeps exchanging tokens with the victim."""
        async with trio.open_nursery() as nursery:
            done = trio.Event()

            async def run_attack() -> None:
                try:
                    await attack()
                finally:
                    done.set()

            nursery.start_soon(run_attack)
            rounds = 0
            # "Normal time", measured before the attack in the same conditions
            # (a loaded machine slows both).
            normal_s = max(HONEST_EXCHANGE_MAX_S, 10 * self.exchanges_s[0])
            while not done.is_set() or rounds < 2:
                took = await self.exchange()
                assert took < normal_s, \
                    f"an honest exchange took {took:.2f}s during the attack " \
                    f"(before it: {self.exchanges_s[0]:.2f}s)"
                rounds += 1

    @property
    def limits(self) -> SyncLimits:
        return self.p2p.sync_limits

    def units_bound(self, seconds: float) -> float:
        """Work units a peer may spend in `seconds`: the burst and the refill."""
        return self.limits.budget_burst_units + self.limits.budget_rate_units_per_s * seconds

    async def assert_banned_and_bounded(self, hostile_id: str) -> None:
        p2p = self.p2p
        assert self.victim.engine is not None
        core_sync = self.victim.engine.core.sync
        await wait_until(lambda: hostile_id not in p2p.connected_peers()
                         and hostile_id not in core_sync.states, "the hostile peer to be dropped")
        info = p2p.sync_peer_info(hostile_id)
        assert info.banned
        assert (info.inbound_streams, info.outbox_frames, info.outbox_bytes) == (0, 0, 0)
        # Per-peer tables hold the connected peers (the honest one) and bans only.
        assert p2p.sync_table_sizes()["budgets"] <= 1
        assert p2p.sync_table_sizes()["outboxes"] <= 1
        assert p2p.sync_table_sizes()["bans"] == 1


def make_runtime(tmp: Path, name: str, limits: SyncLimits) -> Runtime:
    home, identity = Home.init(tmp / name)
    return Runtime(home, identity, Config(sync_interval_s=SYNC_INTERVAL_S), sync_limits=limits)


@pytest.fixture
async def arena(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Arena]:
    """Victim and honest node, in sync. `indirect` parametrisation sets the victim's limits."""
    limits = getattr(request, "param", LIMITS)
    victim = make_runtime(tmp_path, "victim", limits)
    honest = make_runtime(tmp_path, "honest", limits)
    async with trio.open_nursery() as nursery:
        await run_in(nursery, victim, honest)
        assert victim.engine is not None and honest.engine is not None
        assert honest.p2p is not None
        # The victim's chain, handed to the honest node directly: syncing it
        # would spend the honest peer's small budget before the test begins.
        for i in range(CHAIN_TOKENS):
            tok, _ = victim.engine.issue(kind="promise", now=victim.clock(),
                                         body={"text": f"{i} {BIG_TEXT}"})
            honest.engine.receive_gossip(victim.identity.agent_id, tok.raw, honest.clock())
        await honest.p2p.connect(victim.listen_addrs()[0])
        arena = Arena(victim=victim, honest=honest)
        await arena.exchange()  # the baseline, in the same conditions
        yield arena
        victim.stop()
        honest.stop()


# ---------------------------------------------------------- the hostile peer ---


@dataclass
class Hostile:
    """A raw py-libp2p host speaking `/troth/sync/1` by hand."""

    host: IHost
    # What the victim sent us on its own streams: decoded frames, in order.
    received: list[wire.Frame] = field(default_factory=list)
    received_bytes: int = 0
    # "read": read and record the victim's frames; "stall": accept its
    # streams and never read them.
    mode: str = "read"
    hello_from_victim: trio.Event = field(default_factory=trio.Event)

    @property
    def peer_id(self) -> str:
        return self.host.get_id().to_base58()

    async def connect(self, addr: str) -> str:
        info = parse_p2p_addr(addr)
        await self.host.connect(info)
        return info.peer_id.to_base58()

    async def open(self, victim_id: str) -> INetStream:
        return await self.host.new_stream(parse_peer_id(victim_id), [TProtocol(SYNC_PROTOCOL)])

    async def _on_stream(self, stream: INetStream) -> None:
        if self.mode == "stall":
            await trio.sleep_forever()  # hold the stream, never read it
        reader = SyncStream(stream, "victim")
        try:
            while True:
                data = await reader.receive_frame(timeout_s=60)
                self.received_bytes += len(data)
                frame = wire.decode_frame(data)
                self.received.append(frame)
                if isinstance(frame, wire.Hello):
                    self.hello_from_victim.set()
        except P2PError:
            return

    def received_of(self, kind: type[F]) -> list[F]:
        return [f for f in self.received if isinstance(f, kind)]


@asynccontextmanager
async def hostile_peer(name: str) -> AsyncIterator[Hostile]:
    seed = hashlib.sha256(f"hostile-{name}".encode()).digest()
    host, _swarm = build_host(seed, parse_listen_addr(DEFAULT_LISTEN))
    hostile = Hostile(host=host)
    host.set_stream_handler(TProtocol(SYNC_PROTOCOL), hostile._on_stream)
    async with host.run([parse_listen_addr(DEFAULT_LISTEN)]):
        try:
            yield hostile
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await host.close()


async def write_frames(stream: INetStream, frames: list[bytes], *, repeat: int = 1) -> int:
    """Write framed bytes until done or the victim cuts us off; how many were written."""
    written = 0
    try:
        for _ in range(repeat):
            for data in frames:
                await stream.write(encode_frame_prefix(len(data)) + data)
                written += 1
    except Exception:  # reset by the victim: the attack is over
        pass
    return written


async def redial_is_refused(arena: Arena, hostile: Hostile) -> None:
    """A banned peer may connect at the TCP level, but is dropped at once and never synced."""
    refusals = arena.p2p.sync_defence.banned_refusals
    try:
        await hostile.connect(arena.victim.listen_addrs()[0])
    except Exception:
        pass
    await wait_until(lambda: arena.p2p.sync_defence.banned_refusals > refusals,
                     "the banned peer's connection to be refused")
    await wait_until(lambda: hostile.peer_id not in arena.p2p.connected_peers(),
                     "the banned peer to be dropped")
    assert arena.victim.engine is not None
    assert hostile.peer_id not in arena.victim.engine.core.sync.states


def random_digest(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


# --------------------------------------------------------------- the tests ---


async def test_endless_hellos_are_throttled_then_banned(arena: Arena) -> None:
    hellos = [wire.encode_frame(wire.Hello(digest=random_digest(i), agents=2**53))
              for i in range(500)]
    async with hostile_peer("hellos") as hostile:
        victim_id = await hostile.connect(arena.victim.listen_addrs()[0])
        await wait_until(lambda: hostile.peer_id in arena.p2p.connected_peers(), "the hostile peer")
        written = 0
        t0 = trio.current_time()

        async def attack() -> None:
            nonlocal written
            stream = await hostile.open(victim_id)
            written = await write_frames(stream, hellos, repeat=100)  # 50,000 Hellos

        await arena.exchanges_during(attack)
        elapsed = trio.current_time() - t0
        await wait_until(lambda: arena.p2p.sync_defence.rate_exceeded == 1, "the ban")
        stats = arena.p2p.sync_defence
        # Throttled first (refused without being decoded), then cut off.
        assert stats.throttled_frames >= arena.limits.refused_max_units
        assert stats.bans == 1 and stats.banned_now == 1
        assert written < 50_000
        # Each Hello answered is a frontier sent: two units at least (in and
        # out), so the answers are bounded by the budget, not by the Hellos.
        answers = len(hostile.received_of(wire.Frontier))
        assert 0 < answers <= arena.units_bound(elapsed) / 2 + 1
        await arena.assert_banned_and_bounded(hostile.peer_id)
        await redial_is_refused(arena, hostile)


async def test_frontiers_claiming_huge_seqs_cost_a_bounded_pull(arena: Arena) -> None:
    agents = [wire.Identity.from_seed(hashlib.sha256(b"fake %d" % i).digest()).agent_id
              for i in range(FRONTIER_ENTRIES_MAX)]
    head = wire.cid_of(b"a head that does not exist")
    chunk = wire.encode_frame(wire.Frontier(entries=tuple(
        wire.FrontierEntry(agent=a, seq=SEQ_MAX, head=head, forks=SEQ_MAX)
        for a in agents)))
    async with hostile_peer("claims") as hostile:
        victim_id = await hostile.connect(arena.victim.listen_addrs()[0])
        t0 = trio.current_time()

        async def attack() -> None:
            # Only an answer to the victim's own Hello is acted on: wait for one.
            with trio.fail_after(WAIT_S):
                await hostile.hello_from_victim.wait()
            stream = await hostile.open(victim_id)
            await write_frames(stream, [chunk], repeat=200)  # full chunks: "more follow"

        await arena.exchanges_during(attack)
        elapsed = trio.current_time() - t0
        await wait_until(lambda: arena.p2p.sync_defence.rate_exceeded == 1, "the ban")
        wants = hostile.received_of(wire.WantRange)
        forks = hostile.received_of(wire.WantForks)
        assert wants, "the first chunk is acted on"
        # No allocation, request or answer proportional to the claimed seqs:
        # every range asked is at most RANGE_SPAN_MAX long.
        assert all(w.last_seq - w.first_seq + 1 <= RANGE_SPAN_MAX for w in wants)
        # The pull it caused is bounded by the budget (each want sent is
        # charged to the peer that caused it), not by the 200 chunks.
        assert len(wants) + len(forks) <= arena.units_bound(elapsed) + \
            2 * FRONTIER_ENTRIES_MAX
        assert arena.victim.engine is not None
        core = arena.victim.engine.core
        bound = len(core.index.heads) + THROTTLE_EXTRA_MAX + FRONTIER_ENTRIES_MAX
        assert len(core.sync._range_asked) <= bound and len(core.sync._forks_asked) <= bound
        assert core.pending_count() == 0  # claims are not tokens: nothing waits
        core.check_invariants()
        await arena.assert_banned_and_bounded(hostile.peer_id)


async def test_want_range_storm_is_answered_within_the_budget(arena: Arena) -> None:
    assert arena.victim.engine is not None
    me = arena.victim.identity.agent_id
    strangers = [wire.Identity.from_seed(hashlib.sha256(b"s %d" % i).digest()).agent_id
                 for i in range(50)]
    storm = [wire.encode_frame(wire.WantRange(agent=me, first_seq=1, last_seq=RANGE_SPAN_MAX))]
    storm += [wire.encode_frame(wire.WantRange(agent=a, first_seq=1, last_seq=RANGE_SPAN_MAX))
              for a in strangers]
    async with hostile_peer("storm") as hostile:
        victim_id = await hostile.connect(arena.victim.listen_addrs()[0])
        t0 = trio.current_time()

        async def attack() -> None:
            stream = await hostile.open(victim_id)
            await write_frames(stream, storm, repeat=200)  # ~10,000 ranges, 200 of the chain

        await arena.exchanges_during(attack)
        elapsed = trio.current_time() - t0
        await wait_until(lambda: arena.p2p.sync_defence.rate_exceeded == 1, "the ban")
        # The victim's chain is ~170 KiB: 200 full answers would be 33 MiB.
        # What it sent is bounded by the peer's budget (one unit per KiB)
        # plus the one answer admitted on credit.
        served = sum(len(t.tokens) for t in hostile.received_of(wire.Tokens))
        assert served >= CHAIN_TOKENS  # the first request is answered in full
        answer_kib = CHAIN_TOKENS * 4.2
        assert hostile.received_bytes / 1024 <= arena.units_bound(elapsed) + answer_kib
        assert served < 200 * CHAIN_TOKENS / 4
        assert arena.p2p.sync_defence.throttled_frames >= arena.limits.refused_max_units
        await arena.assert_banned_and_bounded(hostile.peer_id)
        await redial_is_refused(arena, hostile)


# The budget lets this peer ask for the chain twenty times: what stops it is
# that it does not read.
SLOW_READER_LIMITS = dataclasses.replace(LIMITS, budget_burst_units=4000.0)


@pytest.mark.parametrize("arena", [SLOW_READER_LIMITS], indirect=True)
async def test_a_peer_that_never_reads_is_cut_off_with_bounded_buffers(arena: Arena) -> None:
    me = arena.victim.identity.agent_id
    want_chain = wire.encode_frame(wire.WantRange(agent=me, first_seq=1, last_seq=CHAIN_TOKENS))
    async with hostile_peer("stall") as hostile:
        hostile.mode = "stall"  # accept the victim's stream, read nothing
        victim_id = await hostile.connect(arena.victim.listen_addrs()[0])
        outbox_peak = [0, 0]

        async def attack() -> None:
            stream = await hostile.open(victim_id)
            with trio.move_on_after(WAIT_S):
                for _ in range(100):  # asks for the whole chain, a hundred times
                    if await write_frames(stream, [want_chain]) == 0:
                        break
                    info = arena.p2p.sync_peer_info(hostile.peer_id)
                    outbox_peak[0] = max(outbox_peak[0], info.outbox_bytes)
                    outbox_peak[1] = max(outbox_peak[1], info.outbox_frames)
                    await trio.sleep(0.01)

        await arena.exchanges_during(attack)
        await wait_until(lambda: arena.p2p.sync_defence.slow_readers == 1, "the slow reader's ban")
        stats = arena.p2p.sync_defence
        # The victim queued at most its bounds for the peer, and refused
        # requests while its answers were still queued.
        assert 0 < outbox_peak[0] <= arena.limits.outbox_max_bytes
        assert outbox_peak[1] <= arena.limits.outbox_max_frames
        assert stats.backlogged_frames >= 1
        assert stats.bans == 1
        await arena.assert_banned_and_bounded(hostile.peer_id)


async def test_half_sent_frames_time_out_and_streams_are_capped(arena: Arena) -> None:
    hello = wire.encode_frame(wire.Hello(digest=random_digest(1), agents=1))
    async with hostile_peer("half") as hostile:
        victim_id = await hostile.connect(arena.victim.listen_addrs()[0])
        await wait_until(lambda: hostile.peer_id in arena.p2p.connected_peers(), "the hostile peer")
        inbound_peak = [0]

        async def attack() -> None:
            # 1. A length, part of the body, then close: counted, not banned
            #    (a peer that crashed while sending looks the same).
            stream = await hostile.open(victim_id)
            await stream.write(encode_frame_prefix(len(hello)) + hello[:10])
            await stream.close()
            await wait_until(lambda: arena.p2p.sync_defence.truncated_frames == 1,
                             "the truncated frame")
            assert arena.p2p.sync_defence.bans == 0
            # 2. Six streams at once (the victim takes two: the rest are
            #    reset), then on each a length prefix, part of the body, and
            #    nothing more.
            streams = []
            for _ in range(6):
                try:
                    streams.append(await hostile.open(victim_id))
                except Exception:
                    pass  # reset by the victim before our side saw it open
            await wait_until(lambda: arena.p2p.sync_defence.streams_refused == 4,
                             "the streams over the cap to be refused")
            inbound_peak[0] = arena.p2p.sync_peer_info(hostile.peer_id).inbound_streams
            for s in streams:
                try:
                    await s.write(encode_frame_prefix(900_000) + b"\x00" * 1000)
                except Exception:
                    pass  # one the victim refused
            await wait_until(lambda: arena.p2p.sync_defence.frame_timeouts >= 1,
                             "the frame timeout")

        t0 = trio.current_time()
        await arena.exchanges_during(attack)
        stats = arena.p2p.sync_defence
        assert stats.streams_refused == 4  # over streams_per_peer_max
        assert inbound_peak[0] == arena.limits.streams_per_peer_max
        assert stats.frame_timeouts >= 1 and stats.bans == 1
        # The stalled frames held their streams for the frame timeout, not
        # for the idle timeout (35 s) the stream had before.
        assert trio.current_time() - t0 < arena.limits.frame_timeout_s + WAIT_S / 2
        await arena.assert_banned_and_bounded(hostile.peer_id)
        await redial_is_refused(arena, hostile)
