"""A router's seen cache: which gossip message ids a node has seen, in bounded memory.

Theory of operation (docs/sim.md, "Dissemination"). Message ids are small
ints handed out in first-seen order across the run (sim/codec.py), so a node
sees them roughly in increasing order. The cache keeps one byte per id for a
sliding `window` of ids starting at `base` (1 = seen). Below the window an id
counts as seen unless it lies in one of the `gaps`: the runs of ids the node
had not seen when the window slid past them. So the answer is exactly what an
unbounded cache would give, while the memory is at most SEEN_WINDOW bytes plus
two ints per gap (a node that sees everything has none; one that was down or
cut off for a while has one per stretch it missed).

The hot paths (sim/network.py's mesh push, sim/routers.py's receiving side)
read `window` and `base` directly and call `saw`/`mark` only for ids outside
the window.
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = ["SeenCache", "SEEN_WINDOW"]

# Most message ids a window covers; past it, the window slides by half.
SEEN_WINDOW = 4096
# The window grows by at least this many ids at a time (up to SEEN_WINDOW).
_GROW = 64


class SeenCache:
    """The seen message ids of one node's router (see the module docstring)."""

    __slots__ = ("window", "base", "gaps")

    def __init__(self) -> None:
        self.window = bytearray()  # id base + k seen iff window[k] == 1
        self.base = 0
        # Unseen ids below `base`: sorted, disjoint [lo, hi) runs flattened to
        # [lo0, hi0, lo1, hi1, ...], so an id is in a gap iff bisect_right is odd.
        self.gaps: list[int] = []

    def saw(self, mid: int) -> bool:
        k = mid - self.base
        if k >= 0:
            window = self.window
            return k < len(window) and window[k] == 1
        return not bisect_right(self.gaps, mid) & 1

    def unseen(self, mids: tuple[int, ...]) -> list[int]:
        """The ids of `mids` not seen, in order (an IHAVE's wanted ids)."""
        window, base = self.window, self.base
        n = len(window)
        return [m for m in mids if not (window[m - base] if 0 <= m - base < n
                                        else m < base and self.saw(m))]

    def mark(self, mid: int) -> None:
        """`mid` is seen."""
        k = mid - self.base
        if k < 0:
            self._fill(mid)
            return
        window = self.window
        if k >= len(window):
            if k >= SEEN_WINDOW:
                self._slide(mid)
                k = mid - self.base
                window = self.window
            window.extend(bytes(max(k + 1, min(k + _GROW, SEEN_WINDOW)) - len(window)))
        window[k] = 1

    def _fill(self, mid: int) -> None:
        """An id below the window is seen: take it out of its gap, if in one."""
        gaps = self.gaps
        i = bisect_right(gaps, mid)
        if i & 1:
            lo, hi = gaps[i - 1], gaps[i]
            gaps[i - 1:i + 1] = [x for pair in ((lo, mid), (mid + 1, hi)) if pair[0] < pair[1]
                                 for x in pair]

    def _slide(self, mid: int) -> None:
        """Move the window up so that `mid` falls in its lower half; what it
        leaves behind unseen becomes gaps."""
        base = self.base
        new_base = mid + 1 - SEEN_WINDOW // 2
        window = self.window
        kept = min(new_base - base, len(window))
        k = window.find(0, 0, kept)
        while k != -1:
            end = window.find(1, k, kept)
            if end == -1:
                end = kept
            self._gap(base + k, base + end)
            k = window.find(0, end, kept)
        if base + len(window) < new_base:  # ids past the old window, never seen
            self._gap(base + len(window), new_base)
        del window[:kept]
        self.base = new_base

    def _gap(self, lo: int, hi: int) -> None:
        gaps = self.gaps
        if gaps and gaps[-1] == lo:
            gaps[-1] = hi
        else:
            gaps.extend((lo, hi))
