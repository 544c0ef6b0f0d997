"""Short garbage-collector pauses for a long-running node.

Theory of operation. CPython's cyclic collector stops the whole process for
its oldest-generation pass, and that pass walks every tracked object. A node's
state is hundreds of thousands of such objects (tokens, their frozendict
bodies, index and observer entries), and nearly all of it lives as long as
the node. In `bench.net` (ten runtimes in one process) that pass took up to
166 ms, several times a minute. Every peer's gossip waited it out, which is
where propagation's p99 came from.

So the node keeps its long-lived heap out of the collector's way:

- once the store is replayed, collect and then `gc.freeze()`: everything alive
  moves to the permanent generation, which no automatic pass walks;
- every `FREEZE_EVERY_S`, collect what is not frozen (only what was allocated
  since the last freeze) and freeze the survivors;
- every `FULL_EVERY_S`, unfreeze everything first, so that a cycle of frozen
  objects that has since become garbage (a closed connection's, say) is
  reclaimed after all. That is one full pass an hour, at a moment the node
  chooses, instead of whenever allocation triggers one.

Reference counting, which frees almost everything, is unaffected. One keeper
runs per process (several runtimes in one process share it).
"""

from __future__ import annotations

import gc
import logging
import time

import trio

__all__ = ["FREEZE_EVERY_S", "FULL_EVERY_S", "keep_heap"]

log = logging.getLogger("troth.node")

FREEZE_EVERY_S = 10.0
FULL_EVERY_S = 3600.0

_keeper_running = False


def _collect_and_freeze(full: bool) -> None:
    t0 = time.perf_counter()
    if full:
        gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    pause_ms = (time.perf_counter() - t0) * 1000
    if log.isEnabledFor(logging.DEBUG):
        # (get_freeze_count walks the whole frozen heap: 50 ms for a node with
        # a few hundred thousand objects, so only when it is logged)
        log.debug("event=heap_frozen full=%s collected=%d frozen=%d pause_ms=%.1f", full,
                  found, gc.get_freeze_count(), pause_ms)


async def keep_heap() -> None:
    """Run the policy above until cancelled (returns at once if another
    runtime of this process runs it already)."""
    global _keeper_running
    if _keeper_running:
        return
    _keeper_running = True
    try:
        _collect_and_freeze(full=False)
        since_full = 0.0
        while True:
            await trio.sleep(FREEZE_EVERY_S)
            since_full += FREEZE_EVERY_S
            full = since_full >= FULL_EVERY_S
            if full:
                since_full = 0.0
            _collect_and_freeze(full)
    finally:
        gc.unfreeze()  # (a stopped node's heap is the collector's again)
        _keeper_running = False
