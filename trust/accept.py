"""Acceptance through `deps`: who builds on which watched token.

Theory of operation (docs/design.md, Consensus). Agent a accepts token T when some
token of a reaches T through `deps`, transitively; issuing T is accepting it.
Materialising every (agent, token) pair would cost agents x tokens, so only
*watched* tokens (members of conflict sets: slot claims, equivocating pairs)
are tracked. Each watched token owns one bit; every token carries the int
bitset of the watched tokens it reaches (its own bit included), the OR of its
deps' sets; every agent carries the OR over its tokens. A new token therefore
costs one OR per dep plus one per newly accepted (agent, watched) pair: work
proportional to what it changes, never to the length of the chain it extends.

Order independence: a token may arrive before its deps (the node delivers
causally, tests do not). Children are indexed by dep cid even while the dep
is missing; when it arrives, its bits are pushed down to the children that are
present, visiting only nodes whose sets grow. Watching a token late (the
second half of an equivocation shows up) pushes its new bit down the same
way: cost = the token's descendants, which is what its support depends on.

Invariant: for every present token x, bits[x] == own bit | OR(bits[d] for
present d in deps[x]) once `add` returns; acc[a] == OR(bits[x] for x by a).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["AcceptanceGraph"]


class AcceptanceGraph:
    """Incremental watched-ancestor bitsets over the deps DAG."""

    __slots__ = ("_issuer", "_deps", "_children", "_bits", "_bit_of", "_cid_of_bit", "_acc",
                 "_accepters")

    def __init__(self) -> None:
        self._issuer: dict[str, str] = {}
        self._deps: dict[str, tuple[str, ...]] = {}
        self._children: dict[str, list[str]] = {}
        self._bits: dict[str, int] = {}
        self._bit_of: dict[str, int] = {}
        self._cid_of_bit: list[str] = []
        self._acc: dict[str, int] = {}
        self._accepters: list[set[str]] = []

    def __contains__(self, cid: str) -> bool:
        return cid in self._issuer

    def add(self, cid: str, issuer: str, deps: tuple[str, ...]) -> set[str]:
        """Insert a token; returns the watched cids that gained an accepter."""
        assert cid not in self._issuer, cid
        self._issuer[cid] = issuer
        self._deps[cid] = deps
        bits = 0
        for d in deps:
            self._children.setdefault(d, []).append(cid)
            b = self._bits.get(d)
            if b:
                bits |= b
        self._bits[cid] = bits
        changed: set[int] = set()
        self._credit(issuer, bits, changed)
        if cid in self._children:  # children that arrived first
            self._push(cid, bits, changed)
        return {self._cid_of_bit[i] for i in changed}

    def watch(self, cid: str) -> set[str]:
        """Start tracking the accepters of a present token; returns {cid} if it gained any."""
        assert cid in self._issuer, cid
        if cid in self._bit_of:
            return set()
        i = len(self._cid_of_bit)
        self._bit_of[cid] = i
        self._cid_of_bit.append(cid)
        self._accepters.append(set())
        bit = 1 << i
        self._bits[cid] |= bit
        changed: set[int] = set()
        self._credit(self._issuer[cid], bit, changed)
        self._push(cid, bit, changed)
        return {self._cid_of_bit[j] for j in changed}

    def accepters(self, cid: str) -> frozenset[str]:
        """Agents that accept `cid` (its issuer and every agent building on it)."""
        i = self._bit_of.get(cid)
        if i is not None:
            return frozenset(self._accepters[i])
        if cid not in self._issuer:
            return frozenset()
        # Not watched: one walk over the present descendants, no state kept.
        seen = {cid}
        stack = [cid]
        out = set()
        while stack:
            x = stack.pop()
            out.add(self._issuer[x])
            for c in self._children.get(x, ()):
                if c not in seen and c in self._issuer:
                    seen.add(c)
                    stack.append(c)
        return frozenset(out)

    def accepted_by(self, agent: str) -> list[str]:
        """Watched cids that `agent` accepts, in bit order."""
        return [self._cid_of_bit[i] for i in _bit_indices(self._acc.get(agent, 0))]

    # -- internals -------------------------------------------------------------

    def _credit(self, agent: str, bits: int, changed: set[int]) -> None:
        acc = self._acc.get(agent, 0)
        new = bits & ~acc
        if new:
            self._acc[agent] = acc | new
            for i in _bit_indices(new):
                self._accepters[i].add(agent)
                changed.add(i)

    def _push(self, start: str, bits: int, changed: set[int]) -> None:
        stack = [(start, bits)]
        while stack:
            x, b = stack.pop()
            for c in self._children.get(x, ()):
                cb = self._bits.get(c)
                if cb is None:
                    continue  # child not present (cannot happen for a dep we hold)
                new = b & ~cb
                if new:
                    self._bits[c] = cb | new
                    self._credit(self._issuer[c], new, changed)
                    stack.append((c, new))


def _bit_indices(bits: int) -> Iterable[int]:
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low
