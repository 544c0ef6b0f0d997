"""The events on the simulator's heap, one record type per kind.

Theory of operation (docs/sim.md, "Model"). Every event is handed to exactly
one node (or to the whole world: a partition, a churn draw, a sample), and
its record says which and with what. The loop (sim/loop.py) orders them by
(time, scheduling sequence number); the records themselves are never
compared. They are NamedTuples rather than frozen dataclasses because a run
makes millions (one per message in flight) and a tuple is the cheapest
immutable record Python builds.

`describe()` gives the (kind name, node, argument) that violation reports and
`troth sim replay` print; it keeps the text of the older tuple events (a
message or a frame has no argument there; every other kind shows its first
field after the node).

This module is a leaf: it imports nothing of the simulator.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Gossip", "Frame", "Tick", "IHave", "IWant", "Pull", "Heartbeat", "Act", "Fault",
           "Sample", "Event", "describe", "A_PROMISE", "A_FULFIL", "A_ASSESS", "A_FORK",
           "A_FORGE", "A_ONE", "A_CHARTER", "A_PROPOSAL", "A_BALLOT", "A_CLAIM", "A_BUILD",
           "F_PART", "F_HEAL", "F_CRASH", "F_RESTART", "F_CUT_TIMEOUT", "F_CHURN",
           "TRACE_GOSSIP", "TRACE_FRAME"]

# Agent actions (`Act.action`); the numbers appear in the trace ("a node action").
A_PROMISE, A_FULFIL, A_ASSESS, A_FORK, A_FORGE, A_ONE = range(6)
# Vote actions ([vote], sim/vote.py)
A_CHARTER, A_PROPOSAL, A_BALLOT = range(6, 9)
# Slot actions ([slots], sim/slots.py)
A_CLAIM, A_BUILD = range(9, 11)
# Faults (`Fault.what`); the numbers appear in the trace ("x node what arg").
F_PART, F_HEAL, F_CRASH, F_RESTART, F_CUT_TIMEOUT, F_CHURN = range(6)
# The code of a handled network message in the trace's numbers.
TRACE_GOSSIP = 0
TRACE_FRAME = 1


class Gossip(NamedTuple):
    """A gossip token arrives at `dst` from `src` (by message id, sim/codec.py)."""

    dst: int
    src: int
    mid: int


class Frame(NamedTuple):
    """A sync frame arrives at `dst`'s core from `src`."""

    dst: int
    src: int
    data: bytes


class Tick(NamedTuple):
    """A core timer (`Core.next_deadline()`); stale once the node has crashed since."""

    node: int
    incarnation: int


class IHave(NamedTuple):
    """Gossipsub lazy gossip: `src` offers `dst` these message ids."""

    dst: int
    src: int
    ids: tuple[int, ...]


class IWant(NamedTuple):
    """Gossipsub: `src` asks `dst` for these message ids it offered."""

    dst: int
    src: int
    ids: tuple[int, ...]


class Pull(NamedTuple):
    """Rumor spreading: `src` asks `dst` for the rumors it lacks."""

    dst: int
    src: int


class Heartbeat(NamedTuple):
    """A router's period: a gossipsub heartbeat (`tag` = incarnation) or a rumor
    round (`tag` = round number)."""

    node: int
    tag: int


class Act(NamedTuple):
    """An agent action (A_*) of `node`, with its argument (a cid, (cid, verdict), ...)."""

    node: int
    action: int
    arg: Any = None


class Fault(NamedTuple):
    """A fault (F_*) at `node` (-1: the whole network), with its argument."""

    node: int
    what: int
    arg: Any = None


class Sample(NamedTuple):
    """A metrics sample and convergence check of the whole world."""


Event = Gossip | Frame | Tick | IHave | IWant | Pull | Heartbeat | Act | Fault | Sample

_NAMES: dict[type, str] = {Gossip: "msg", Frame: "frame", Tick: "tick", IHave: "ihave",
                           IWant: "iwant", Pull: "pull", Heartbeat: "heartbeat", Act: "agent",
                           Fault: "fault", Sample: "sample"}


def describe(ev: Event) -> tuple[str, int, Any]:
    """(kind name, node, argument) of an event, for reports."""
    name = _NAMES[type(ev)]
    if isinstance(ev, Sample):
        return name, -1, None
    if isinstance(ev, Gossip | Frame):
        return name, ev.dst, None
    if isinstance(ev, Tick | Heartbeat | Act | Fault):
        return name, ev.node, ev[1]
    return name, ev.dst, ev.src
