"""The agents: what each node chooses to issue, played by its behaviour.

Theory of operation (docs/sim.md, "Agents and adversaries"). Behaviours are
declared in sim/behaviours.py; this module plays them. `start` schedules a
node's first promise (a Poisson process at `promise_rate_per_s * rate_mult`
until the workload stops) and its periodic adversary actions (forks,
forgeries); `on_act` plays one action. Every token goes through `issue`,
which asks the node's core to sign it and has the world execute the outputs.
A promise is kept with `keep_prob`; a promise
received from another node may be assessed (`accepted`): truthfully, or as a
sybil's praise or a bad-mouther's slander. "What happened" is the ground
truth the recorder keeps apart from any token (`Recorder.truth`): the
behaviour decides when it promises whether it will keep, and the promise is
kept when the agent, up at that moment, does the work (`A_FULFIL`). An honest
agent then issues a `fulfil`, and only then; a false fulfiller issues one for
the promises it did not keep too (`false_claim_prob`), a claim only the
truth and the promisee's word contradict. With `promisee_assess_prob` every
promise names a promisee (`to`), which assesses it from the truth with that
probability. Every decision draws from the node's own `agent/i` stream.

Equivocation is a lost write (`lost_write`: the node's disk loses its last own
token and what built on it, then it restarts and signs that seq again),
forgery a flipped byte sent to the mesh (`_forge`): the core is never modified.
"""

from __future__ import annotations

from array import array
from typing import Any

import wire
from node.core import TokenIssued

from .checks import Checker
from .codec import Codec
from .events import A_ASSESS, A_FORGE, A_FORK, A_FULFIL, A_ONE, A_PROMISE, Act, Gossip
from .faults import Faults
from .host import Host
from .loop import Loop
from .network import Network
from .recorder import Recorder
from .scenario import Scenario
from .simnode import SimNode

__all__ = ["Agents"]


class Agents:
    """Every node's agent: its schedule of actions and the tokens it issues."""

    def __init__(self, sc: Scenario, nodes: list[SimNode], by_agent: dict[str, int], loop: Loop,
                 network: Network, faults: Faults, codec: Codec, record: Recorder,
                 checker: Checker, host: Host) -> None:
        self.sc = sc
        self.nodes = nodes
        self.by_agent = by_agent
        self.loop = loop
        self.network = network
        self.faults = faults
        self.codec = codec
        self.record = record
        self.checker = checker
        self.host = host
        # Who may be named a promisee: every agent that issues tokens.
        self.issuers = [n.index for n in nodes if n.behaviour.issues]

    def start(self, node: SimNode) -> None:
        """Before the run: schedule `node`'s first promise and periodic adversary acts."""
        sc, schedule = self.sc, self.loop.schedule
        rate = sc.workload.promise_rate_per_s * node.params.get("rate_mult", 1.0)
        if node.behaviour.issues and rate > 0:
            first = sc.workload.start_s + node.rng.expovariate(rate)
            if first < sc.workload_stop_s:  # like every later one (`on_act`)
                schedule(first, Act(node.index, A_PROMISE))
        if "fork_every_s" in node.params:
            schedule(sc.workload.start_s + node.params["fork_every_s"], Act(node.index, A_FORK))
        if "forge_every_s" in node.params:
            schedule(sc.workload.start_s + node.params["forge_every_s"],
                     Act(node.index, A_FORGE))

    def schedule_promise(self, node: int, t: float) -> None:
        """Script one promise by `node` at `t` (benchmarks, experiments)."""
        self.loop.schedule(t, Act(node, A_ONE))

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
        self.host.execute(node, outs, t)
        if not node.up and node.last_own != tok.cid:
            return None  # the crash cut the list before the Persist: never happened
        if tok.cid not in self.record.issue_t:
            self.host.issued(node, tok, t)  # durable, though the cut came before TokenIssued
        return tok

    def on_act(self, node: SimNode, action: int, arg: Any, t: float) -> None:
        sc = self.sc
        if action == A_PROMISE:
            rate = sc.workload.promise_rate_per_s * node.params.get("rate_mult", 1.0)
            nxt = t + node.rng.expovariate(rate)
            if nxt < sc.workload_stop_s:
                self.loop.schedule(nxt, Act(node.index, A_PROMISE))
            if node.up:
                self._promise(node, t)
        elif action == A_ONE:
            if node.up:
                self._promise(node, t)
        elif action == A_FULFIL:
            cid, kept = arg
            if node.up and node.core is not None and node.core.has(cid):
                # The work is done now or never (a crashed agent does nothing);
                # the fulfil that reports it may still be cut by a crash.
                if kept:
                    self.record.truth[cid] = True
                self.issue(node, t, kind="fulfil", body={"evidence": "done"}, deps=(cid,),
                           about=cid)
        elif action == A_ASSESS:
            cid, verdict = arg
            if node.up and node.core is not None and node.core.has(cid):
                if verdict == "truth":
                    verdict = "kept" if self.record.truth.get(cid) else "broken"
                self.issue(node, t, kind="assess", body={"verdict": verdict}, about=cid)
        elif action == A_FORK:
            every = node.params["fork_every_s"]
            if t + every < sc.workload_stop_s:
                self.loop.schedule(t + every, Act(node.index, A_FORK))
            if node.up and node.core is not None and node.core.own_seq() > 0:
                self.lost_write(node, t)
                self._promise(node, t)
        elif action == A_FORGE:
            every = node.params["forge_every_s"]
            if t + every < sc.workload_stop_s:
                self.loop.schedule(t + every, Act(node.index, A_FORGE))
            if node.up and node.recent and node.core is not None:
                self._forge(node, t)

    def _promise(self, node: SimNode, t: float) -> None:
        wl = self.sc.workload
        core = node.core
        assert core is not None
        deps: tuple[str, ...] = ()
        if wl.deps_max:
            deps = tuple(c for c in list(node.recent)[-wl.deps_max:] if core.has(c))
        local = node.local(t)
        body: dict[str, Any] = {"text": "p" * wl.payload_bytes, "due": int(local + wl.due_s)}
        if wl.promisee_assess_prob > 0 and len(self.issuers) > 1:
            k = node.rng.randrange(len(self.issuers) - 1)
            to = self.issuers[k + (self.issuers[k] >= node.index)]  # anyone but itself
            body["to"] = self.nodes[to].agent
        tok = self.issue(node, t, kind="promise", body=body, deps=deps)
        if tok is None:
            return
        rec = self.record
        rec.truth[tok.cid] = False
        if node.behaviour.label == "honest" and len(rec.tracked) < \
                self.sc.metrics.consensus_track_max:
            rec.tracked.append(tok.cid)
        keeps = node.rng.random() < node.params.get("keep_prob", 0.0)
        false_claim = node.params.get("false_claim_prob", 0.0)
        if keeps or (false_claim > 0 and node.rng.random() < false_claim):
            frac = node.rng.uniform(wl.fulfil_min_frac, wl.fulfil_max_frac)
            self.loop.schedule(t + frac * wl.due_s, Act(node.index, A_FULFIL, (tok.cid, keeps)))

    def accepted(self, node: SimNode, tok: wire.Token, t: float) -> None:
        """`node`'s core accepted another agent's `tok`: remember it, maybe assess it."""
        if node.keeps_recent:
            node.recent.append(tok.cid)
        if node.assesses and tok.kind == "promise" and node.behaviour.issues:
            self._maybe_assess(node, tok, t)

    def _maybe_assess(self, node: SimNode, tok: wire.Token, t: float) -> None:
        wl = self.sc.workload
        p = node.params
        promiser = self.by_agent.get(tok.issuer)
        due = tok.body.get("due")
        if promiser is None or type(due) is not int:
            return  # only promises that can lapse are judged (a slot claim has no due)
        # The promisee judges its own promises; witnesses with assess_prob.
        truth_prob = wl.promisee_assess_prob if tok.body.get("to") == node.agent \
            else wl.assess_prob
        fellow = self.nodes[promiser].group == node.group
        verdict: str | None = None
        if fellow and p.get("praise_prob", 0.0) > 0:
            if node.rng.random() < p["praise_prob"]:
                verdict = "kept"
        elif not fellow and p.get("badmouth_prob", 0.0) > 0 \
                and node.rng.random() < p["badmouth_prob"]:
            verdict = "broken"
        elif truth_prob > 0 and node.rng.random() < truth_prob:
            verdict = "truth"
        if verdict is None:
            return
        when = max(t + wl.assess_delay_s, node.virtual(float(due)) + wl.assess_delay_s)
        self.loop.schedule(when, Act(node.index, A_ASSESS, (tok.cid, verdict)))

    def lost_write(self, node: SimNode, t: float) -> None:
        """An equivocator's disk loses its last own token (and what built on it)."""
        decode = self.codec.decode
        own = [raw for raw in node.log if decode(raw).issuer == node.agent]
        gone = {decode(own[-1]).cid}
        kept: list[bytes] = []
        kept_seen = array("d")
        for raw, at in zip(node.log, node.log_seen, strict=True):
            tok = decode(raw)
            if tok.cid in gone or tok.prev in gone or any(d in gone for d in tok.deps):
                gone.add(tok.cid)
            else:
                kept.append(raw)
                kept_seen.append(at)
        self.faults.crash(node, t, restart_in_s=0.0)
        node.log, node.log_seen = kept, kept_seen
        self.faults.restart(node, t)

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
        self.record.counts["forged_sent"] += 1
        mid = self.codec.mid(data)
        for j in node.mesh or node.conns:
            self.network.transmit(node, j, Gossip(j, node.index, mid), len(data), t)
