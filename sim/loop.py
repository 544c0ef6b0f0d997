"""The event loop and the trace: virtual time, one heap, one digest.

Theory of operation (docs/sim.md, "Event loop" and "Determinism"). `Loop`
owns the heap of `(time_s, seq, event)` entries: `seq` is a counter bumped by
every `schedule`, unique, so entries never compare beyond it, simultaneous
events run in scheduling order, and a run is a pure function of (scenario,
master seed). Components `schedule` (the mesh push, the hottest caller,
pushes the very entries `schedule` would through `pusher()`), the replay
command `peek`s, and `run` pops each event and hands it to one dispatch
function (the world's).

The trace is what the run digest hashes, in order: every handled network
message as five little-endian doubles (`nums`, extended directly by the
delivery hot path) and every rare event as a text line (`note`), whose place
among the numbers is recorded too. It is fed to sha256 in chunks, which gives
the same digest as feeding it whole.

While it runs, the loop keeps the cyclic garbage collector out of the way.
A run's objects are nearly all live until the world is dropped, and at 2,000
nodes the collector's passes took 11% of a run's CPU walking them over and
over: its automatic passes are off for the run. Instead, every
`FREEZE_EVERY_EVENTS` the loop collects what is not frozen and freezes the
survivors (`gc.freeze`), so any cyclic garbage is bounded by what that many
events make (in the twelve shipped scenarios, passes every 65,536 events
found nothing, once 596 objects in `vote`) and no pass walks the whole world
twice. When the run ends the loop unfreezes
and restores the collector as it was, so a world dropped afterwards is
reclaimed (sweeps run many worlds in one process). Collection never touches
what a run computes: digests are the same.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import itertools
import math
import sys
from array import array
from collections.abc import Callable
from typing import Any

from .events import Event, describe

__all__ = ["Loop", "TRACE_CHUNK"]

# The trace digest is fed in chunks of this many numbers (same digest, fewer calls).
TRACE_CHUNK = 5 * 4096
# Events between two freezes of what the run allocated (a power of two: checked
# with a mask, inside the progress check's).
FREEZE_EVERY_EVENTS = 1 << 20


def _collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()


class Loop:
    """Virtual time, the event heap and the trace of one run."""

    def __init__(self, progress: Callable[[float, int], None] | None = None) -> None:
        self.now = 0.0
        self.events = 0  # events popped so far
        self.progress = progress
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = itertools.count(1).__next__  # the next scheduling sequence number
        self._current: Event | None = None  # the event being handled, and its time
        self._current_t = 0.0
        # The trace: numbers (time, code, node, arg, size) per message, plus text
        # lines for the rare events; both go into the digest in order.
        self.nums = array("d")
        self._notes: list[str] = []
        self._hash = hashlib.sha256()

    # -- the heap ----------------------------------------------------------------
    def schedule(self, t: float, ev: Event) -> None:
        """Run `ev` at virtual time `t` (after everything already scheduled for `t`)."""
        heapq.heappush(self._heap, (t, self._seq(), ev))

    def pusher(self) -> tuple[list[tuple[float, int, Event]], Callable[[], int]]:
        """The heap and its sequence counter, for the one hot path (the mesh push)
        that pushes `(t, next_seq(), ev)` itself: exactly what `schedule` does,
        without a call per event."""
        return self._heap, self._seq

    @property
    def scheduled(self) -> int:
        """Events scheduled so far (the benchmark compares with a bare heap loop):
        every one is either popped or still on the heap."""
        return self.events + len(self._heap)

    def peek(self) -> tuple[float, Event] | None:
        """The next event and its time, or None when nothing is left."""
        if not self._heap:
            return None
        t, _seq, ev = self._heap[0]
        return t, ev

    def pending(self) -> list[tuple[float, Event]]:
        """Every scheduled event with its time, in no particular order (tests)."""
        return [(t, ev) for t, _seq, ev in self._heap]

    def run(self, dispatch: Callable[[float, Event], None], end_s: float,
            until_event: int | None = None) -> None:
        """Pop and dispatch events until the heap is empty, the next one lies past
        `end_s`, or `until_event` events have run."""
        heap = self._heap
        pop = heapq.heappop
        nums = self.nums
        progress = self.progress
        limit = until_event if until_event is not None else math.inf
        freeze_mask = FREEZE_EVERY_EVENTS - 1
        was_enabled = gc.isenabled()
        gc.disable()
        _collect_and_freeze()
        try:
            while heap:
                if self.events >= limit:
                    return
                if heap[0][0] > end_s:
                    return
                t, _s, ev = pop(heap)
                self._current = ev
                self.now = self._current_t = t
                self.events = events = self.events + 1
                if not events & 0xFFFF:
                    if progress is not None:
                        progress(t, events)
                    if not events & freeze_mask:
                        _collect_and_freeze()
                dispatch(t, ev)
                if len(nums) >= TRACE_CHUNK:
                    self.flush()
        finally:
            gc.unfreeze()
            if was_enabled:
                gc.enable()

    def current_event(self) -> tuple[int, float, str, int, Any]:
        """(index, time, kind, node, argument) of the event being handled (the checkers)."""
        ev = self._current
        if ev is None:
            return (0, 0.0, "setup", -1, None)
        kind, node, arg = describe(ev)
        return (self.events, self._current_t, kind, node, arg)

    # -- the trace ---------------------------------------------------------------
    def note(self, t: float, text: str) -> None:
        """A rare event's trace line; its place among the numbers is recorded too."""
        self.nums.extend((t, -1, len(self._notes)))
        self._notes.append(text)

    def flush(self) -> None:
        """Feed the trace so far to the digest."""
        nums = self.nums
        if nums:
            if sys.byteorder != "little":
                nums.byteswap()  # the digest is the same on every machine
            self._hash.update(nums.tobytes())
            del nums[:]
        if self._notes:
            self._hash.update(("\n".join(self._notes) + "\n").encode())
            self._notes.clear()

    def digest(self, final: str) -> str:
        """The run digest: the whole trace, then the `final` line (the state digest)."""
        self.flush()
        self._hash.update(final.encode())
        return self._hash.hexdigest()
