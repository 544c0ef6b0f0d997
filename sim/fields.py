"""Every scenario field, declared once: type, default, bounds, doc.

Theory of operation: `FIELDS` maps each TOML table of a scenario file to its
fields' `Spec`s (sim/spec.py). It drives validation (sim/scenario_file.py),
`troth sim fields` (`describe_fields`, which also lists the behaviours and
their parameters from sim/behaviours.py) and the reference in docs/sim.md.
A field added here is validated, documented and listed with no other change.
"""

from __future__ import annotations

from .behaviours import BEHAVIOURS
from .spec import Spec, spec

__all__ = ["FIELDS", "describe_fields"]

_f = spec


FIELDS: dict[str, dict[str, Spec]] = {
    "scenario": {
        "name": _f(str, "", "Short name (defaults to the file name)."),
        "description": _f(str, "", "What the scenario shows."),
        "seed": _f(int, 1, "Master seed when --seed is not given.", 0, 2**63 - 1),
        "duration_s": _f(float, 600.0, "Virtual seconds simulated.", 1.0, 1e7),
        "sample_every_s": _f(float, 10.0, "Time-series sampling period (metrics, convergence).",
                             0.1, 1e6),
    },
    "network": {
        "connections": _f(int, 4, "Peers each node dials (the connection graph is their union; "
                          "sync and lazy gossip use it).", 1, 1000),
        "latency_dist": _f(str, "lognormal", "One-way latency distribution of a link.",
                           choices=("constant", "uniform", "exponential", "lognormal", "pareto")),
        "latency_ms": _f(float, 50.0, "Median (lognormal), mean (exponential), value "
                         "(constant), scale (pareto) or midpoint (uniform) of latency.", 0.0, 1e6),
        "latency_sigma": _f(float, 0.5, "lognormal: sigma of ln(latency).", 0.0, 5.0),
        "latency_spread_ms": _f(float, 20.0, "uniform: half-width around latency_ms.", 0.0, 1e6),
        "latency_alpha": _f(float, 2.5, "pareto: shape alpha (> 1 for a finite mean).", 1.01, 100),
        "link_spread": _f(float, 0.3, "Per-link factor on latency: exp(N(0, link_spread)), drawn "
                          "once per link (some links are slower than others).", 0.0, 3.0),
        "loss": _f(float, 0.0, "Probability a message is lost.", 0.0, 1.0),
        "duplicate": _f(float, 0.0, "Probability a message is delivered twice.", 0.0, 1.0),
        "reorder": _f(float, 0.0, "Probability a message is held back by reorder_delay_ms "
                      "(so later messages overtake it).", 0.0, 1.0),
        "reorder_delay_ms": _f(float, 200.0, "Extra delay of a reordered message.", 0.0, 1e6),
        "bandwidth_bytes_per_s": _f(float, 0.0, "Uplink of each node; messages queue behind "
                                    "each other (0 = unlimited).", 0.0, 1e12),
        "message_overhead_bytes": _f(int, 64, "Framing/transport bytes added to every message "
                                     "in the byte counts and the bandwidth model.", 0, 65536),
    },
    "dissemination": {
        "model": _f(str, "gossipsub", "gossipsub mesh, or classic rumor spreading on the "
                    "complete graph (push, pull, push-pull), or none (sync only).",
                    choices=("gossipsub", "push", "pull", "push-pull", "none")),
        "mesh_degree": _f(int, 6, "gossipsub D: mesh peers each node picks (links are "
                          "symmetric, so degrees are about 2D at most).", 1, 1000),
        "lazy_degree": _f(int, 6, "gossipsub D_lazy: non-mesh peers sent IHAVE per heartbeat "
                          "(0 = no lazy gossip).", 0, 1000),
        "heartbeat_s": _f(float, 1.0, "gossipsub heartbeat (lazy gossip) period.", 0.01, 1e5),
        "history_heartbeats": _f(int, 3, "gossipsub mcache: heartbeats a message is "
                                 "advertised in IHAVE and served to IWANT.", 1, 1000),
        "round_s": _f(float, 1.0, "push/pull: round length (all nodes act at k*round_s).",
                      0.001, 1e5),
        "rumor_rounds": _f(int, 0, "push/pull: rounds a node keeps spreading a rumor "
                           "(0 = until the run ends).", 0, 100000),
    },
    "core": {
        "sync": _f(bool, True, "Tell cores about their connections (peer_up), which starts "
                   "the core's anti-entropy sync."),
        "sync_interval_s": _f(float, 5.0, "CoreParams.sync_interval_s.", 0.01, 1e7),
        "request_retry_s": _f(float, 3.0, "CoreParams.request_retry_s.", 0.01, 1e7),
        "pending_ttl_s": _f(float, 300.0, "CoreParams.pending_ttl_s.", 0.01, 1e7),
        "pending_max": _f(int, 10_000, "CoreParams.pending_max.", 1, 10**7),
    },
    "workload": {
        "promise_rate_per_s": _f(float, 1 / 60, "Promises per agent per second (Poisson).",
                                 0.0, 1e4),
        "due_s": _f(float, 60.0, "A promise is due this long after it is made.", 1.0, 1e7),
        "fulfil_min_frac": _f(float, 0.1, "A kept promise is fulfilled at a uniform fraction "
                              "of due_s in [min, max].", 0.0, 1.0),
        "fulfil_max_frac": _f(float, 0.8, "See fulfil_min_frac.", 0.0, 1.0),
        "assess_prob": _f(float, 0.1, "Probability an agent assesses a promise it received, "
                          "assess_delay_s after it is due.", 0.0, 1.0),
        "assess_delay_s": _f(float, 10.0, "See assess_prob.", 0.0, 1e7),
        "deps_max": _f(int, 2, "A new promise builds on (deps) up to this many of the "
                       "latest tokens the agent accepted from others.", 0, 64),
        "start_s": _f(float, 1.0, "The workload starts then.", 0.0, 1e7),
        "stop_s": _f(float, 0.0, "No new promises after this (0 = duration_s / 2); leaves "
                     "time for the network to converge.", 0.0, 1e7),
        "payload_bytes": _f(int, 32, "Size of the free text in a promise body.", 0, 100_000),
        "promisee_assess_prob": _f(float, 0.0, "Probability the promisee assesses a promise "
                                   "made to it, from the ground truth, assess_delay_s after it "
                                   "is due (instead of assess_prob). Above 0 every promise "
                                   "names a promisee (`to`): another issuing agent drawn "
                                   "uniformly; at 0 promises name none.", 0.0, 1.0),
    },
    "agents": {
        "behaviour": _f(str, "honest", "Behaviour of the group (sim/behaviours.py).",
                        choices=tuple(sorted(BEHAVIOURS)), required=True),
        "count": _f(int, 1, "Nodes in the group.", 1, 10**6, required=True),
        "name": _f(str, "", "Group name (defaults to the behaviour)."),
    },
    "faults.partitions": {
        "at_s": _f(float, 0.0, "The partition starts.", 0.0, 1e7, required=True),
        "heal_s": _f(float, 0.0, "The partition heals.", 0.0, 1e7, required=True),
        "parts": _f(int, 2, "Number of sides; nodes are assigned uniformly at random.", 2, 1000),
    },
    "faults.churn": {
        "crash_rate_per_s": _f(float, 0.0, "Crashes per node per second (Poisson).", 0.0, 1e3),
        "down_min_s": _f(float, 5.0, "A crashed node restarts after U(down_min_s, down_max_s).",
                         0.0, 1e7),
        "down_max_s": _f(float, 30.0, "See down_min_s.", 0.0, 1e7),
        "start_s": _f(float, 0.0, "Crashes happen from then...", 0.0, 1e7),
        "stop_s": _f(float, 0.0, "...until then (0 = the workload's stop_s).", 0.0, 1e7),
        "cut_prob": _f(float, 0.5, "Probability a crash strikes in the middle of a node's "
                       "output list (later outputs are lost, earlier Persists survive).",
                       0.0, 1.0),
        "max_down_frac": _f(float, 0.3, "A crash is skipped while this share of nodes is down.",
                            0.0, 1.0),
    },
    "faults.crashes": {
        "at_s": _f(float, 0.0, "When.", 0.0, 1e7, required=True),
        "node": _f(int, 0, "Node index (0-based, in [[agents]] order).", 0, 10**7,
                   required=True),
        "down_s": _f(float, 10.0, "How long it stays down.", 0.0, 1e7),
        "cut": _f(bool, False, "Strike in the middle of the node's next output list."),
    },
    "faults.clock": {
        "skew_max_s": _f(float, 0.0, "Each node's clock offset ~ U(-max, max).", 0.0, 1e6),
        "drift_max_ppm": _f(float, 0.0, "Each node's clock rate error ~ U(-max, max) ppm.",
                            0.0, 1e5),
    },
    "checks": {
        "converge_within_s": _f(float, 120.0, "After the last heal/restart/token, faithful "
                                "live nodes must hold the same token set within this.",
                                0.0, 1e7),
        "driver_order": _f(str, "persist-first", "How the simulator executes a core's output "
                           "list. network-first is a deliberate bug (sends before persisting) "
                           "that the checkers must catch.",
                           choices=("persist-first", "network-first")),
    },
    "metrics": {
        "observers": _f(int, 8, "Honest nodes whose own trust observer is read for verdict, "
                        "trust and consensus metrics (others run without one).", 0, 10_000),
        "consensus_track_max": _f(int, 100, "Honest promises followed for consensus settle "
                                  "time.", 0, 100_000),
        "trust_every_s": _f(float, 0.0, "Also compute trust metrics at this period "
                            "(0 = only at the end).", 0.0, 1e7),
    },
    # Optional: without a [slots] table no agent claims a slot (sim/slots.py).
    "slots": {
        "every_s": _f(float, 20.0, "A new slot opens this often from start_s until stop_s.",
                      0.01, 1e7),
        "start_s": _f(float, 5.0, "The first slot opens then.", 0.0, 1e7),
        "stop_s": _f(float, 0.0, "No slot opens after this (0 = the workload's stop_s).",
                     0.0, 1e7),
        "claimants": _f(int, 2, "Agents (honest, drawn uniformly) that claim each slot.",
                        1, 1000),
        "spread_s": _f(float, 2.0, "The first claimant claims when the slot opens, the others "
                       "at uniform times up to this much later.", 0.0, 1e7),
        "build_delay_s": _f(float, 0.1, "An honest agent builds on (deps) the first claim "
                            "of a slot it accepts this long after accepting it.", 0.0, 1e7),
    },
    # Optional: without a [vote] table a scenario runs no vote (sim/vote.py).
    "vote": {
        "members": _f(list, [], "[[agents]] group names whose nodes are the charter's founding "
                      "members. Member groups of behaviour equivocator are the equivocating "
                      "voters (two ballots at one seq, by a lost write).", required=True),
        "stuffers": _f(list, [], "Groups of non-members that vote anyway (ballot stuffing)."),
        "proposals": _f(int, 1, "Proposals the proposer (the first honest member) makes under "
                        "the current view at propose_at_s.", 1, 64),
        "method": _f(str, "single", "Counting method of every proposal.",
                     choices=("single", "approval", "ranked")),
        "options": _f(list, ["yes", "no"], "Options of every proposal (2..64 distinct names)."),
        "charter_at_s": _f(float, 1.0, "The proposer issues the charter.", 0.0, 1e7),
        "propose_at_s": _f(float, 10.0, "The proposer makes the proposals.", 0.0, 1e7),
        "closes_after_s": _f(float, 120.0, "A proposal closes this long after it is made "
                             "(on the proposer's clock).", 1.0, 1e7),
        "vote_window_s": _f(float, 60.0, "Members vote at uniform times in (propose_at_s, "
                            "propose_at_s + vote_window_s]; re-votes later in that window.",
                            0.001, 1e7),
        "yes_prob": _f(float, 0.6, "Probability a member's first ballot puts the first option "
                       "first (single: picks it; approval: approves it; ranked: ranks it "
                       "first).", 0.0, 1.0),
        "revote_prob": _f(float, 0.2, "Probability a member changes its mind: a second on-time "
                          "ballot with another choice supersedes the first.", 0.0, 1.0),
        "late_prob": _f(float, 0.1, "Probability a member also votes late (another choice, "
                        "late_after_s after closes + skew allowance): kept, never counted.",
                        0.0, 1.0),
        "late_after_s": _f(float, 10.0, "See late_prob.", 1.0, 1e6),
        "equivocate_at_s": _f(float, 0.0, "When the equivocating voters sign their two ballots "
                              "(0 = a uniform time in the voting window); not during a "
                              "partition.", 0.0, 1e7),
    },
}


def describe_fields() -> str:
    """A plain-text reference of every field (for `troth sim fields` and docs)."""
    lines: list[str] = []
    for section, specs in FIELDS.items():
        head = f"[[{section}]]" if section in ("agents", "faults.partitions",
                                                "faults.crashes") else f"[{section}]"
        lines.append(head)
        for k, s in specs.items():
            rng = ""
            if s.choices:
                rng = " one of " + "|".join(s.choices)
            elif s.lo is not None:
                rng = f" in [{s.lo:g}, {s.hi:g}]"
            req = " (required)" if s.required else f" = {s.default!r}"
            lines.append(f"  {k}: {s.type.__name__}{req}{rng}  {s.doc}")
        lines.append("")
    lines.append("[[agents]] behaviour parameters:")
    for name in sorted(BEHAVIOURS):
        b = BEHAVIOURS[name]
        lines.append(f"  {name}: {b.doc}")
        for k, s in b.params.items():
            lines.append(f"    {k}: {s.type.__name__} = {s.default!r}  {s.doc}")
    return "\n".join(lines)
