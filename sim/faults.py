"""Faults: partitions and heals, scripted crashes, churn, restarts.

Theory of operation (docs/sim.md, "Crashes and restarts" and "Partitions").
`start` schedules every scripted fault and the first churn draw; `on_fault`
plays one. A crash throws away the core, the router state and the agent's
volatile memory; only the durable log survives, and peers get `peer_down`. A
restart builds a fresh core, `restore`s it from the log and reconnects. A
crash may be *armed* instead (`cut`, `cut_prob`): it strikes inside the
node's next output list of two or more (the world cuts it there, see
sim/world.py) or, if none comes within CUT_WINDOW_S, cleanly then. Events
scheduled for a node before a crash carry its incarnation and are ignored
after it. A partition assigns nodes to sides from its own stream; the network
drops messages across sides and cross-side connections go down until the heal.
"""

from __future__ import annotations

from .checks import Checker
from .events import F_CHURN, F_CRASH, F_CUT_TIMEOUT, F_HEAL, F_PART, F_RESTART, Fault
from .host import Host
from .loop import Loop
from .network import Network
from .recorder import Recorder
from .rng import stream
from .routers import Router
from .scenario import Scenario
from .simnode import SimNode

__all__ = ["Faults", "CUT_WINDOW_S"]

# A crash armed to cut an output list takes effect cleanly after this long if
# the node handles no event in between.
CUT_WINDOW_S = 1.0


class Faults:
    """The fault schedule of a run and what each fault does."""

    def __init__(self, sc: Scenario, seed: int, nodes: list[SimNode], loop: Loop,
                 network: Network, router: Router, record: Recorder, checker: Checker,
                 host: Host) -> None:
        self.sc = sc
        self.seed = seed
        self.nodes = nodes
        self.loop = loop
        self.network = network
        self.router = router
        self.record = record
        self.checker = checker
        self.host = host
        self._churn_rng = stream(seed, "churn")

    def start(self) -> None:
        """Schedule the scripted partitions and crashes and the first churn draw."""
        sc, schedule = self.sc, self.loop.schedule
        for i, p in enumerate(sc.partitions):
            schedule(p.at_s, Fault(-1, F_PART, i))
            schedule(p.heal_s, Fault(-1, F_HEAL, i))
        for c in sc.crashes:
            schedule(c.at_s, Fault(c.node, F_CRASH, (c.down_s, c.cut)))
        ch = sc.churn
        n = len(self.nodes)
        if ch.crash_rate_per_s > 0 and n:
            t = ch.start_s + self._churn_rng.expovariate(ch.crash_rate_per_s * n)
            if t < sc.churn_stop_s:
                schedule(t, Fault(-1, F_CHURN))

    def on_fault(self, i: int, what: int, arg: object, t: float) -> None:
        sc = self.sc
        rec = self.record
        if what == F_PART:
            assert isinstance(arg, int)
            p = sc.partitions[arg]
            rng = stream(self.seed, "partition", arg)
            parts = [rng.randrange(p.parts) for _ in self.nodes]
            self._set_partition(parts, t)
            rec.partitioned = True
        elif what == F_HEAL:
            self._set_partition([0] * len(self.nodes), t)
            rec.partitioned = False
            rec.last_disruption_s = t
            rec.last_heal_s = t
            rec.converged_after_heal_at = None
        elif what == F_CRASH:
            node = self.nodes[i]
            assert isinstance(arg, tuple)
            down_s, cut = arg
            if not node.up:
                return
            if cut:
                self._arm(node, down_s, t)
            else:
                self.crash(node, t, restart_in_s=down_s)
        elif what == F_CUT_TIMEOUT:
            node = self.nodes[i]
            if node.up and node.crash_armed and node.incarnation == arg:
                self.crash(node, t)
        elif what == F_RESTART:
            node = self.nodes[i]
            if not node.up and node.incarnation == arg:
                self.restart(node, t)
        elif what == F_CHURN:
            self._churn(t)

    def _arm(self, node: SimNode, down_s: float, t: float) -> None:
        node.crash_armed = True
        node.crash_down_s = down_s
        self.loop.schedule(t + CUT_WINDOW_S, Fault(node.index, F_CUT_TIMEOUT, node.incarnation))

    def _churn(self, t: float) -> None:
        sc = self.sc
        ch = sc.churn
        rng = self._churn_rng
        n = len(self.nodes)
        nxt = t + rng.expovariate(ch.crash_rate_per_s * n)
        if nxt < sc.churn_stop_s:
            self.loop.schedule(nxt, Fault(-1, F_CHURN))
        down = sum(1 for x in self.nodes if not x.up)
        victim = self.nodes[rng.randrange(n)]
        if not victim.up or (down + 1) > ch.max_down_frac * n:
            return
        down_s = rng.uniform(ch.down_min_s, ch.down_max_s)
        if rng.random() < ch.cut_prob:
            self._arm(victim, down_s, t)
        else:
            self.crash(victim, t, restart_in_s=down_s)

    def _set_partition(self, parts: list[int], t: float) -> None:
        net = self.network
        old = net.part_of
        net.part_of = parts
        for node in self.nodes:
            for j in node.conns:
                if j <= node.index:
                    continue
                was, now = old[node.index] == old[j], parts[node.index] == parts[j]
                if was and not now:
                    self.host.disconnect(node.index, j, t)
                elif now and not was and self.sc.core.sync:
                    self.host.connect(node.index, j, t)

    def crash(self, node: SimNode, t: float, restart_in_s: float | None = None) -> None:
        """Kill the node: volatile state is gone, the durable log stays."""
        if restart_in_s is None:
            restart_in_s = node.crash_down_s
        node.up = False
        node.core = None
        node.crash_armed = False
        self.network.unghost(node, t)
        self.router.reset(node)
        node.recent.clear()
        node.tick_at = None
        node.incarnation += 1
        node.crashes += 1
        self.record.counts["crashes"] += 1
        for j in node.conns:
            peer = self.nodes[j]
            if peer.up and peer.core is not None and self.sc.core.sync:
                self.host.execute(peer, peer.core.peer_down(node.agent, peer.local(t)), t)
        if restart_in_s > 0:
            self.loop.schedule(t + restart_in_s,
                               Fault(node.index, F_RESTART, node.incarnation))

    def restart(self, node: SimNode, t: float) -> None:
        """Bring the node back from its durable log."""
        core = self.host.new_core(node)
        core.restore(node.durable())
        node.core = core
        node.up = True
        node.uplink_free_s = t
        self.record.counts["restarts"] += 1
        self.record.last_disruption_s = t
        self.checker.restarted(node)
        if self.sc.core.sync:
            for j in node.conns:
                self.host.connect(node.index, j, t)
        self.host.schedule_tick(node, t)
