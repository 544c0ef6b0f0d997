"""The node's garbage-collector policy (node/app/heap.py): the long-lived heap
is frozen out of the collector's passes, new survivors are frozen every
FREEZE_EVERY_S, and a full pass every FULL_EVERY_S still reclaims a cycle
that became garbage while frozen."""

from __future__ import annotations

import gc
import logging
import weakref

import pytest
import trio
import trio.testing

from node.app import heap


class _Cell:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


async def test_the_heap_is_frozen_then_a_dead_frozen_cycle_is_freed_by_the_hourly_pass(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(heap.keep_heap)
        await trio.sleep(1)
        frozen = gc.get_freeze_count()
        assert frozen > 0
        # A second keeper in the same process does nothing.
        with trio.fail_after(1):
            await heap.keep_heap()
        cell = _Cell()
        alive = weakref.ref(cell)
        await trio.sleep(heap.FREEZE_EVERY_S)
        assert gc.get_freeze_count() > frozen  # the new survivor, frozen with the rest
        del cell
        gc.collect()
        assert alive() is not None  # frozen: no pass looks at it
        await trio.sleep(heap.FULL_EVERY_S)
        assert alive() is None  # the full pass unfroze and freed it
        assert gc.get_freeze_count() > 0
        nursery.cancel_scope.cancel()
    assert gc.get_freeze_count() == 0  # stopped: the heap is the collector's again



async def test_the_keeper_counts_the_frozen_heap_only_when_that_is_logged(
        autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # Counting walks the whole frozen heap (tens of ms for a real node): a
    # pause the node pays every FREEZE_EVERY_S for a log line nobody reads.
    counted = []
    real_count = gc.get_freeze_count
    monkeypatch.setattr(heap.gc, "get_freeze_count", lambda: counted.append(1) or real_count())

    class Log:  # (the suite's logging setup is not this test's business)
        level = logging.INFO
        lines: list[str] = []

        def isEnabledFor(self, level: int) -> bool:
            return level >= self.level

        def debug(self, msg: str, *args: object) -> None:
            self.lines.append(msg % args)

    fake = Log()
    monkeypatch.setattr(heap, "log", fake)
    monkeypatch.setattr(heap, "_keeper_running", False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(heap.keep_heap)
        await trio.sleep(3.5 * heap.FREEZE_EVERY_S)  # (between two passes, not at one)
        assert heap._keeper_running and counted == [] and fake.lines == []
        fake.level = logging.DEBUG
        await trio.sleep(heap.FREEZE_EVERY_S)
        assert counted == [1] and len(fake.lines) == 1
        nursery.cancel_scope.cancel()
