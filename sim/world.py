"""The discrete-event simulator: one real `node.core.Core` per simulated node.

Theory of operation (DESIGN §9, docs/sim.md). A `World` owns a virtual clock
and one event heap of `(time_s, seq, kind, node, a, b)` tuples; `seq` is a
global counter, so ties break by scheduling order and a run is a pure
function of (scenario, master seed). Each step pops one event and feeds it to
exactly one node: a network message (a gossip token, a sync frame, an IHAVE /
IWANT / pull request), a core timer, a router heartbeat or round, an agent
action, a fault, or a metrics sample. The node's core answers with outputs
that the world *executes in order*, like the trio runtime does:

    Persist   -> append (token bytes, seen_at) to the node's durable log
    Send      -> one message on the (src, dst) link
    Publish   -> the node's gossip router (mesh push, or rumor rounds)
    TokenAccepted / TokenIssued / EquivocationDetected -> checkers, metrics, agent

The world never decides anything the protocol decides. What it models is the
world around the cores: links (latency distributions, loss, duplication,
reordering, uplink bandwidth), partitions, crashes (the durable log survives,
everything else is rebuilt by `Core.restore`), clocks (offset and drift: a
core only ever sees its own local time), the gossipsub router (mesh, seen
cache, validator, lazy IHAVE/IWANT), and the agents' choices (sim/agents.py).

The router handles gossip messages by id (`_mid`: a small int per distinct
byte string; seen caches are one byte per id). A copy that can only be a
duplicate when it arrives (its target already saw the message, or an earlier
copy is already in flight to it) is counted at send time and never scheduled;
where nodes can crash, such copies are kept so that a crash puts those still
in flight back on the heap (`_gossip_copy`, `_unghost`). The shortcut
changes no outcome's distribution, only which random draws are made.

Crash semantics follow the outputs contract: a crash may strike in the middle
of an output list; outputs before the cut happened (Persists are durable),
outputs after it never did. Checkers (sim/checks.py) run on every relevant
output and on every sample; a violation stops the run with the seed, the
event index and the event.

Randomness: every stream comes from sim/rng.py by name (per node, per link,
per fault), so adding a node does not perturb the others. Determinism across
processes and PYTHONHASHSEED: nothing here iterates a set or a dict whose
order depends on string hashing; batches of accepted tokens are handled in
cid order.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import sys
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import wire
from node.core import (
    Core,
    CoreParams,
    EquivocationDetected,
    FrameRejected,
    Output,
    Persist,
    Publish,
    Send,
    TokenAccepted,
    TokenIssued,
    TokenRejected,
)

from .agents import BEHAVIOURS, Behaviour
from .checks import Checker, InvariantViolation
from .rng import Random, seed_bytes, stream
from .scenario import Scenario
from .vote import VotePlay

__all__ = ["World", "SimNode", "RunResult", "EPOCH_S"]

# Local clocks start here (a 2027 Unix time), so token iat values look real.
EPOCH_S = 1_800_000_000.0
# A core timer never fires closer than this to the previous one: a core whose
# deadline is already past (e.g. an observer deadline) cannot spin the loop.
TICK_MIN_S = 0.001
# Bytes per message id in IHAVE/IWANT (a cid is 36 bytes).
MSG_ID_BYTES = 36
# Gossip tokens each node remembers as "recent" (what its next promise builds on).
RECENT_MAX = 16
# The trace digest is fed in chunks of this many numbers (same digest, fewer calls).
TRACE_CHUNK = 5 * 4096
# Parsed sync frames of at least FRAME_MEMO_MIN_BYTES are kept for reuse; the
# memo is cleared when they add up to FRAME_MEMO_BYTES.
FRAME_MEMO_MIN_BYTES = 1024
FRAME_MEMO_BYTES = 32 << 20
# A node's list of suppressed duplicates in flight is pruned past this length.
GHOSTS_PRUNE_AT = 256
# A crash armed to cut an output list takes effect cleanly after this long if
# the node handles no event in between.
CUT_WINDOW_S = 1.0

# Event kinds, in rough order of frequency (the dispatch tests them in this order).
EV_MSG = 0  # gossip token bytes (router)
EV_FRAME = 1  # a sync frame for the core
EV_TICK = 2  # the core's timer
EV_IHAVE = 3
EV_IWANT = 4
EV_PULL = 5  # rumor pull request
EV_HEART = 6  # router heartbeat (gossipsub lazy gossip) or rumor round
EV_AGENT = 7
EV_FAULT = 8
EV_SAMPLE = 9
EV_NAMES = ["msg", "frame", "tick", "ihave", "iwant", "pull", "heartbeat", "agent", "fault",
            "sample"]

# Agent actions (payload of EV_AGENT)
A_PROMISE, A_FULFIL, A_ASSESS, A_FORK, A_FORGE, A_ONE = range(6)
# Vote actions ([vote], sim/vote.py)
A_CHARTER, A_PROPOSAL, A_BALLOT = range(6, 9)
# Faults (payload of EV_FAULT)
F_PART, F_HEAL, F_CRASH, F_RESTART, F_CUT_TIMEOUT, F_CHURN = range(6)


@dataclass(slots=True, eq=False)
class SimNode:
    """One simulated node: its identity, its core, its durable log, its router state."""

    index: int
    agent: str
    identity: wire.Identity
    group: str
    behaviour: Behaviour
    params: dict[str, Any]
    rng: Random  # agent decisions
    net_rng: Random  # router choices (lazy peers, rumor partners)
    skew_s: float = 0.0
    drift: float = 0.0
    observes: bool = False
    core: Core | None = None
    up: bool = True
    # The durable log: token bytes per Persist, and beside them (8 bytes each,
    # nan = unknown) its seen_at, like the store's rows, so a restarted core
    # keeps when each token arrived here. `durable()` pairs them.
    log: list[bytes] = field(default_factory=list)
    log_seen: array[float] = field(default_factory=lambda: array("d"))
    # The router's seen cache: one byte per message id (World._mid), 1 = seen.
    seen: bytearray = field(default_factory=bytearray)
    mcache: deque[list[int]] = field(default_factory=deque)  # message ids per heartbeat
    rumors: list[tuple[int, int]] = field(default_factory=list)  # (round first seen, mid)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_MAX))
    conns: list[int] = field(default_factory=list)
    mesh: list[int] = field(default_factory=list)
    links: dict[int, tuple[Random, float]] = field(default_factory=dict)  # dst -> link
    # (mesh peer, its link's stream, its latency factor), made on the first mesh push
    mesh_links: list[tuple[int, Random, float]] | None = None
    # Gossip copies sent to this node while it had already seen them, and not
    # yet arrived: (arrival time, src, message id). Only kept when the node can crash
    # (a crash forgets `seen`, so an in-flight copy may then count after all).
    ghosts: list[tuple[float, int, int]] = field(default_factory=list)
    # mid -> arrival time of the earliest copy in flight to this node (not yet seen)
    inflight: dict[int, float] = field(default_factory=dict)
    tick_at: float | None = None
    heart_phase: float = 0.0  # gossipsub heartbeats fall at heart_phase + k * heartbeat_s
    heart_at: float | None = None  # the next one scheduled; None while the mcache is empty
    uplink_free_s: float = 0.0
    crash_armed: bool = False
    incarnation: int = 0
    msgs_out: int = 0
    bytes_out: int = 0
    msgs_in: int = 0
    bytes_in: int = 0
    crashes: int = 0
    crash_down_s: float = 10.0  # how long the armed crash keeps it down
    last_own: str = ""  # cid of its last own token made durable (Persist executed)
    keeps_recent: bool = True  # tokens of others go to `recent` (deps, forgeries)
    assesses: bool = True  # the agent may assess promises it receives

    def durable(self) -> list[tuple[bytes, float | None]]:
        """The log as (token bytes, seen_at) pairs, for `Core.restore`."""
        return [(raw, None if at != at else at)  # (nan != nan: unknown)
                for raw, at in zip(self.log, self.log_seen, strict=True)]

    def saw(self, mid: int) -> bool:
        seen = self.seen
        return mid < len(seen) and seen[mid] == 1

    def mark(self, mid: int) -> None:
        seen = self.seen
        if mid >= len(seen):
            seen.extend(bytes(mid + 1024 - len(seen)))
        seen[mid] = 1

    def local(self, t: float) -> float:
        return EPOCH_S + t * (1.0 + self.drift) + self.skew_s

    def virtual(self, local: float) -> float:
        return (local - EPOCH_S - self.skew_s) / (1.0 + self.drift)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What a run produced (metrics are in sim/metrics.py's `summarize`)."""

    scenario: str
    seed: int
    digest: str
    events: int
    end_s: float
    violation: InvariantViolation | None


class World:
    """A whole simulated network. `run()` drives it; see the module docstring."""

    def __init__(self, sc: Scenario, seed: int,
                 progress: Callable[[float, int], None] | None = None) -> None:
        self.sc = sc
        self.seed = seed
        self.progress = progress
        self.now = 0.0
        self.events = 0
        self._heap: list[tuple[float, int, int, int, Any, Any]] = []
        self._seq = 0
        # The trace: numbers (time, code, node, arg, size) per event, plus text
        # lines for the rare events; both go into the digest in order.
        self._trace_nums = array("d")
        self._trace: list[str] = []
        self._ev: tuple[float, int, int, int, Any, Any] = (0.0, 0, -1, -1, None, None)
        self._hash = hashlib.sha256()
        self._memo: dict[bytes, wire.Token | wire.InvalidToken] = {}
        self._frame_memo: dict[bytes, wire.Frame | wire.InvalidFrame] = {}
        self._frame_memo_bytes = 0
        # Gossip messages by id: the router (seen caches, mcache, IHAVE/IWANT,
        # events in flight) handles small ints; the bytes are looked up here.
        self._mids: dict[bytes, int] = {}
        self._msgs: list[bytes] = []
        self._valid = bytearray()  # per message id: 1 verifies, 2 does not
        self.core_params = CoreParams(
            sync_interval_s=sc.core.sync_interval_s, request_retry_s=sc.core.request_retry_s,
            pending_ttl_s=sc.core.pending_ttl_s, pending_max=sc.core.pending_max,
            view_events=False)
        self.part_of: list[int] = []
        self.nodes: list[SimNode] = []
        self.by_agent: dict[str, int] = {}
        self.checker = Checker(self)
        # metrics state (read by sim/metrics.py)
        self.issue_t: dict[str, float] = {}
        self.issuer_of: dict[str, int] = {}
        self.kind_of: dict[str, str] = {}
        self.truth: dict[str, bool] = {}  # promise cid -> fulfilled on time
        self.delivered: dict[str, bytearray] = {}
        self.latencies = array("d")
        self.reach: dict[str, int] = {}  # nodes that accepted each token
        self.full_at: dict[str, float] = {}  # when the last node accepted it
        self.tracked: list[str] = []  # honest promises followed for consensus settle time
        self.settle: dict[tuple[int, str], float] = {}
        self.timeline: list[dict[str, float]] = []
        self.trust_samples: list[dict[str, float]] = []
        self.counts: dict[str, int] = {k: 0 for k in (
            "lost", "partition_dropped", "duplicated", "reordered", "gossip_duplicates",
            "invalid_gossip", "token_rejected", "frame_rejected", "forged_sent",
            "equivocations_detected", "down_dropped", "crashes", "restarts", "cuts",
            "ihave", "iwant", "pulls")}
        self.last_disruption_s = 0.0
        self.converged_at: float | None = None
        self.partitioned = False
        self.last_heal_s: float | None = None  # the last partition heal
        self.converged_after_heal_at: float | None = None  # first converged sample after it
        self._churn_rng = stream(seed, "churn")
        self._gossipsub = sc.dissemination.model == "gossipsub"
        self._network_first = sc.checks.driver_order == "network-first"
        self._latency = self._latency_fn()
        net = sc.network
        self._overhead = sc.network.message_overhead_bytes
        self._loss = sc.network.loss
        # What the mesh push reads on every call, in one tuple.
        self._flood_law = (self._loss, net.reorder, net.reorder_delay_ms / 1000.0,
                           net.duplicate, self._latency)
        self._bandwidth = sc.network.bandwidth_bytes_per_s
        # Whether any node can ever crash (crashes, churn, an equivocator's lost
        # writes): only then are suppressed duplicates remembered (`_gossip_copy`).
        self._may_crash = bool(sc.crashes) or sc.churn.crash_rate_per_s > 0 or any(
            "fork_every_s" in g.params or "fork_every_s" in BEHAVIOURS[g.behaviour].params
            for g in sc.agents)
        self._build()
        self.vote: VotePlay | None = VotePlay(self, sc.vote) if sc.vote is not None else None

    # -- setup -----------------------------------------------------------------
    def _build(self) -> None:
        sc, seed = self.sc, self.seed
        idx = 0
        for g in sc.agents:
            beh = BEHAVIOURS[g.behaviour]
            params = {k: s.default for k, s in beh.params.items()}
            params.update(g.params)
            for _ in range(g.count):
                ident = wire.Identity.from_seed(seed_bytes(seed, "identity", idx))
                clock = stream(seed, "clock", idx)
                skew = clock.uniform(-1, 1) * sc.clock.skew_max_s
                drift = clock.uniform(-1, 1) * sc.clock.drift_max_ppm * 1e-6
                node = SimNode(index=idx, agent=ident.agent_id, identity=ident, group=g.name,
                               behaviour=beh, params=params, rng=stream(seed, "agent", idx),
                               net_rng=stream(seed, "router", idx), skew_s=skew, drift=drift)
                # The mcache only serves IWANTs, which only IHAVEs draw.
                node.mcache = deque(maxlen=sc.dissemination.history_heartbeats
                                    if sc.dissemination.lazy_degree > 0 else 0)
                # What the agent remembers of others' tokens, only if it uses it.
                node.keeps_recent = sc.workload.deps_max > 0 or "forge_every_s" in params
                node.assesses = sc.workload.assess_prob > 0 or \
                    params.get("praise_prob", 0.0) > 0 or params.get("badmouth_prob", 0.0) > 0
                self.nodes.append(node)
                self.by_agent[node.agent] = idx
                idx += 1
        n = len(self.nodes)
        self.part_of = [0] * n
        # Observers: the first `observers` honest nodes in a seeded shuffle.
        honest = [x.index for x in self.nodes if x.behaviour.label == "honest"]
        stream(seed, "observers").shuffle(honest)
        for i in sorted(honest[:sc.metrics.observers]):
            self.nodes[i].observes = True
        for node in self.nodes:
            node.core = self._new_core(node)
        self._topology()

    def _new_core(self, node: SimNode) -> Core:
        params = self.core_params if node.observes else replace(self.core_params, observe=False)
        return Core(node.identity, params, decode=self._decode, cid_of=self._cid,
                    decode_frame=self._decode_frame)

    def _mid(self, data: bytes) -> int:
        """The message id of gossip bytes (a new one for bytes never seen in this run)."""
        m = self._mids.get(data)
        if m is None:
            m = self._mids[data] = len(self._msgs)
            self._msgs.append(data)
            try:
                self._decode(data)
                self._valid.append(1)
            except wire.InvalidToken:
                self._valid.append(2)
        return m

    def _decode_frame(self, data: bytes) -> wire.Frame:
        """Parse each distinct large frame once (a frontier goes to several peers)."""
        if len(data) < FRAME_MEMO_MIN_BYTES:
            return wire.decode_frame(data)  # a Hello or a small request: cheap, unique
        memo = self._frame_memo
        r = memo.get(data)
        if r is None:
            try:
                r = wire.decode_frame(data)
            except wire.InvalidFrame as exc:
                r = exc
            self._frame_memo_bytes += len(data)
            if self._frame_memo_bytes > FRAME_MEMO_BYTES:
                memo.clear()
                self._frame_memo_bytes = len(data)
            memo[data] = r
        if isinstance(r, wire.InvalidFrame):
            raise r.with_traceback(None)
        return r

    def _cid(self, raw: bytes) -> str:
        """The cid of bytes already verified once this run is the Token's."""
        r = self._memo.get(raw)
        return r.cid if type(r) is wire.Token else wire.cid_of(raw)

    def _decode(self, raw: bytes) -> wire.Token:
        """Verify each distinct byte string once per run; share the Token across nodes."""
        r = self._memo.get(raw)
        if r is None:
            try:
                r = wire.decode_token(raw)
            except wire.InvalidToken as exc:
                r = exc
            self._memo[raw] = r
        if isinstance(r, wire.InvalidToken):
            raise r.with_traceback(None)
        return r

    def _topology(self) -> None:
        n = len(self.nodes)
        if n < 2:
            return
        k = min(self.sc.network.connections, n - 1)
        adj: list[set[int]] = [set() for _ in range(n)]
        for i in range(n):
            rng = stream(self.seed, "topology", i)
            while len(adj[i]) < k:
                j = rng.randrange(n)
                if j != i:
                    adj[i].add(j)
                    adj[j].add(i)
        mesh: list[set[int]] = [set() for _ in range(n)]
        d = self.sc.dissemination.mesh_degree
        for i in range(n):
            conns = sorted(adj[i])
            rng = stream(self.seed, "mesh", i)
            for j in rng.sample(conns, min(d, len(conns))):
                mesh[i].add(j)
                mesh[j].add(i)
        for i, node in enumerate(self.nodes):
            node.conns = sorted(adj[i])
            node.mesh = sorted(mesh[i])

    # -- the heap --------------------------------------------------------------
    def _push(self, t: float, kind: int, node: int, a: Any = None, b: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, node, a, b))

    def _schedule_initial(self) -> None:
        sc = self.sc
        dis = sc.dissemination
        n = len(self.nodes)
        t0 = 0.0
        if sc.core.sync:
            for node in self.nodes:
                for j in node.conns:
                    if j > node.index:
                        self._connect(node.index, j, t0)
        for node in self.nodes:
            if dis.model == "gossipsub" and dis.lazy_degree > 0:
                node.heart_phase = stream(self.seed, "heartbeat", node.index).uniform(
                    0, dis.heartbeat_s)
            elif dis.model in ("push", "pull", "push-pull"):
                self._push(dis.round_s, EV_HEART, node.index, 1)
            beh = node.behaviour
            rate = sc.workload.promise_rate_per_s * node.params.get("rate_mult", 1.0)
            if beh.issues and rate > 0:
                first = sc.workload.start_s + node.rng.expovariate(rate)
                if first < sc.workload_stop_s:  # like every later one (`_on_agent`)
                    self._push(first, EV_AGENT, node.index, A_PROMISE)
            if "fork_every_s" in node.params:
                self._push(sc.workload.start_s + node.params["fork_every_s"], EV_AGENT,
                           node.index, A_FORK)
            if "forge_every_s" in node.params:
                self._push(sc.workload.start_s + node.params["forge_every_s"], EV_AGENT,
                           node.index, A_FORGE)
        for i, p in enumerate(sc.partitions):
            self._push(p.at_s, EV_FAULT, -1, F_PART, i)
            self._push(p.heal_s, EV_FAULT, -1, F_HEAL, i)
        for c in sc.crashes:
            self._push(c.at_s, EV_FAULT, c.node, F_CRASH, (c.down_s, c.cut))
        ch = sc.churn
        if ch.crash_rate_per_s > 0 and n:
            rng = self._churn_rng
            t = ch.start_s + rng.expovariate(ch.crash_rate_per_s * n)
            if t < sc.churn_stop_s:
                self._push(t, EV_FAULT, -1, F_CHURN)
        self._push(0.0, EV_SAMPLE, -1)
        if self.vote is not None:
            self.vote.schedule()

    # -- the loop --------------------------------------------------------------
    def run(self, until_event: int | None = None) -> RunResult:
        """Run to the end of the scenario (or to event `until_event`)."""
        self._schedule_initial()
        violation: InvariantViolation | None = None
        try:
            self._loop(until_event)
            if until_event is None:
                self.now = self.sc.duration_s
                self.checker.at_end(self.now)
        except InvariantViolation as v:
            violation = v
        self._flush_trace()
        state = self.state_digest()
        self._hash.update(f"state {state}\n".encode())
        return RunResult(scenario=self.sc.name, seed=self.seed, digest=self._hash.hexdigest(),
                         events=self.events, end_s=self.now, violation=violation)

    def _loop(self, until_event: int | None) -> None:
        heap = self._heap
        pop = heapq.heappop
        nodes = self.nodes
        end = self.sc.duration_s
        nums = self._trace_nums
        counts = self.counts
        progress = self.progress
        limit = until_event if until_event is not None else math.inf
        while heap:
            if self.events >= limit:
                return
            if heap[0][0] > end:
                return
            ev = pop(heap)
            self._ev = ev
            t, _s, kind, i, a, b = ev
            self.now = t
            self.events += 1
            if progress is not None and not self.events & 0xFFFF:
                progress(t, self.events)
            if kind == EV_MSG:
                node = nodes[i]
                if not node.up:
                    counts["down_dropped"] += 1
                    continue
                nums.extend((t, EV_MSG, i, a, b))
                self._on_gossip(node, a, b, t)
            elif kind == EV_FRAME:
                node = nodes[i]
                if not node.up:
                    counts["down_dropped"] += 1
                    continue
                nums.extend((t, EV_FRAME, i, a, len(b)))
                node.msgs_in += 1
                node.bytes_in += len(b)
                assert node.core is not None
                self._execute(node, node.core.receive_frame(nodes[a].agent, b, node.local(t)), t)
            elif kind == EV_TICK:
                node = nodes[i]
                if not node.up or node.tick_at != t or node.incarnation != a:
                    continue
                node.tick_at = None
                assert node.core is not None
                self._execute(node, node.core.tick(node.local(t)), t)
            elif kind == EV_IHAVE:
                self._on_ihave(nodes[i], a, b, t)
            elif kind == EV_IWANT:
                self._on_iwant(nodes[i], a, b, t)
            elif kind == EV_PULL:
                self._on_pull(nodes[i], a, t)
            elif kind == EV_HEART:
                self._on_heartbeat(nodes[i], a, t)
            elif kind == EV_AGENT:
                self._note(t, f"a {i} {a}")
                self._on_agent(nodes[i], a, b, t)
            elif kind == EV_FAULT:
                self._note(t, f"x {i} {a} {b}")
                self._on_fault(i, a, b, t)
            elif kind == EV_SAMPLE:
                self._on_sample(t)
            if len(nums) >= TRACE_CHUNK:
                self._flush_trace()

    def current_event(self) -> tuple[int, float, str, int, Any]:
        """(index, time, kind, node, argument) of the event being handled (the checkers)."""
        if not self.events:
            return (0, 0.0, "setup", -1, None)
        t, _s, kind, i, a, _b = self._ev
        return (self.events, t, EV_NAMES[kind], i, a if kind >= EV_TICK else None)

    def _note(self, t: float, text: str) -> None:
        """A rare event's trace line; its place among the numbers is recorded too."""
        self._trace_nums.extend((t, -1, len(self._trace)))
        self._trace.append(text)

    def _flush_trace(self) -> None:
        nums = self._trace_nums
        if nums:
            if sys.byteorder != "little":
                nums.byteswap()  # the digest is the same on every machine
            self._hash.update(nums.tobytes())
            del nums[:]
        if self._trace:
            self._hash.update(("\n".join(self._trace) + "\n").encode())
            self._trace.clear()

    # -- executing a core's outputs ----------------------------------------------
    def _execute(self, node: SimNode, outs: list[Output], t: float) -> None:
        if self._network_first:
            # A deliberate driver bug for the checker tests: network before disk.
            outs = ([o for o in outs if isinstance(o, Send | Publish)]
                    + [o for o in outs if not isinstance(o, Send | Publish)])
        cut = len(outs)
        # An armed crash strikes inside the next list it can cut in the middle.
        armed = node.crash_armed and cut >= 2
        if armed:
            cut = node.rng.randint(1, len(outs) - 1)
            self.counts["cuts"] += 1
        accepted: list[wire.Token] = []
        checker = self.checker
        for k in range(cut):
            o = outs[k]
            tp = type(o)
            if tp is TokenAccepted:
                accepted.append(o.token)  # type: ignore[union-attr]
            elif tp is Persist:
                tok = o.token  # type: ignore[union-attr]
                node.log.append(tok.raw)
                at = o.seen_at  # type: ignore[union-attr]
                node.log_seen.append(math.nan if at is None else at)
                if tok.issuer == node.agent:
                    node.last_own = tok.cid
                    checker.own_token(node, tok, "persisted")
            elif tp is Send:
                self._send_frame(node, o, t)  # type: ignore[arg-type]
            elif tp is Publish:
                self._publish(node, o.data, t)  # type: ignore[union-attr]
            elif tp is TokenIssued:
                # The core may issue on its own (an automatic tally on tick): its key signed it.
                checker.signed(node, o.token)  # type: ignore[union-attr]
                self._issued(node, o.token, t)  # type: ignore[union-attr]
            elif tp is EquivocationDetected:
                self.counts["equivocations_detected"] += 1
                checker.equivocation(node, o)  # type: ignore[arg-type]
            elif tp is TokenRejected:
                self.counts["token_rejected"] += 1
            elif tp is FrameRejected:
                self.counts["frame_rejected"] += 1
        if accepted:
            if len(accepted) > 1:
                accepted.sort(key=lambda x: x.cid)
            for tok in accepted:
                self._accepted(node, tok, t)
        if armed:
            self._crash(node, t)
            return
        self._schedule_tick(node, t)

    def _schedule_tick(self, node: SimNode, t: float) -> None:
        core = node.core
        assert core is not None
        d = core.next_deadline()
        if d is None:
            return
        tv = max(node.virtual(d), t + TICK_MIN_S)
        if node.tick_at is None or tv < node.tick_at:
            node.tick_at = tv
            self._push(tv, EV_TICK, node.index, node.incarnation)

    def _issued(self, node: SimNode, tok: wire.Token, t: float) -> None:
        cid = tok.cid
        self.issue_t[cid] = t
        self.issuer_of[cid] = node.index
        self.kind_of[cid] = tok.kind
        self.delivered[cid] = bytearray(len(self.nodes))
        self.last_disruption_s = t
        self._note(t, f"i {node.index} {cid}")

    def _accepted(self, node: SimNode, tok: wire.Token, t: float) -> None:
        cid = tok.cid
        checker = self.checker
        if cid not in checker.signed_cids:
            checker.accepted(node, tok)  # fails the run
        bm = self.delivered.get(cid)
        if bm is not None and not bm[node.index]:
            bm[node.index] = 1
            self.latencies.append(t - self.issue_t[cid])
            k = self.reach[cid] = self.reach.get(cid, 0) + 1
            if k == len(self.nodes):
                self.full_at[cid] = t
        if tok.issuer != node.agent:
            if node.keeps_recent:
                node.recent.append(cid)
            if node.assesses and tok.kind == "promise" and node.behaviour.issues:
                self._maybe_assess(node, tok, t)

    # -- network ---------------------------------------------------------------
    def _link(self, src: SimNode, dst: int) -> tuple[Random, float]:
        link = src.links.get(dst)
        if link is None:
            rng = stream(self.seed, "link", src.index, dst)
            spread = self.sc.network.link_spread
            factor = math.exp(rng.gauss(0.0, spread)) if spread > 0 else 1.0
            link = src.links[dst] = (rng, factor)
        return link

    def _latency_fn(self) -> Callable[[Random], float]:
        """One-way latency in seconds, drawn from a link's stream (before its factor)."""
        net = self.sc.network
        ms = net.latency_ms
        dist = net.latency_dist
        if dist == "lognormal" and ms > 0:
            scale, sigma, exp = ms / 1000.0, net.latency_sigma, math.exp
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

    def _transmit(self, src: SimNode, dst: int, kind: int, payload: Any, size: int,
                  t: float) -> None:
        size += self._overhead
        src.msgs_out += 1
        src.bytes_out += size
        part = self.part_of
        if part[src.index] != part[dst]:
            self.counts["partition_dropped"] += 1
            return
        link = src.links.get(dst)
        rng, factor = link if link is not None else self._link(src, dst)
        loss = self._loss
        if loss and rng.random() < loss:
            self.counts["lost"] += 1
            return
        depart = t
        if self._bandwidth > 0:
            depart = max(t, src.uplink_free_s) + size / self._bandwidth
            src.uplink_free_s = depart
        if kind == EV_MSG and not self._may_crash:
            # A copy of what the target already saw is a duplicate, whenever it
            # arrives (no crash can make it forget): no need to draw its delay.
            target = self.nodes[dst]
            if target.saw(payload):
                target.msgs_in += 1
                target.bytes_in += size - self._overhead
                self.counts["gossip_duplicates"] += 1
                return
        latency = self._latency
        arrive = depart + latency(rng) * factor
        net = self.sc.network
        if net.reorder and rng.random() < net.reorder:
            arrive += net.reorder_delay_ms / 1000.0
            self.counts["reordered"] += 1
        again = None
        if net.duplicate and rng.random() < net.duplicate:
            self.counts["duplicated"] += 1
            again = arrive + latency(rng) * factor
        if kind == EV_MSG:
            target = self.nodes[dst]
            self._gossip_copy(src, target, payload, arrive)
            if again is not None:
                self._gossip_copy(src, target, payload, again)
            return
        self._push(arrive, kind, dst, src.index, payload)
        if again is not None:
            self._push(again, kind, dst, src.index, payload)

    def _flood(self, node: SimNode, mid: int, size: int, t: float, skip: int) -> None:
        """The gossipsub mesh push: `_transmit` of message `mid` to every mesh peer
        but `skip`, inlined (this is the simulator's hottest loop). Same draws,
        same order, same counts as `_transmit`; nodes that can crash or links
        with a bandwidth limit take the general path."""
        if self._may_crash or self._bandwidth > 0:
            for j in node.mesh:
                if j != skip:
                    self._transmit(node, j, EV_MSG, mid, size, t)
            return
        wire_size = size + self._overhead
        part = self.part_of
        mine = part[node.index]
        mesh_links = node.mesh_links
        if mesh_links is None:  # (links are streams named by their ends: any order)
            mesh_links = node.mesh_links = [(j, *self._link(node, j)) for j in node.mesh]
        nodes = self.nodes
        loss, reorder, reorder_s, duplicate, latency = self._flood_law
        counts = self.counts
        heap = self._heap
        src = node.index
        inf = math.inf
        push = heapq.heappush
        seq = self._seq
        sent = 0
        for j, rng, factor in mesh_links:
            if j == skip:
                continue
            sent += 1
            if part[j] != mine:
                counts["partition_dropped"] += 1
                continue
            if loss and rng.random() < loss:
                counts["lost"] += 1
                continue
            target = nodes[j]
            seen = target.seen
            if mid < len(seen) and seen[mid]:
                target.msgs_in += 1
                target.bytes_in += size
                counts["gossip_duplicates"] += 1
                continue
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
                counts["gossip_duplicates"] += 1
            else:
                inflight[mid] = arrive
                seq += 1
                push(heap, (arrive, seq, EV_MSG, j, src, mid))
            if again is not None:  # rare: the general path
                self._seq = seq
                self._gossip_copy(node, target, mid, again)
                seq = self._seq
        self._seq = seq
        node.msgs_out += sent
        node.bytes_out += sent * wire_size

    def _gossip_copy(self, src: SimNode, target: SimNode, mid: int, arrive: float) -> None:
        """Put one gossip copy in flight, unless it is sure to be a duplicate.

        A copy of a message the target already saw, or one that arrives no
        earlier than a copy already in flight to it, is a duplicate on arrival
        whatever else happens first: it is counted now instead of scheduled
        (most of a mesh flood's traffic). Only a crash (which forgets `seen`)
        could change that; nodes that can crash keep the copy (a "ghost") so
        `_crash` can put it back in flight."""
        seen = target.seen
        if (mid < len(seen) and seen[mid]) or target.inflight.get(mid, math.inf) <= arrive:
            if self._may_crash:
                ghosts = target.ghosts
                ghosts.append((arrive, src.index, mid))
                if len(ghosts) > GHOSTS_PRUNE_AT:
                    now = self.now
                    target.ghosts = [g for g in ghosts if g[0] > now]
            target.msgs_in += 1
            target.bytes_in += len(self._msgs[mid])
            self.counts["gossip_duplicates"] += 1
            return
        target.inflight[mid] = arrive
        self._push(arrive, EV_MSG, target.index, src.index, mid)

    def _unghost(self, node: SimNode, t: float) -> None:
        """`node` crashes at `t`: its suppressed duplicates still in flight were not
        duplicates after all (the node forgets what it saw); put them back."""
        for arrive, src, mid in node.ghosts:
            if arrive > t:
                node.msgs_in -= 1
                node.bytes_in -= len(self._msgs[mid])
                self.counts["gossip_duplicates"] -= 1
                self._push(arrive, EV_MSG, node.index, src, mid)
        node.ghosts = []
        node.inflight = {}

    def _send_frame(self, node: SimNode, o: Send, t: float) -> None:
        beh = node.behaviour
        if not beh.sends:
            return
        if not beh.serves:
            frame = self._decode_frame(o.data)
            if isinstance(frame, wire.Frontier | wire.Tokens):
                return  # a free rider answers nobody
        dst = self.by_agent[o.peer]
        self._transmit(node, dst, EV_FRAME, o.data, len(o.data), t)

    def _connect(self, a: int, b: int, t: float) -> None:
        na, nb = self.nodes[a], self.nodes[b]
        if not (na.up and nb.up) or self.part_of[a] != self.part_of[b]:
            return
        assert na.core is not None and nb.core is not None
        self._execute(na, na.core.peer_up(nb.agent, na.local(t)), t)
        if nb.up and na.up and nb.core is not None:
            self._execute(nb, nb.core.peer_up(na.agent, nb.local(t)), t)

    def _disconnect(self, a: int, b: int, t: float) -> None:
        for x, y in ((a, b), (b, a)):
            nx = self.nodes[x]
            if nx.up and nx.core is not None:
                self._execute(nx, nx.core.peer_down(self.nodes[y].agent, nx.local(t)), t)

    # -- the gossip router -------------------------------------------------------
    def _publish(self, node: SimNode, data: bytes, t: float) -> None:
        tok = self._decode(data)
        if tok.issuer == node.agent:
            self.checker.own_token(node, tok, "published")
        mid = self._mid(data)
        node.mark(mid)
        node.inflight.pop(mid, None)
        if not node.behaviour.sends:
            return
        model = self.sc.dissemination.model
        if model == "gossipsub":
            if node.mcache.maxlen:
                self._cache(node, mid, t)
            self._flood(node, mid, len(data), t, -1)
        elif model != "none":
            node.rumors.append((self._round(t), mid))

    def _round(self, t: float) -> int:
        return int(t / self.sc.dissemination.round_s + 1e-9)

    def _on_gossip(self, node: SimNode, src: int, mid: int, t: float) -> None:
        data = self._msgs[mid]
        node.msgs_in += 1
        node.bytes_in += len(data)
        seen = node.seen
        if mid < len(seen):
            if seen[mid]:
                self.counts["gossip_duplicates"] += 1
                return
            seen[mid] = 1
        else:
            node.mark(mid)
        node.inflight.pop(mid, None)
        # The topic validator: a token that does not verify is neither delivered
        # nor forwarded (DESIGN §6).
        if self._valid[mid] != 1:
            self.counts["invalid_gossip"] += 1
            return
        if self._gossipsub:
            if node.mcache.maxlen:
                self._cache(node, mid, t)
            if node.behaviour.relays:
                self._flood(node, mid, len(data), t, src)
        elif self.sc.dissemination.model != "none" and node.behaviour.relays:
            node.rumors.append((self._round(t), mid))
        assert node.core is not None
        local = EPOCH_S + t * (1.0 + node.drift) + node.skew_s  # node.local(t), inlined
        self._execute(node, node.core.receive_gossip(self.nodes[src].agent, data, local), t)

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
            self._push(at, EV_HEART, node.index, node.incarnation)

    def _on_heartbeat(self, node: SimNode, rnd: Any, t: float) -> None:
        dis = self.sc.dissemination
        if dis.model == "gossipsub":
            if node.incarnation != rnd or node.heart_at != t:
                return  # scheduled before a crash (so the node is up)
            ids = [m for window in node.mcache for m in window]
            node.mcache.append([])
            if ids:
                node.heart_at = t + dis.heartbeat_s
                self._push(node.heart_at, EV_HEART, node.index, node.incarnation)
            else:
                node.heart_at = None  # idle until a message enters the mcache
            if not ids or not node.behaviour.relays:
                return
            mesh = set(node.mesh)
            others = [j for j in node.conns if j not in mesh and self.nodes[j].up]
            if not others:
                return
            for j in node.net_rng.sample(others, min(dis.lazy_degree, len(others))):
                self.counts["ihave"] += 1
                self._transmit(node, j, EV_IHAVE, tuple(ids), MSG_ID_BYTES * len(ids), t)
            return
        # Rumor spreading on the complete graph, synchronous rounds.
        self._push(t + dis.round_s, EV_HEART, node.index, rnd + 1)
        if not node.up or not node.behaviour.sends:
            return
        n = len(self.nodes)
        partner = node.net_rng.randrange(n - 1)
        if partner >= node.index:
            partner += 1
        if dis.model in ("push", "push-pull"):
            for m in self._live_rumors(node, rnd):
                self._transmit(node, partner, EV_MSG, m, len(self._msgs[m]), t)
        if dis.model in ("pull", "push-pull"):
            self.counts["pulls"] += 1
            self._transmit(node, partner, EV_PULL, None, MSG_ID_BYTES, t)

    def _live_rumors(self, node: SimNode, rnd: int) -> list[int]:
        ttl = self.sc.dissemination.rumor_rounds
        if ttl:
            node.rumors = [(r, m) for r, m in node.rumors if rnd - r <= ttl]
        return [m for _, m in node.rumors]

    def _on_pull(self, node: SimNode, src: int, t: float) -> None:
        """A pull request: answer with the rumors the asker lacks (its digest is modelled
        by looking at its seen set)."""
        if not node.up or not node.behaviour.serves:
            return
        asker = self.nodes[src]
        for m in self._live_rumors(node, self._round(t)):
            if not asker.saw(m):
                self._transmit(node, src, EV_MSG, m, len(self._msgs[m]), t)

    def _on_ihave(self, node: SimNode, src: int, ids: tuple[int, ...], t: float) -> None:
        if not node.up:
            return
        node.msgs_in += 1
        want = [m for m in ids if not node.saw(m)]
        if want and node.behaviour.sends:
            self.counts["iwant"] += 1
            self._transmit(node, src, EV_IWANT, tuple(want), MSG_ID_BYTES * len(want), t)

    def _on_iwant(self, node: SimNode, src: int, ids: tuple[int, ...], t: float) -> None:
        if not node.up or not node.behaviour.serves:
            return
        node.msgs_in += 1
        cached = {m for window in node.mcache for m in window}
        for m in ids:
            if m in cached:
                self._transmit(node, src, EV_MSG, m, len(self._msgs[m]), t)

    # -- agents ----------------------------------------------------------------
    def issue(self, node: SimNode, t: float, *, kind: str, body: dict[str, Any],
              deps: tuple[str, ...] = (), about: str | None = None,
              scope: str | None = None) -> wire.Token | None:
        """The agent makes a token; None if the node crashed before it was durable."""
        core = node.core
        assert core is not None and node.up
        outs = core.issue(kind=kind, now=node.local(t), body=body, deps=deps, about=about,
                          scope=scope)
        tok = next(o.token for o in outs if isinstance(o, TokenIssued))
        self.checker.signed(node, tok)  # its key signed it, whatever happens next
        self._execute(node, outs, t)
        if not node.up and node.last_own != tok.cid:
            return None  # the crash cut the list before the Persist: never happened
        if tok.cid not in self.issue_t:
            self._issued(node, tok, t)  # durable, though the cut came before TokenIssued
        return tok

    def _on_agent(self, node: SimNode, action: int, arg: Any, t: float) -> None:
        sc = self.sc
        wl = sc.workload
        if action == A_PROMISE:
            rate = wl.promise_rate_per_s * node.params.get("rate_mult", 1.0)
            nxt = t + node.rng.expovariate(rate)
            if nxt < sc.workload_stop_s:
                self._push(nxt, EV_AGENT, node.index, A_PROMISE)
            if not node.up:
                return
            self._promise(node, t)
        elif action == A_ONE:
            if node.up:
                self._promise(node, t)
        elif action == A_FULFIL:
            if node.up and node.core is not None and node.core.has(arg):
                tok = self.issue(node, t, kind="fulfil", body={"evidence": "done"},
                                 deps=(arg,), about=arg)
                if tok is not None:
                    self.truth[arg] = True
        elif action == A_ASSESS:
            cid, verdict = arg
            if node.up and node.core is not None and node.core.has(cid):
                if verdict == "truth":
                    verdict = "kept" if self.truth.get(cid) else "broken"
                self.issue(node, t, kind="assess", body={"verdict": verdict}, about=cid)
        elif action == A_FORK:
            every = node.params["fork_every_s"]
            if t + every < sc.workload_stop_s:
                self._push(t + every, EV_AGENT, node.index, A_FORK)
            if node.up and node.core is not None and node.core.own_seq() > 0:
                self._lost_write(node, t)
                self._promise(node, t)
        elif action == A_FORGE:
            every = node.params["forge_every_s"]
            if t + every < sc.workload_stop_s:
                self._push(t + every, EV_AGENT, node.index, A_FORGE)
            if node.up and node.recent and node.core is not None:
                self._forge(node, t)
        elif action >= A_CHARTER and self.vote is not None:
            self.vote.act(node, action, arg, t)

    def schedule_promise(self, node: int, t: float) -> None:
        """Script one promise by `node` at `t` (benchmarks, experiments); call before run()."""
        self._push(t, EV_AGENT, node, A_ONE)

    def _promise(self, node: SimNode, t: float) -> None:
        wl = self.sc.workload
        core = node.core
        assert core is not None
        deps: tuple[str, ...] = ()
        if wl.deps_max:
            deps = tuple(c for c in list(node.recent)[-wl.deps_max:] if core.has(c))
        local = node.local(t)
        body = {"text": "p" * wl.payload_bytes, "due": int(local + wl.due_s)}
        tok = self.issue(node, t, kind="promise", body=body, deps=deps)
        if tok is None:
            return
        self.truth[tok.cid] = False
        if node.behaviour.label == "honest" and len(self.tracked) < \
                self.sc.metrics.consensus_track_max:
            self.tracked.append(tok.cid)
        if node.rng.random() < node.params.get("keep_prob", 0.0):
            frac = node.rng.uniform(wl.fulfil_min_frac, wl.fulfil_max_frac)
            self._push(t + frac * wl.due_s, EV_AGENT, node.index, A_FULFIL, tok.cid)

    def _maybe_assess(self, node: SimNode, tok: wire.Token, t: float) -> None:
        wl = self.sc.workload
        p = node.params
        promiser = self.by_agent.get(tok.issuer)
        if promiser is None:
            return
        fellow = self.nodes[promiser].group == node.group
        verdict: str | None = None
        if fellow and p.get("praise_prob", 0.0) > 0:
            if node.rng.random() < p["praise_prob"]:
                verdict = "kept"
        elif not fellow and p.get("badmouth_prob", 0.0) > 0 \
                and node.rng.random() < p["badmouth_prob"]:
            verdict = "broken"
        elif wl.assess_prob > 0 and node.rng.random() < wl.assess_prob:
            verdict = "truth"
        if verdict is None:
            return
        due = tok.body.get("due")
        when = t + wl.assess_delay_s
        if type(due) is int:
            when = max(when, node.virtual(float(due)) + wl.assess_delay_s)
        self._push(when, EV_AGENT, node.index, A_ASSESS, (tok.cid, verdict))

    def _lost_write(self, node: SimNode, t: float) -> None:
        """An equivocator's disk loses its last own token (and what built on it)."""
        own = [raw for raw in node.log if self._decode(raw).issuer == node.agent]
        gone = {self._decode(own[-1]).cid}
        kept: list[bytes] = []
        kept_seen = array("d")
        for raw, at in zip(node.log, node.log_seen, strict=True):
            tok = self._decode(raw)
            if tok.cid in gone or tok.prev in gone or any(d in gone for d in tok.deps):
                gone.add(tok.cid)
            else:
                kept.append(raw)
                kept_seen.append(at)
        self._crash(node, t, restart_in_s=0.0)
        node.log, node.log_seen = kept, kept_seen
        self._restart(node, t)

    def _forge(self, node: SimNode, t: float) -> None:
        core = node.core
        assert core is not None
        cid = node.recent[-1]
        raw = bytearray(core.tokens[cid].raw)
        # Alternate between the signature (last 64 bytes) and the claims.
        pos = len(raw) - 1 - node.rng.randrange(64) if node.rng.random() < 0.5 else \
            node.rng.randrange(len(raw) // 3, len(raw) - 64)
        raw[pos] ^= 1 + node.rng.randrange(255)
        data = bytes(raw)
        self.counts["forged_sent"] += 1
        mid = self._mid(data)
        for j in node.mesh or node.conns:
            self._transmit(node, j, EV_MSG, mid, len(data), t)

    # -- faults ----------------------------------------------------------------
    def _on_fault(self, i: int, what: int, arg: Any, t: float) -> None:
        sc = self.sc
        if what == F_PART:
            p = sc.partitions[arg]
            rng = stream(self.seed, "partition", arg)
            parts = [rng.randrange(p.parts) for _ in self.nodes]
            self._set_partition(parts, t)
            self.partitioned = True
        elif what == F_HEAL:
            self._set_partition([0] * len(self.nodes), t)
            self.partitioned = False
            self.last_disruption_s = t
            self.last_heal_s = t
            self.converged_after_heal_at = None
        elif what == F_CRASH:
            node = self.nodes[i]
            down_s, cut = arg
            if not node.up:
                return
            if cut:
                node.crash_armed = True
                node.crash_down_s = down_s
                self._push(t + CUT_WINDOW_S, EV_FAULT, i, F_CUT_TIMEOUT, node.incarnation)
            else:
                self._crash(node, t, restart_in_s=down_s)
        elif what == F_CUT_TIMEOUT:
            node = self.nodes[i]
            if node.up and node.crash_armed and node.incarnation == arg:
                self._crash(node, t)
        elif what == F_RESTART:
            node = self.nodes[i]
            if not node.up and node.incarnation == arg:
                self._restart(node, t)
        elif what == F_CHURN:
            ch = sc.churn
            rng = self._churn_rng
            n = len(self.nodes)
            nxt = t + rng.expovariate(ch.crash_rate_per_s * n)
            if nxt < sc.churn_stop_s:
                self._push(nxt, EV_FAULT, -1, F_CHURN)
            down = sum(1 for x in self.nodes if not x.up)
            victim = self.nodes[rng.randrange(n)]
            if not victim.up or (down + 1) > ch.max_down_frac * n:
                return
            down_s = rng.uniform(ch.down_min_s, ch.down_max_s)
            if rng.random() < ch.cut_prob:
                victim.crash_armed = True
                victim.crash_down_s = down_s
                self._push(t + CUT_WINDOW_S, EV_FAULT, victim.index, F_CUT_TIMEOUT,
                           victim.incarnation)
            else:
                self._crash(victim, t, restart_in_s=down_s)

    def _set_partition(self, parts: list[int], t: float) -> None:
        old = self.part_of
        self.part_of = parts
        for node in self.nodes:
            for j in node.conns:
                if j <= node.index:
                    continue
                was, now = old[node.index] == old[j], parts[node.index] == parts[j]
                if was and not now:
                    self._disconnect(node.index, j, t)
                elif now and not was and self.sc.core.sync:
                    self._connect(node.index, j, t)

    def _crash(self, node: SimNode, t: float, restart_in_s: float | None = None) -> None:
        """Kill the node: volatile state is gone, the durable log stays."""
        if restart_in_s is None:
            restart_in_s = node.crash_down_s
        node.up = False
        node.core = None
        node.crash_armed = False
        self._unghost(node, t)
        node.seen = bytearray()
        node.mcache.clear()
        node.heart_at = None
        node.rumors = []
        node.recent.clear()
        node.tick_at = None
        node.incarnation += 1
        node.crashes += 1
        self.counts["crashes"] += 1
        for j in node.conns:
            peer = self.nodes[j]
            if peer.up and peer.core is not None and self.sc.core.sync:
                self._execute(peer, peer.core.peer_down(node.agent, peer.local(t)), t)
        if restart_in_s > 0:
            self._push(t + restart_in_s, EV_FAULT, node.index, F_RESTART, node.incarnation)

    def _restart(self, node: SimNode, t: float) -> None:
        core = self._new_core(node)
        core.restore(node.durable())
        node.core = core
        node.up = True
        node.uplink_free_s = t
        self.counts["restarts"] += 1
        self.last_disruption_s = t
        self.checker.restarted(node)
        if self.sc.core.sync:
            for j in node.conns:
                self._connect(node.index, j, t)
        self._schedule_tick(node, t)

    # -- sampling ----------------------------------------------------------------
    def _on_sample(self, t: float) -> None:
        from .metrics import sample

        nxt = t + self.sc.sample_every_s
        if nxt <= self.sc.duration_s:
            self._push(nxt, EV_SAMPLE, -1)
        sample(self, t)
        self.checker.convergence(t)

    def state_digest(self) -> str:
        """sha256 over every node's (up, token-set digest, token count, log length)."""
        h = hashlib.sha256()
        for node in self.nodes:
            core = node.core
            if core is None:
                h.update(f"{node.index} down {len(node.log)}\n".encode())
            else:
                h.update(f"{node.index} {core.digest().hex()} {len(core.tokens)} "
                         f"{len(node.log)}\n".encode())
        return h.hexdigest()

    def dump_node(self, i: int) -> dict[str, Any]:
        """A node's state, for `troth sim replay`."""
        node = self.nodes[i]
        core = node.core
        d: dict[str, Any] = {
            "index": i, "agent": node.agent, "group": node.group,
            "behaviour": node.behaviour.name, "up": node.up, "log_length": len(node.log),
            "crashes": node.crashes, "partition": self.part_of[i],
            "clock": {"skew_s": node.skew_s, "drift_ppm": node.drift * 1e6},
            "connections": node.conns, "mesh": node.mesh,
            "msgs_out": node.msgs_out, "bytes_out": node.bytes_out,
        }
        if core is not None:
            d.update({
                "tokens": len(core.tokens), "pending": core.pending_count(),
                "digest": core.digest().hex(), "own_seq": core.own_seq(),
                "peers": [self.by_agent[p] for p in core.peers],
                "heads": {str(self.by_agent.get(a, a)): s for a, (s, _h) in
                          sorted(core.heads.items(), key=lambda kv: self.by_agent.get(kv[0], 0))},
                "equivocators": sorted(self.by_agent.get(a, -1) for a in core.equivocators),
                "stats": {"received_tokens": core.stats.received_tokens,
                          "duplicate_tokens": core.stats.duplicate_tokens,
                          "rejected": core.stats.rejected, "frames_in": core.stats.frames_in,
                          "frames_out": core.stats.frames_out},
            })
        return d
