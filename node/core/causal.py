"""The causal-delivery buffer: tokens waiting for their prev and deps.

Theory of operation. A token is applied only when its `prev` and all its
`deps` are applied; until then it waits here, with the set of cids it still
misses and the peer that sent it (who claims to have them). `waiters` is the
reverse index (missing cid -> tokens waiting for it), so applying a token
finds what it unblocks in O(its waiters).

The buffer is bounded (`CoreParams.pending_max`: past it the oldest waiting
token is dropped; sync fetches it again) and every entry expires after
`pending_ttl_s`. A missing cid is requested at most once per
`request_retry_s` (`requested`: cid -> when last asked); a chain gap is asked
for as one WantRange, anything else by cid. Dropping a token never cascades
unless it can never apply (its parent was rejected).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wire import Token, WantRange
from wire.frames import RANGE_SPAN_MAX

from .params import CoreParams, Stats

__all__ = ["CausalBuffer", "Waiting"]


@dataclass(slots=True)
class Waiting:
    token: Token
    missing: set[str]
    since: float
    peer: str | None


class CausalBuffer:
    """Tokens waiting for parents, the reverse index, and the request throttle."""

    __slots__ = ("pending", "waiters", "requested", "_params", "_stats")

    def __init__(self, params: CoreParams, stats: Stats) -> None:
        self.pending: dict[str, Waiting] = {}
        self.waiters: dict[str, set[str]] = {}
        self.requested: dict[str, float] = {}
        self._params = params
        self._stats = stats

    def __len__(self) -> int:
        return len(self.pending)

    def wait(self, tok: Token, missing: set[str], now: float, peer: str | None) -> None:
        """Buffer `tok` until every cid in `missing` is applied."""
        pending = self.pending
        if len(pending) >= self._params.pending_max:
            self.drop(next(iter(pending)))
        pending[tok.cid] = Waiting(token=tok, missing=missing, since=now, peer=peer)
        for m in missing:
            self.waiters.setdefault(m, set()).add(tok.cid)

    def applied(self, cid: str, ready: list[tuple[Token, str | None]]) -> None:
        """`cid` was applied: append to `ready` what now has all its parents.

        sorted: the apply order (and so the log, and which rival is the chain
        and which the fork) must not depend on set iteration order.
        """
        if self.requested:
            self.requested.pop(cid, None)
        if not self.waiters:
            return
        for w in sorted(self.waiters.pop(cid, ())):
            entry = self.pending.get(w)
            if entry is None:
                continue
            entry.missing.discard(cid)
            if not entry.missing:
                del self.pending[w]
                ready.append((entry.token, entry.peer))

    def wants(self, tok: Token, missing: set[str], now: float,
              heads: Mapping[str, tuple[int, str]]) -> tuple[WantRange | None, list[str]]:
        """What to ask for `tok`'s missing parents now (the throttle permitting):
        a range for a chain gap, and cids. Marks them requested."""
        want: list[str] = []
        gap: WantRange | None = None
        retry_s = self._params.request_retry_s
        for m in sorted(missing):
            if m in self.pending:
                continue
            last = self.requested.get(m)
            if last is not None and now - last < retry_s:
                continue
            self.requested[m] = now
            if m == tok.prev:
                # A chain gap: fetch the whole gap in one request.
                have = heads.get(tok.issuer, (0, ""))[0]
                if tok.seq - 1 > have:
                    first = have + 1
                    last_seq = min(tok.seq - 1, first + RANGE_SPAN_MAX - 1)
                    gap = WantRange(agent=tok.issuer, first_seq=first, last_seq=last_seq)
                    continue
            want.append(m)
        return gap, want

    def forget_waiters(self, cid: str) -> None:
        """`cid` will never apply (rejected): neither will what waits for it."""
        for w in sorted(self.waiters.pop(cid, ())):
            self.drop(w, cascade=True)

    def drop(self, cid: str, *, cascade: bool = False) -> None:
        """Forget a waiting token. Evicted or expired tokens do not cascade: what
        waits for them keeps waiting and asks for them again."""
        entry = self.pending.pop(cid, None)
        if entry is None:
            return
        self._stats.pending_dropped += 1
        for m in entry.missing:
            ws = self.waiters.get(m)
            if ws is not None:
                ws.discard(cid)
                if not ws:
                    del self.waiters[m]
        if cascade:
            self.forget_waiters(cid)

    def expire(self, now: float) -> None:
        """Drop what waited longer than the TTL."""
        ttl = self._params.pending_ttl_s
        for cid in [c for c, w in self.pending.items() if now - w.since > ttl]:
            self.drop(cid)

    def forget_stale_requests(self, now: float) -> None:
        ttl = self._params.pending_ttl_s
        for c in [c for c, t in self.requested.items() if now - t > ttl]:
            del self.requested[c]

    def peer_gone(self, peer: str) -> None:
        """Nobody to ask in particular for what `peer` sent: the next round's peer is."""
        for w in self.pending.values():
            if w.peer == peer:
                w.peer = None

    def check_invariants(self, tokens: Mapping[str, Token]) -> None:
        """Assert the module docstring's promises; O(pending + waiters + requested)."""
        pending = self.pending
        assert not (pending.keys() & tokens.keys()), "a token both pending and applied"
        assert len(pending) <= self._params.pending_max, "pending buffer over its bound"
        for cid, w in pending.items():
            assert w.token.cid == cid, f"{cid} filed under another cid"
            assert w.missing and not (w.missing & tokens.keys()), \
                f"{cid} waits for nothing, or for an applied token"
            assert all(cid in self.waiters.get(m, ()) for m in w.missing), \
                f"{cid} waits unindexed"
        for m, ws in self.waiters.items():
            assert ws, f"an empty waiter set for {m}"
            assert m not in tokens, f"tokens wait for {m}, which is applied"
            for c in ws:
                assert c in pending and m in pending[c].missing, \
                    f"waiters index {c}, which is not pending for {m}"
        assert not (self.requested.keys() & tokens.keys()), "a requested cid is held"
