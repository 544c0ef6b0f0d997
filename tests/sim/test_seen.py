"""The bounded seen cache answers exactly as an unbounded one would.

Unit: random marks and queries (`saw`, and `unseen` for an IHAVE's ids)
against a plain set, with a tiny window so it slides often (gaps made, split
and merged). End to end: shipped scenarios run
with a window of 8 ids (so every node's window slides many times, and crashes
and partitions leave gaps) and must end with their pinned digests and metrics.
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from sim import World, run_one
from sim import seen as seen_module
from sim.seen import SeenCache

from .conftest import small
from .test_digests import PINNED


def test_matches_a_set_under_random_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seen_module, "SEEN_WINDOW", 16)
    rng = random.Random(5)
    cache, truth = SeenCache(), set()
    for step in range(20_000):
        # Mostly rising ids with stragglers far below, as gossip arrives.
        mid = max(0, step // 4 + rng.randint(-60, 10)) if rng.random() < 0.9 else \
            rng.randrange(step // 4 + 1)
        if rng.random() < 0.3:
            cache.mark(mid)
            truth.add(mid)
        probe = rng.randrange(step // 4 + 40)
        assert cache.saw(probe) == (probe in truth), (step, probe)
        if step % 50 == 0:  # an IHAVE's ids, around and below the window
            offer = tuple(rng.randrange(step // 4 + 40) for _ in range(12))
            assert cache.unseen(offer) == [m for m in offer if m not in truth], step
    assert len(cache.window) <= 16
    assert cache.base > 4000  # it slid
    assert cache.gaps, "the window slid past unseen ids: there are gaps to check"
    assert cache.gaps == sorted(cache.gaps)  # (each [lo, hi) non-empty, disjoint)
    assert all(lo < hi for lo, hi in zip(cache.gaps[::2], cache.gaps[1::2], strict=True))


def test_memory_is_bounded_for_a_node_that_sees_everything() -> None:
    cache = SeenCache()
    for mid in range(100_000):
        cache.mark(mid)
    assert len(cache.window) <= seen_module.SEEN_WINDOW and cache.gaps == []
    assert cache.saw(0) and cache.saw(99_999) and not cache.saw(100_000)


@pytest.mark.parametrize("key", ["churn/1", "partition-heal/7", "liars/1"])
def test_a_tiny_window_keeps_the_pinned_digests(key: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seen_module, "SEEN_WINDOW", 8)
    name, seed = key.split("/")
    kept: list[World] = []
    out = run_one(small(name), int(seed), keep_world=kept)
    assert max(node.seen.base for node in kept[0].nodes) > 8  # windows slid
    metrics = hashlib.sha256(json.dumps(out.metrics, sort_keys=True,
                                        default=str).encode()).hexdigest()[:16]
    assert (out.result.digest, metrics) == PINNED[key]
