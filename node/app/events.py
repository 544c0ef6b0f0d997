"""The node's live event stream: core reports fanned out to API subscribers.

Theory of operation: the runtime's `_dispatch` hands every batch of core
outputs to `EventHub.publish`; the reports a user can watch (a token accepted,
a verdict, trust, consensus or a proposal's outcome changed) become JSON-ready
dicts (`event_of`) and are put on each subscriber's bounded queue. Publishing
never waits: the node must not slow down for a reader, so a subscriber whose
queue is full loses events, and the next thing it reads is one `lost` marker
with their count, in the place where they went missing. `GET /v1/events`
(node/app/api.py) turns a subscription into Server-Sent Events.

The hub also keeps `TrustHistory`: each agent's last trust opinions, as they
changed while this node ran (`GET /v1/trust/history`), so a page that opens
later can still draw how trust moved. It is a memory of this run, not a fact
of the tokens: a restart begins it again.

Everything here runs on the node's one trio thread; `publish` is synchronous.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import trio

from node.core import (
    ConsensusChanged,
    OutcomeChanged,
    Output,
    TokenAccepted,
    TrustChanged,
    VerdictChanged,
)

from .service import consensus_json, opinion_json, verdict_json

__all__ = ["EventHub", "Subscription", "TooManySubscribers", "TrustHistory", "event_of",
           "EVENT_QUEUE_MAX", "SUBSCRIBERS_MAX", "HISTORY_POINTS_MAX", "HISTORY_AGENTS_MAX"]

# Events held for one subscriber that does not read. A burst of sync after a
# partition heals applies thousands of tokens in a second; 1,024 events of at
# most ~1 KiB each bound a stalled reader to ~1 MiB, and a reader that falls
# this far behind is told how much it missed (it can re-read the state with
# the query routes) instead of holding the node's memory.
EVENT_QUEUE_MAX = 1024
# Watchers at once: the API is loopback-only and token-guarded, so this bounds
# a buggy script (each subscriber costs its queue), not an attacker.
SUBSCRIBERS_MAX = 16


# Trust opinions kept per agent: enough for a sparkline of the recent past.
HISTORY_POINTS_MAX = 64
# Agents whose history is kept (the least recently changed is forgotten first):
# 4,096 x 64 points of ~100 bytes bound it to ~25 MiB in the worst case.
HISTORY_AGENTS_MAX = 4096


class TooManySubscribers(Exception):
    pass


class TrustHistory:
    """Per agent, its last HISTORY_POINTS_MAX trust opinions with when they changed."""

    def __init__(self) -> None:
        self._points: OrderedDict[str, deque[dict[str, Any]]] = OrderedDict()

    def record(self, o: TrustChanged, now: float) -> None:
        points = self._points.pop(o.agent, None)
        if points is None:
            points = deque(maxlen=HISTORY_POINTS_MAX)
            if len(self._points) >= HISTORY_AGENTS_MAX:
                self._points.popitem(last=False)
        points.append({"at": now, **opinion_json(o.agent, o.opinion)})
        self._points[o.agent] = points

    def of(self, agent: str) -> list[dict[str, Any]]:
        """Oldest first."""
        return list(self._points.get(agent, ()))


def event_of(o: Output) -> dict[str, Any] | None:
    """The watchable form of one core output (None: not shown to watchers)."""
    if isinstance(o, TokenAccepted):
        t = o.token
        return {"event": "token", "cid": t.cid, "kind": t.kind, "issuer": t.issuer,
                "seq": t.seq, "scope": t.scope, "peer": o.peer}
    if isinstance(o, VerdictChanged):
        return {"event": "verdict", **verdict_json(o.verdict)}
    if isinstance(o, TrustChanged):
        return {"event": "trust", **opinion_json(o.agent, o.opinion)}
    if isinstance(o, ConsensusChanged):
        return {"event": "consensus", **consensus_json(o.consensus)}
    if isinstance(o, OutcomeChanged):
        oc = o.outcome
        return {"event": "outcome", "proposal": oc.proposal, "state": oc.state,
                "result": oc.result}
    return None


class Subscription:
    """One watcher's bounded queue; read it with `get` until it returns None."""

    def __init__(self, hub: EventHub, max_events: int) -> None:
        self._hub = hub
        self._max = max_events
        self._queue: deque[dict[str, Any]] = deque()
        self._lost = 0
        self._closed = False
        self._ready = trio.Event()

    def put(self, event: dict[str, Any]) -> None:
        if self._lost and len(self._queue) < self._max:
            # The marker goes where the events went missing, before newer ones.
            self._queue.append({"event": "lost", "count": self._lost})
            self._lost = 0
        if len(self._queue) < self._max:
            self._queue.append(event)
        else:
            self._lost += 1
        self._ready.set()

    async def get(self) -> dict[str, Any] | None:
        """The next event; None once the hub is closed (the node is stopping)."""
        while not self._queue and not self._lost and not self._closed:
            self._ready = trio.Event()
            await self._ready.wait()
        if self._queue:
            return self._queue.popleft()
        if self._lost:
            lost, self._lost = self._lost, 0
            return {"event": "lost", "count": lost}
        return None

    def close(self) -> None:
        self._closed = True
        self._ready.set()
        self._hub._subscribers.discard(self)


class EventHub:
    def __init__(self, *, queue_max: int = EVENT_QUEUE_MAX,
                 subscribers_max: int = SUBSCRIBERS_MAX,
                 clock: Callable[[], float] = time.time) -> None:
        self.queue_max = queue_max
        self.subscribers_max = subscribers_max
        self.clock = clock
        self.trust_history = TrustHistory()
        self._subscribers: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        if len(self._subscribers) >= self.subscribers_max:
            raise TooManySubscribers(f"{self.subscribers_max} event watchers already")
        sub = Subscription(self, self.queue_max)
        self._subscribers.add(sub)
        return sub

    def publish(self, outs: list[Output]) -> None:
        for o in outs:
            if isinstance(o, TrustChanged):
                self.trust_history.record(o, self.clock())
        if not self._subscribers:
            return
        for o in outs:
            event = event_of(o)
            if event is not None:
                for sub in self._subscribers:  # (put never changes the set)
                    sub.put(event)

    def close(self) -> None:
        """End every subscription (their streams finish)."""
        for sub in list(self._subscribers):
            sub.close()

    def __len__(self) -> int:
        return len(self._subscribers)
