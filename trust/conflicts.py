"""Conflict sets and their consensus: who leads among rival tokens.

Theory of operation (docs/trust.md, Consensus). A conflict set is either one
chain position of an issuer (`SeqKey`: two members are an equivocation) or
one `slot` declared in one scope (`SlotKey`; unscoped tokens share the
network-wide scope NETWORK_SCOPE). Members are watched in the
acceptance graph (trust/accept.py: who built on what); the support of a
member is the weighted share of the electorate accepting it, an agent that
also accepts a rival counting for neither, and the leader is the member with
the most support (`settled` past `consensus_threshold`).

`ConflictSets` does not judge equivocation: whoever indexes chains does (the
node core's token index) and says so with `equivocation(token, rivals)`. It
keeps the first token seen at every chain position, so a position with one
member answers `consensus` too (the simulator asks how fast an honest token
settles), and the members of every equivocated one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import wire

from .accept import AcceptanceGraph
from .values import (
    NETWORK_SCOPE,
    ConflictKey,
    Consensus,
    ConsensusState,
    Effects,
    SeqKey,
    SlotKey,
)

__all__ = ["ConflictSets", "Rival"]


class Rival(NamedTuple):
    """One member of a conflict set, as `ConflictSets.rivals` reports it.

    `accepters`: agents whose tokens build on it (its issuer included);
    `split`: those of them that accept a rival too, and so count for neither.
    """

    cid: str
    support: float
    accepters: frozenset[str]
    split: frozenset[str]


class ConflictSets:
    """The conflict sets over the tokens observed, and the acceptance graph."""

    __slots__ = ("graph", "charters", "_slots", "_keys_of", "_first_at", "_rivals")

    def __init__(self) -> None:
        self.graph = AcceptanceGraph()
        self.charters: dict[str, tuple[str, ...]] = {}  # scope cid -> members
        self._slots: dict[SlotKey, list[str]] = {}
        self._keys_of: dict[str, list[ConflictKey]] = {}  # member cid -> its conflict keys
        self._first_at: dict[tuple[str, int], str] = {}  # (issuer, seq) -> first cid seen
        self._rivals: dict[tuple[str, int], list[str]] = {}  # equivocated: all cids, sorted

    def add(self, token: wire.Token, fx: Effects) -> None:
        """Index a new token: its acceptance edges, its chain position, its slot."""
        fx.conflicts.update(self.keys_for(self.graph.add(token.cid, token.issuer, token.deps)))
        self._first_at.setdefault((token.issuer, token.seq), token.cid)
        slot = token.body.get("slot")
        if isinstance(slot, str):
            # An unscoped slot is the whole network's: every unscoped token
            # declaring it competes (docs/trust.md, Consensus).
            key = SlotKey(NETWORK_SCOPE if token.scope is None else token.scope, slot)
            self._slots.setdefault(key, []).append(token.cid)
            self._keys_of.setdefault(token.cid, []).append(key)
            self.graph.watch(token.cid)
            fx.conflicts.add(key)

    def add_charter(self, token: wire.Token, fx: Effects) -> None:
        members = token.body.get("members")
        if isinstance(members, tuple) and all(isinstance(m, str) for m in members):
            self.charters[token.cid] = tuple(sorted(set(members)))
            fx.conflicts.update(k for k in self._slots if k.scope == token.cid)

    def equivocation(self, token: wire.Token, rivals: Sequence[str], fx: Effects) -> None:
        """`token` shares its chain position with `rivals` (observed before):
        make the position a conflict set."""
        cids = sorted((*rivals, token.cid))
        self._rivals[(token.issuer, token.seq)] = cids
        skey = SeqKey(token.issuer, token.seq)
        fx.conflicts.add(skey)
        for c in cids:
            keys = self._keys_of.setdefault(c, [])
            if skey not in keys:
                keys.append(skey)
        for c in cids:
            fx.conflicts.update(self.keys_for(self.graph.watch(c)))

    def rivals_at(self, issuer: str, seq: int) -> list[str]:
        """Every token at an equivocated chain position (empty: not equivocated)."""
        return self._rivals.get((issuer, seq), [])

    def keys_for(self, cids: Iterable[str]) -> set[ConflictKey]:
        out: set[ConflictKey] = set()
        for c in cids:
            out.update(self._keys_of.get(c, ()))
        return out

    def keys_of(self, cid: str) -> Sequence[ConflictKey]:
        return self._keys_of.get(cid, ())

    def keys(self) -> frozenset[ConflictKey]:
        """Every conflict set with a rival or a slot (a lone chain position is none)."""
        keys: set[ConflictKey] = set(self._slots)
        keys.update(SeqKey(i, s) for i, s in self._rivals)
        return frozenset(keys)

    def members(self, key: ConflictKey) -> list[str]:
        if isinstance(key, SeqKey):
            rivals = self._rivals.get((key.issuer, key.seq))
            if rivals is not None:
                return rivals
            first = self._first_at.get((key.issuer, key.seq))
            return [first] if first is not None else []
        return self._slots.get(key, [])

    def support(self, cid: str, weights: Mapping[str, float]) -> float:
        """Weighted share of `weights` accepting `cid` and no rival of it."""
        total = math.fsum(weights.values())
        if total <= 0:
            return 0.0
        voters = set(self.graph.accepters(cid))
        for key in self._keys_of.get(cid, ()):
            for rival in self.members(key):
                if rival != cid:
                    voters -= self.graph.accepters(rival)
        return math.fsum(weights[a] for a in voters if a in weights) / total

    def consensus(self, key: ConflictKey, members: Sequence[str], weights: Mapping[str, float],
                  threshold: float) -> Consensus:
        """Leader of a (non-empty, sorted) conflict set by support."""
        ranked = self.rivals(members, weights)
        lead = ranked[0]
        state: ConsensusState = "settled" if lead.support >= threshold else "contested"
        return Consensus(key=key, state=state, leader=lead.cid, support=lead.support,
                         alternatives=tuple((r.cid, r.support) for r in ranked[1:]))

    def rivals(self, members: Sequence[str], weights: Mapping[str, float]) -> list[Rival]:
        """Every member's support and accepters, the leader first (most support,
        then cid): the ranking `consensus` reads its leader from."""
        total = math.fsum(weights.values())
        accepters = {m: self.graph.accepters(m) for m in members}
        count: dict[str, int] = {}  # accepter -> how many members it accepts
        for acc in accepters.values():
            for a in acc:
                count[a] = count.get(a, 0) + 1
        out = []
        for m in members:
            acc = accepters[m]
            split = frozenset(a for a in acc if count[a] > 1)
            w = math.fsum(weights[a] for a in acc if count[a] == 1 and a in weights)
            out.append(Rival(cid=m, support=w / total if total > 0 else 0.0,
                             accepters=acc, split=split))
        out.sort(key=lambda r: (-r.support, r.cid))
        return out
