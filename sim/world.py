"""The simulated world: one real `node.core.Core` per node, and what surrounds it.

Theory of operation (docs/sim.md; docs/design.md, "Simulator"). A `World` is
a thin composition of single-concern parts, built from one scenario and one
master seed:

    Loop      (sim/loop.py)      virtual time, the event heap, the trace digest
    Codec     (sim/codec.py)     memoised decoding, gossip message ids
    Network   (sim/network.py)   topology, links, partitions, messages in flight
    Router    (sim/routers.py)   gossipsub mesh + lazy gossip, or rumor rounds
    Agents    (sim/agents.py)    what each node issues (its behaviour)
    Faults    (sim/faults.py)    partitions, crashes, churn, restarts
    Recorder  (sim/recorder.py)  the metrics state sim/metrics.py reads
    Checker   (sim/checks.py)    invariants checked while the run goes
    VotePlay  (sim/vote.py)      an optional community vote
    SlotPlay  (sim/slots.py)     optional competing claims on slots

The world itself dispatches each event to the part that owns it and
*executes every core's outputs in order*, like the trio runtime does:

    Persist   -> append (token bytes, seen_at) to the node's durable log
    Send      -> one message on the (src, dst) link
    Publish   -> the node's gossip router
    TokenAccepted / TokenIssued / EquivocationDetected -> checkers, metrics, agent

The world never decides anything the protocol decides. Crash semantics follow
the outputs contract: an armed crash strikes in the middle of an output list;
outputs before the cut happened (Persists are durable), outputs after it never
did. A violation stops the run with the seed, the event index and the event.
With `check_invariants=True` every core an event touched runs
`Core.check_invariants()` after the event (a failure is a violation too).

Determinism across processes and PYTHONHASHSEED: nothing iterates a set or a
dict whose order depends on string hashing; tokens accepted in one batch are
handled in cid order.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
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

from .agents import Agents
from .behaviours import BEHAVIOURS
from .checks import Checker, InvariantViolation
from .codec import Codec
from .events import (
    A_CHARTER,
    A_CLAIM,
    TRACE_FRAME,
    TRACE_GOSSIP,
    Act,
    Event,
    Fault,
    Frame,
    Gossip,
    Heartbeat,
    IHave,
    IWant,
    Pull,
    Sample,
    Tick,
)
from .faults import Faults
from .loop import Loop
from .metrics import sample
from .network import Network, topology
from .recorder import Recorder
from .rng import seed_bytes, stream
from .routers import make_router
from .scenario import Scenario
from .simnode import EPOCH_S, SimNode
from .slots import SlotPlay
from .vote import VotePlay

__all__ = ["World", "SimNode", "RunResult", "EPOCH_S"]

# A core timer never fires closer than this to the previous one: a core whose
# deadline is already past (e.g. an observer deadline) cannot spin the loop.
TICK_MIN_S = 0.001


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
                 progress: Callable[[float, int], None] | None = None, *,
                 check_invariants: bool = False) -> None:
        self.sc = sc
        self.seed = seed
        self.check_invariants = check_invariants
        self.loop = Loop(progress)
        self.codec = Codec()
        self.core_params = CoreParams(
            sync_interval_s=sc.core.sync_interval_s, request_retry_s=sc.core.request_retry_s,
            pending_ttl_s=sc.core.pending_ttl_s, pending_max=sc.core.pending_max,
            view_events=False)
        self.nodes: list[SimNode] = []
        self.by_agent: dict[str, int] = {}
        self._build()
        topology(sc, seed, self.nodes)
        self.record = Recorder(len(self.nodes))
        self.checker = Checker(seed=seed, nodes=self.nodes, by_agent=self.by_agent,
                               record=self.record, converge_within_s=sc.checks.converge_within_s,
                               where=self.loop.current_event)
        # Whether any node can ever crash (crashes, churn, an equivocator's lost
        # writes): only then are suppressed duplicates remembered (sim/network.py).
        may_crash = bool(sc.crashes) or sc.churn.crash_rate_per_s > 0 or any(
            "fork_every_s" in g.params or "fork_every_s" in BEHAVIOURS[g.behaviour].params
            for g in sc.agents)
        counts = self.record.counts
        self.network = Network(sc, seed, self.nodes, self.loop, self.codec, counts,
                               may_crash=may_crash)
        self.router = make_router(sc, seed, self.nodes, self.loop, self.network, self.codec,
                                  counts, self)
        self.faults = Faults(sc, seed, self.nodes, self.loop, self.network, self.router,
                             self.record, self.checker, self)
        self.agents = Agents(sc, self.nodes, self.by_agent, self.loop, self.network,
                             self.faults, self.codec, self.record, self.checker, self)
        self.vote: VotePlay | None = None
        if sc.vote is not None:
            self.vote = VotePlay(sc.vote, name=sc.name, seed=seed, nodes=self.nodes,
                                 loop=self.loop, agents=self.agents)
        self.slots: SlotPlay | None = None
        if sc.slots is not None:
            self.slots = SlotPlay(sc.slots, seed=seed, stop_s=sc.workload_stop_s,
                                  nodes=self.nodes, loop=self.loop, agents=self.agents)
        self._network_first = sc.checks.driver_order == "network-first"
        # Nodes whose outputs ran during the current event (only with check_invariants).
        self._touched: list[SimNode] | None = [] if check_invariants else None

    @property
    def now(self) -> float:
        return self.loop.now

    @property
    def events(self) -> int:
        return self.loop.events

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
                               net_rng=stream(seed, "router", idx),
                               send_rng=stream(seed, "send", idx), skew_s=skew, drift=drift)
                # The mcache only serves IWANTs, which only IHAVEs draw.
                node.mcache = deque(maxlen=sc.dissemination.history_heartbeats
                                    if sc.dissemination.lazy_degree > 0 else 0)
                # What the agent remembers of others' tokens, only if it uses it.
                node.keeps_recent = sc.workload.deps_max > 0 or "forge_every_s" in params
                node.assesses = sc.workload.assess_prob > 0 or \
                    sc.workload.promisee_assess_prob > 0 or \
                    params.get("praise_prob", 0.0) > 0 or params.get("badmouth_prob", 0.0) > 0
                self.nodes.append(node)
                self.by_agent[node.agent] = idx
                idx += 1
        # Observers: the first `observers` honest nodes in a seeded shuffle.
        honest = [x.index for x in self.nodes if x.behaviour.label == "honest"]
        stream(seed, "observers").shuffle(honest)
        for i in sorted(honest[:sc.metrics.observers]):
            self.nodes[i].observes = True
        for node in self.nodes:
            node.core = self.new_core(node)

    def new_core(self, node: SimNode) -> Core:
        params = self.core_params if node.observes else replace(self.core_params, observe=False)
        codec = self.codec
        return Core(node.identity, params, decode=codec.decode, cid_of=codec.cid,
                    decode_frame=codec.decode_frame)

    def schedule_promise(self, node: int, t: float) -> None:
        """Script one promise by `node` at `t` (benchmarks, experiments); call before run()."""
        self.agents.schedule_promise(node, t)

    def _start(self) -> None:
        """Connect the graph and schedule every part's first events (in this order:
        the order of scheduling breaks ties in time)."""
        if self.sc.core.sync:
            for node in self.nodes:
                for j in node.conns:
                    if j > node.index:
                        self.connect(node.index, j, 0.0)
        for node in self.nodes:
            self.router.start(node)
            self.agents.start(node)
        self.faults.start()
        self.loop.schedule(0.0, Sample())
        if self.vote is not None:
            self.vote.schedule()
        if self.slots is not None:
            self.slots.schedule()

    # -- the loop --------------------------------------------------------------
    def run(self, until_event: int | None = None) -> RunResult:
        """Run to the end of the scenario (or to event `until_event`)."""
        self._start()
        violation: InvariantViolation | None = None
        loop = self.loop
        try:
            loop.run(self._dispatcher(), self.sc.duration_s, until_event)
            if until_event is None:
                loop.now = self.sc.duration_s
                self.checker.at_end(loop.now)
        except InvariantViolation as v:
            violation = v
        digest = loop.digest(f"state {self.state_digest()}\n")
        return RunResult(scenario=self.sc.name, seed=self.seed, digest=digest,
                         events=loop.events, end_s=loop.now, violation=violation)

    def _dispatcher(self) -> Callable[[float, Event], None]:
        """The function the loop hands each event to (a closure: the hot path reads
        locals, not attributes)."""
        nodes = self.nodes
        nums = self.loop.nums
        note = self.loop.note
        counts = self.record.counts
        router = self.router
        on_gossip = router.on_gossip
        execute = self.execute
        agents, faults, vote, slots = self.agents, self.faults, self.vote, self.slots
        touched = self._touched

        def dispatch(t: float, ev: Event) -> None:
            # (type(ev) is each class in turn, most frequent first: mypy narrows on it)
            if type(ev) is Gossip:
                i, src, mid = ev
                node = nodes[i]
                if not node.up:
                    counts["down_dropped"] += 1
                    return
                nums.extend((t, TRACE_GOSSIP, i, src, mid))
                on_gossip(node, src, mid, t)
            elif type(ev) is Frame:
                i, src, data = ev
                node = nodes[i]
                if not node.up:
                    counts["down_dropped"] += 1
                    return
                nums.extend((t, TRACE_FRAME, i, src, len(data)))
                node.msgs_in += 1
                node.bytes_in += len(data)
                assert node.core is not None
                execute(node, node.core.receive_frame(nodes[src].agent, data, node.local(t)), t)
            elif type(ev) is Tick:
                i, incarnation = ev
                node = nodes[i]
                if not node.up or node.tick_at != t or node.incarnation != incarnation:
                    return
                node.tick_at = None
                assert node.core is not None
                execute(node, node.core.tick(node.local(t)), t)
            elif type(ev) is IHave:
                router.on_ihave(nodes[ev.dst], ev.src, ev.ids, t)
            elif type(ev) is IWant:
                router.on_iwant(nodes[ev.dst], ev.src, ev.ids, t)
            elif type(ev) is Pull:
                router.on_pull(nodes[ev.dst], ev.src, t)
            elif type(ev) is Heartbeat:
                router.on_heartbeat(nodes[ev.node], ev.tag, t)
            elif type(ev) is Act:
                i, action, arg = ev
                note(t, f"a {i} {action}")
                if action >= A_CLAIM:
                    if slots is not None:
                        slots.act(nodes[i], action, arg, t)
                elif action >= A_CHARTER:
                    if vote is not None:
                        vote.act(nodes[i], action, arg, t)
                else:
                    agents.on_act(nodes[i], action, arg, t)
            elif type(ev) is Fault:
                i, what, arg = ev
                note(t, f"x {i} {what} {arg}")
                faults.on_fault(i, what, arg, t)
            elif type(ev) is Sample:
                self._on_sample(t)
            if touched:
                self._check_touched(touched)

        return dispatch

    def _check_touched(self, touched: list[SimNode]) -> None:
        """`Core.check_invariants()` on every live core the event ran outputs of."""
        for node in {n.index: n for n in touched}.values():
            if node.up and node.core is not None:
                try:
                    node.core.check_invariants()
                except AssertionError as exc:
                    self.checker.fail("core-invariants", f"node {node.index}: {exc}")
        touched.clear()

    # -- executing a core's outputs ----------------------------------------------
    def execute(self, node: SimNode, outs: list[Output], t: float) -> None:
        """Execute `outs` of `node`'s core in order; an armed crash may cut them."""
        if self._touched is not None:
            self._touched.append(node)
        if self._network_first:
            # A deliberate driver bug for the checker tests: network before disk.
            outs = ([o for o in outs if isinstance(o, Send | Publish)]
                    + [o for o in outs if not isinstance(o, Send | Publish)])
        cut = len(outs)
        # An armed crash strikes inside the next list it can cut in the middle.
        armed = node.crash_armed and cut >= 2
        if armed:
            cut = node.rng.randint(1, len(outs) - 1)
            self.record.counts["cuts"] += 1
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
                data = o.data  # type: ignore[union-attr]
                tok = self.codec.decode(data)
                if tok.issuer == node.agent:
                    checker.own_token(node, tok, "published")
                self.router.publish(node, data, t)
            elif tp is TokenIssued:
                # The core may issue on its own (an automatic tally on tick): its key signed it.
                checker.signed(node, o.token)  # type: ignore[union-attr]
                self.issued(node, o.token, t)  # type: ignore[union-attr]
            elif tp is EquivocationDetected:
                self.record.counts["equivocations_detected"] += 1
                checker.equivocation(node, o)  # type: ignore[arg-type]
            elif tp is TokenRejected:
                self.record.counts["token_rejected"] += 1
            elif tp is FrameRejected:
                self.record.counts["frame_rejected"] += 1
        if accepted:
            if len(accepted) > 1:
                accepted.sort(key=lambda x: x.cid)
            for tok in accepted:
                self._accepted(node, tok, t)
        if armed:
            self.faults.crash(node, t)
            return
        self.schedule_tick(node, t)

    def schedule_tick(self, node: SimNode, t: float) -> None:
        core = node.core
        assert core is not None
        d = core.next_deadline()
        if d is None:
            return
        tv = max(node.virtual(d), t + TICK_MIN_S)
        if node.tick_at is None or tv < node.tick_at:
            node.tick_at = tv
            self.loop.schedule(tv, Tick(node.index, node.incarnation))

    def issued(self, node: SimNode, tok: wire.Token, t: float) -> None:
        self.record.issued(tok.cid, tok.kind, t)
        self.loop.note(t, f"i {node.index} {tok.cid}")

    def _accepted(self, node: SimNode, tok: wire.Token, t: float) -> None:
        cid = tok.cid
        checker = self.checker
        if cid not in checker.signed_cids:
            checker.accepted(node, tok)  # fails the run
        self.record.accepted(node.index, cid, t)
        if tok.issuer != node.agent:
            if node.keeps_recent or node.assesses:
                self.agents.accepted(node, tok, t)  # (a benchmark node does neither)
            if self.slots is not None:
                self.slots.accepted(node, tok, t)

    def _send_frame(self, node: SimNode, o: Send, t: float) -> None:
        beh = node.behaviour
        if not beh.sends:
            return
        if not beh.serves:
            frame = self.codec.decode_frame(o.data)
            if isinstance(frame, wire.Frontier | wire.Tokens):
                return  # a free rider answers nobody
        dst = self.by_agent[o.peer]
        self.network.transmit(node, dst, Frame(dst, node.index, o.data), len(o.data), t)

    def connect(self, a: int, b: int, t: float) -> None:
        na, nb = self.nodes[a], self.nodes[b]
        part = self.network.part_of
        if not (na.up and nb.up) or part[a] != part[b]:
            return
        assert na.core is not None and nb.core is not None
        self.execute(na, na.core.peer_up(nb.agent, na.local(t)), t)
        if nb.up and na.up and nb.core is not None:
            self.execute(nb, nb.core.peer_up(na.agent, nb.local(t)), t)

    def disconnect(self, a: int, b: int, t: float) -> None:
        for x, y in ((a, b), (b, a)):
            nx = self.nodes[x]
            if nx.up and nx.core is not None:
                self.execute(nx, nx.core.peer_down(self.nodes[y].agent, nx.local(t)), t)

    # -- sampling ----------------------------------------------------------------
    def _on_sample(self, t: float) -> None:
        nxt = t + self.sc.sample_every_s
        if nxt <= self.sc.duration_s:
            self.loop.schedule(nxt, Sample())
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
            "crashes": node.crashes, "partition": self.network.part_of[i],
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
