"""The sans-IO node core: one agent's state machine.

Theory of operation (DESIGN §3, §5, §6). `Core` owns everything a node knows
and is driven only through these entry points, each taking the current time
`now` (seconds, float) and returning a list of outputs:

    receive_gossip(peer, data, now)   a token that came by gossip
    receive_gossip_many(items, now)   a burst of them (one view pass)
    receive_frame(peer, data, now)    a sync-protocol frame
    issue(kind=..., now=...)   the local user makes a token
    tick(now)                  time passed: anti-entropy rounds, retries, expiry
    peer_up(peer, now) / peer_down(peer, now)

It never reads a clock, never draws randomness, never does I/O. The trio +
libp2p runtime and the simulator are two thin drivers of the same core.

Outputs are frozen values. Drivers MUST execute them in order, and every
`Persist` must be durable before any later `Send`/`Publish` of the same list
is handed to the network: that is how a node's own token is on disk before
anyone can see it (so it never signs two tokens with one seq, crash or not).

Invariants held here:
- A token is *applied* only when its `prev` and all its `deps` are applied
  (causal delivery). Until then it waits in a bounded buffer and the missing
  cids are requested from the peer that sent it. Applied tokens therefore form,
  per issuer, a contiguous chain from seq 1; `chains[a][s-1]` is the first
  token applied at seq s; others at the same seq are forks.
- Two applied tokens with the same issuer and seq are an equivocation: both
  are kept, the issuer is marked, `EquivocationDetected` is emitted once per
  new conflicting token.
- The frontier `{agent: (max seq, smallest cid at that seq)}` has a set digest
  (sum of entry hashes mod 2**256) kept incrementally, so `Hello` costs O(1).
- Peer garbage never raises: it becomes `TokenRejected` / `FrameRejected`.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import trust
import wire
from wire import (
    Claims,
    Frontier,
    FrontierEntry,
    Hello,
    Token,
    Tokens,
    WantCids,
    WantForks,
    WantRange,
)
from wire.frames import FRAME_SIZE_MAX_BYTES, FRONTIER_ENTRIES_MAX, RANGE_SPAN_MAX, WANT_CIDS_MAX

__all__ = [
    "Core",
    "CoreParams",
    "Output",
    "Send",
    "Publish",
    "Persist",
    "TokenIssued",
    "TokenAccepted",
    "TokenRejected",
    "FrameRejected",
    "EquivocationDetected",
    "VerdictChanged",
    "TrustChanged",
    "ConsensusChanged",
    "OutcomeChanged",
    "topic_for",
    "DEFAULT_TOPIC",
]

DEFAULT_TOPIC = "troth/1/default"


def topic_for(scope: str | None) -> str:
    """The gossipsub topic of a scope (a community's charter cid)."""
    return DEFAULT_TOPIC if scope is None else f"troth/1/{scope}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreParams:
    # Tokens waiting for their prev/deps. 10,000 x ~1 KiB objects bounds the
    # buffer to ~10 MiB; past it the oldest is dropped (sync fetches it again).
    pending_max: int = 10_000
    # A waiting token is dropped after this long; its parents never came.
    pending_ttl_s: float = 300.0
    # One anti-entropy round (Hello to the next peer, round robin) this often.
    sync_interval_s: float = 5.0
    # A requested cid not received by then is asked for again (of another peer).
    request_retry_s: float = 3.0
    # Payload budget of one Tokens frame (the frame cap less room for heads).
    tokens_frame_budget_bytes: int = FRAME_SIZE_MAX_BYTES - 4096
    # At most this many token bytes answer one WantRange/WantCids; the peer
    # asks again next round. Bounds the memory one request can make us spend.
    response_max_bytes: int = 8 * 1024 * 1024
    # Emit VerdictChanged / TrustChanged / ConsensusChanged as the view moves.
    # The simulator turns this off for speed and asks the observer at the end.
    view_events: bool = True
    # Feed applied tokens to the trust Observer. Off only where nobody asks
    # this node for verdicts or trust (the simulator's non-observer nodes: a
    # thousand observers over the same tokens would double the cost).
    observe: bool = True
    # When a proposal this node votes in closes (on its clock, after the skew
    # allowance), publish its tally: the result and the exact cut it counted
    # (DESIGN §8). Again if late-arriving ballots change its cut.
    auto_tally: bool = True


# -- outputs --------------------------------------------------------------

# The outputs made once per token or frame define their own __init__ (the
# dataclass keeps it): a generated frozen __init__ costs about twice as much,
# and a node makes two or three of these per token it takes in.
_set = object.__setattr__


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Send a sync frame to one peer."""
    peer: str
    data: bytes

    def __init__(self, *, peer: str, data: bytes) -> None:
        _set(self, "peer", peer)
        _set(self, "data", data)


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish:
    """Gossip a token's bytes on a topic."""
    topic: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Persist:
    """Append a token to the durable log (before any later Send/Publish).

    `seen_at`: when this node applied it (received it with its parents
    present, or its last missing parent came; or issued it), on its clock;
    stored with the token and handed back to `Core.restore`, so governance's
    arrival lateness survives a restart.
    """
    token: Token
    seen_at: float | None

    def __init__(self, *, token: Token, seen_at: float | None = None) -> None:
        _set(self, "token", token)
        _set(self, "seen_at", seen_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenIssued:
    """The local agent made this token."""
    token: Token


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenAccepted:
    """A token was applied to the view (its prev and deps were all present)."""
    token: Token
    peer: str | None

    def __init__(self, *, token: Token, peer: str | None) -> None:
        _set(self, "token", token)
        _set(self, "peer", peer)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRejected:
    """A peer sent bytes that are not a valid token, or a token that breaks its chain."""
    peer: str | None
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameRejected:
    """A peer sent a sync frame that does not decode."""
    peer: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EquivocationDetected:
    """`issuer` signed two or more different tokens with the same seq."""
    issuer: str
    seq: int
    cids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerdictChanged:
    """This node's verdict on a promise changed state or evidence."""
    verdict: trust.Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustChanged:
    """This node's trust opinion of an agent moved (by more than rounding)."""
    agent: str
    opinion: trust.Opinion


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusChanged:
    """A conflict set's leader or state changed in this node's view."""
    consensus: trust.Consensus


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeChanged:
    """A proposal's outcome (state or result) changed in this node's view."""
    outcome: trust.Outcome


Output = (Send | Publish | Persist | TokenIssued | TokenAccepted | TokenRejected | FrameRejected
          | EquivocationDetected | VerdictChanged | TrustChanged | ConsensusChanged
          | OutcomeChanged)


@dataclass(slots=True)
class _Waiting:
    token: Token
    missing: set[str]
    since: float
    peer: str | None


@dataclass(slots=True)
class _Stats:
    received_tokens: int = 0
    duplicate_tokens: int = 0
    rejected: int = 0
    pending_dropped: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _entry_hash(agent: str, seq: int, head: str, forks: int, fork_hash: int) -> int:
    h = hashlib.sha256(f"{agent}\x00{seq}\x00{head}\x00{forks}\x00{fork_hash}".encode()).digest()
    return int.from_bytes(h, "big")


_DIGEST_MOD = 1 << 256
# A Frontier is acted on only this long after we sent that peer a Hello.
FRONTIER_ANSWER_S = 120.0
# Request-throttle memories may exceed the known issuers by this much.
THROTTLE_EXTRA_MAX = 4096


class Core:
    """One agent's node state machine. See the module docstring."""

    def __init__(
        self,
        identity: wire.Identity | None,
        params: CoreParams | None = None,
        *,
        decode: Callable[[bytes], Token] = wire.decode_token,
        cid_of: Callable[[bytes], str] = wire.cid_of,
        decode_frame: Callable[[bytes], wire.Frame] = wire.decode_frame,
        trust_params: trust.Params | None = None,
    ) -> None:
        self.identity = identity
        self.agent_id: str | None = identity.agent_id if identity else None
        self.params = params or CoreParams()
        # The observer's mind (trust/): fed every applied token, in apply order.
        self.observer = trust.Observer(self.agent_id or "", trust_params)
        # Governance (charters, views, proposals, ballots, tallies) over the same tokens.
        self.governance = trust.Governance(self.agent_id or "", trust_params)
        self._gov_fx: list[trust.GovernanceEffects] = []
        self._last_outcome: dict[str, tuple[str, str | None]] = {}
        self._tally_due: set[str] = set()
        # Effects of the observations since the last emit: merged once, at the
        # end of an entry point (a union per token would be quadratic).
        self._fx: list[trust.ObservationEffects] = []
        self._collect_fx = self.params.view_events
        self._observe = self.params.observe
        self._restoring = False
        self._last_verdict: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._last_trust: dict[str, tuple[float, float, float]] = {}
        self._last_consensus: dict[trust.ConflictKey, tuple[str, str | None]] = {}
        self._ticked = 0.0  # deadlines up to here have been judged by tick()
        self._next_pending_check = 0.0
        # `decode` verifies untrusted bytes, `cid_of` hashes them and
        # `decode_frame` parses sync frames; the simulator passes memoizing
        # ones (same bytes -> same Token, cid or frame; all immutable), which
        # changes nothing observable.
        self._decode = decode
        self._cid_of = cid_of
        self._decode_frame = decode_frame
        self.tokens: dict[str, Token] = {}
        self.chains: dict[str, list[str]] = {}
        self.forks: dict[tuple[str, int], list[str]] = {}
        # Per issuer: how many rival tokens we hold, and at which seqs (sorted).
        self._fork_count: dict[str, int] = {}
        self._fork_hash: dict[str, int] = {}  # sum of the rival cids' hashes
        self._fork_seqs: dict[str, list[int]] = {}
        self.heads: dict[str, tuple[int, str]] = {}
        self.equivocators: set[str] = set()
        self._entry: dict[str, int] = {}
        self._digest = 0
        self._dirty: set[str] = set()  # issuers whose entry hash is stale
        self._frontier_frames: list[bytes] | None = None  # encoded; None when stale
        self._pending: dict[str, _Waiting] = {}
        self._waiters: dict[str, set[str]] = {}
        self._requested: dict[str, float] = {}
        self._range_asked: dict[str, tuple[int, float]] = {}
        self._forks_asked: dict[str, tuple[int, float]] = {}
        # When we last sent each peer a Hello: a Frontier is acted on only in
        # answer to one (an unsolicited frontier could make us serve our
        # whole store). And whether a peer's last Frontier chunk was full (more
        # follow: a short chunk after a full one is not the whole frontier).
        self._hello_at: dict[str, float] = {}
        self._frontier_more: dict[str, bool] = {}
        self._peers: list[str] = []
        self._rr = 0
        self._next_sync_at: float | None = None
        self.stats = _Stats()

    # -- queries ---------------------------------------------------------
    def has(self, cid: str) -> bool:
        return cid in self.tokens

    def own_seq(self) -> int:
        if self.agent_id is None:
            return 0
        head = self.heads.get(self.agent_id)
        return head[0] if head else 0

    def digest(self) -> bytes:
        if self._dirty:
            for issuer in self._dirty:
                seq, head = self.heads[issuer]
                old = self._entry.get(issuer, 0)
                new = _entry_hash(issuer, seq, head, self._fork_count.get(issuer, 0),
                                  self._fork_hash.get(issuer, 0))
                self._entry[issuer] = new
                self._digest = (self._digest - old + new) % _DIGEST_MOD
            self._dirty.clear()
        return self._digest.to_bytes(32, "big")

    def frontier(self) -> list[FrontierEntry]:
        fc = self._fork_count
        return [FrontierEntry(agent=a, seq=s, head=h, forks=fc.get(a, 0))
                for a, (s, h) in sorted(self.heads.items())]

    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(self._peers)

    def next_deadline(self) -> float | None:
        """When `tick` next has work to do (the driver's timer)."""
        best = self._next_sync_at if self._peers else None
        for t in (self.observer.next_deadline(self._ticked),
                  self.governance.next_deadline(self._ticked),
                  self._next_pending_check if self._pending else None):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def check_invariants(self) -> None:
        """Assert what the module docstring promises about this core's state.

        O(tokens held): the simulator calls it after every event in its tests,
        the node in debug mode. Raises AssertionError naming the broken rule.
        """
        tokens, chains, forks = self.tokens, self.chains, self.forks
        assert not (self._pending.keys() & tokens.keys()), "a token both pending and applied"
        assert len(self._pending) <= self.params.pending_max, "pending buffer over its bound"
        held = sum(len(c) for c in chains.values()) + sum(len(f) for f in forks.values())
        assert held == len(tokens), f"chains and forks index {held} tokens, {len(tokens)} held"
        assert chains.keys() == self.heads.keys(), "an issuer with a chain but no head, or back"
        for issuer, chain in chains.items():
            for i, cid in enumerate(chain):
                tok = tokens[cid]
                assert tok.issuer == issuer and tok.seq == i + 1, f"{cid} out of place in chain"
            seq, head = self.heads[issuer]
            assert seq == len(chain), f"{issuer}: head seq {seq}, chain length {len(chain)}"
            assert head == min([chain[-1], *forks.get((issuer, seq), ())]), \
                f"{issuer}: head is not the smallest cid at its seq"
        for (issuer, seq), rivals in forks.items():
            assert issuer in self.equivocators, f"{issuer} forks at {seq} but is not marked"
            assert 1 <= seq <= len(chains[issuer]), f"{issuer}: fork at {seq} beyond the chain"
            for cid in rivals:
                assert tokens[cid].issuer == issuer and tokens[cid].seq == seq
        assert self.equivocators == {i for i, _ in forks}, "equivocators without forks"
        for cid, tok in tokens.items():
            assert tok.prev is None or tok.prev in tokens, f"{cid} applied before its prev"
            assert all(d in tokens for d in tok.deps), f"{cid} applied before its deps"
        for cid, w in self._pending.items():
            assert w.missing and not (w.missing & tokens.keys()), f"{cid} waits for nothing"
            assert all(cid in self._waiters.get(m, ()) for m in w.missing), \
                f"{cid} waits unindexed"
        fresh = 0
        for issuer, (seq, head) in self.heads.items():
            fresh += _entry_hash(issuer, seq, head, self._fork_count.get(issuer, 0),
                                 self._fork_hash.get(issuer, 0))
        assert self.digest() == (fresh % _DIGEST_MOD).to_bytes(32, "big"), \
            "the set digest differs from a fresh recomputation"

    # -- entry points ----------------------------------------------------
    def restore(self, raws: Iterable[bytes | tuple[bytes, float | None]]) -> int:
        """Replay the durable log (in its stored order) into an empty core.

        Each entry is the token's bytes, or (bytes, seen_at) with the arrival
        time its `Persist` carried (None or bare bytes: unknown, so governance
        judges that token's lateness by its iat alone). Produces no outputs:
        this is what the node already knew. Returns the number of tokens applied.
        """
        if self.tokens:
            raise ValueError("restore() needs an empty core")
        sink: list[Output] = []
        n = 0
        self._collect_fx = False  # what was known before is not news
        self._restoring = True
        try:
            for entry in raws:
                if isinstance(entry, tuple):
                    raw, at = entry
                else:
                    raw, at = entry, None
                tok = self._decode(raw)
                self._offer(tok, None, 0.0, sink, at)
                n += 1
        finally:
            self._collect_fx = self.params.view_events
            self._restoring = False
        if self._pending:
            raise ValueError(f"the log is not in causal order: {len(self._pending)} tokens wait")
        return n

    def issue(
        self,
        *,
        kind: str,
        now: float,
        body: Mapping[str, Any] | None = None,
        deps: Iterable[str] = (),
        about: str | None = None,
        scope: str | None = None,
    ) -> list[Output]:
        """Make, sign and apply a token of the local agent.

        Outputs: Persist (first), TokenIssued, TokenAccepted, Publish.
        Raises ValueError on misuse (no identity, unknown deps, bad body).
        """
        if self.identity is None or self.agent_id is None:
            raise ValueError("this core has no identity and cannot issue tokens")
        deps = tuple(sorted(set(deps)))
        unknown = [d for d in deps if d not in self.tokens]
        if unknown:
            raise ValueError(f"cannot build on tokens this node does not hold: {unknown}")
        head = self.heads.get(self.agent_id)
        seq = head[0] + 1 if head else 1
        prev = head[1] if head else None
        claims = Claims(issuer=self.agent_id, iat=max(0, int(now)), seq=seq, kind=kind, prev=prev,
                        scope=scope, deps=deps, about=about, body=dict(body or {}))
        token = wire.sign_token(self.identity, claims)
        outs: list[Output] = []
        self._apply(token, None, outs, now)
        assert self.own_seq() == seq, "own chain must advance by exactly one"
        persist_at = next(i for i, o in enumerate(outs) if isinstance(o, Persist))
        outs.insert(persist_at + 1, TokenIssued(token=token))
        outs.append(Publish(topic=topic_for(scope), data=token.raw))
        self._emit_view(now, outs)
        return outs

    def receive_gossip(self, peer: str, data: bytes, now: float) -> list[Output]:
        """A token that arrived by gossip (its bytes, as published); `peer` is
        the neighbour that relayed it."""
        outs: list[Output] = []
        self.stats.bytes_in += len(data)
        self._ingest(peer, data, now, outs)
        self._emit_view(now, outs)
        return outs

    def receive_gossip_many(self, items: Iterable[tuple[str, bytes]], now: float) -> list[Output]:
        """A burst of gossip: the same as `receive_gossip` for each, in order,
        except that the view is re-evaluated once at the end (one
        VerdictChanged per promise that moved, not one per token)."""
        outs: list[Output] = []
        for peer, data in items:
            self.stats.bytes_in += len(data)
            self._ingest(peer, data, now, outs)
        self._emit_view(now, outs)
        return outs

    def receive_frame(self, peer: str, data: bytes, now: float) -> list[Output]:
        """A frame of the sync protocol from `peer` (one frame's bytes)."""
        outs: list[Output] = []
        self.stats.bytes_in += len(data)
        self._on_frame(peer, data, now, outs)
        self._emit_view(now, outs)
        return outs

    def _on_frame(self, peer: str, data: bytes, now: float, outs: list[Output]) -> None:
        try:
            frame = self._decode_frame(data)
        except wire.InvalidFrame as exc:
            self.stats.rejected += 1
            outs.append(FrameRejected(peer=peer, reason=exc.reason, detail=str(exc)))
            return
        self.stats.frames_in += 1
        if isinstance(frame, Tokens):
            for raw in frame.tokens:
                self._ingest(peer, raw, now, outs)
        elif isinstance(frame, Hello):
            if frame.digest != self.digest():
                self._send_frontier(peer, outs)
        elif isinstance(frame, Frontier):
            asked = self._hello_at.get(peer)
            if asked is None or now - asked > FRONTIER_ANSWER_S:
                self.stats.extra["unsolicited_frontier"] = \
                    self.stats.extra.get("unsolicited_frontier", 0) + 1
                return
            more_before = self._frontier_more.get(peer, False)
            self._frontier_more[peer] = len(frame.entries) >= FRONTIER_ENTRIES_MAX
            self._pull(peer, frame, now, outs)
            self._push(peer, frame, outs, complete=not more_before and
                       len(frame.entries) < FRONTIER_ENTRIES_MAX)
        elif isinstance(frame, WantRange):
            self._serve_range(peer, frame, outs)
        elif isinstance(frame, WantCids):
            self._serve_cids(peer, frame.cids, outs)
        elif isinstance(frame, WantForks):
            self._serve_cids(peer, self._fork_cids(frame.agent), outs)

    def tick(self, now: float) -> list[Output]:
        outs: list[Output] = []
        if now > self._ticked:
            # Deadlines in (last tick, now]: judged here whatever receive/issue
            # calls happened in between (they do not advance `_ticked`).
            if self._collect_fx:
                # Promises whose due time (+ skew allowance) passed turn broken.
                self._fx.append(self.observer.due_between(self._ticked, now))
            closed = self.governance.due_between(self._ticked, now)
            if closed:
                if self._collect_fx:
                    self._gov_fx.append(trust.GovernanceEffects(proposals=closed))
                self._tally_due |= closed
            self._ticked = now
        if self._tally_due and self.params.auto_tally and self.identity is not None:
            due, self._tally_due = sorted(self._tally_due), set()
            for cid in due:
                plan = self.governance.tally_plan(cid, now)
                for part in plan.parts if plan else ():
                    outs.extend(self.issue(kind="tally", now=now, scope=part.scope,
                                           about=part.about, deps=part.deps, body=part.body))
        if self._pending and now >= self._next_pending_check:
            # A scan of the buffer costs O(pending): do it once a retry period.
            self._next_pending_check = now + self.params.request_retry_s
            self._expire_and_retry(now, outs)
        if self._peers and self._next_sync_at is not None and now >= self._next_sync_at:
            peer = self._peers[self._rr % len(self._peers)]
            self._rr += 1
            self._next_sync_at = now + self.params.sync_interval_s
            self._hello_at[peer] = now
            self._send(peer, wire.encode_frame(Hello(digest=self.digest(),
                                                     agents=len(self.heads))), outs)
        self._emit_view(now, outs)
        return outs

    def peer_up(self, peer: str, now: float) -> list[Output]:
        if peer in self._peers:
            return []
        self._peers.append(peer)
        self._peers.sort()
        if self._next_sync_at is None:
            self._next_sync_at = now + self.params.sync_interval_s
        outs: list[Output] = []
        # One side opens: its Hello draws the other's Frontier, and the opener
        # then pulls and pushes in one round. (Both opening would send two
        # frontiers for one reconciliation.) Periodic rounds cover a lost Hello.
        if self.agent_id is None or self.agent_id < peer:
            self._hello_at[peer] = now
            self._send(peer, wire.encode_frame(Hello(digest=self.digest(),
                                                     agents=len(self.heads))), outs)
        return outs

    def peer_down(self, peer: str, now: float) -> list[Output]:
        if peer in self._peers:
            self._peers.remove(peer)
        self._hello_at.pop(peer, None)
        self._frontier_more.pop(peer, None)
        for w in self._pending.values():
            if w.peer == peer:
                w.peer = None
        return []

    # -- ingest and causal delivery -------------------------------------
    def _ingest(self, peer: str | None, raw: bytes, now: float, outs: list[Output]) -> None:
        self.stats.received_tokens += 1
        if len(raw) > wire.TOKEN_SIZE_MAX_BYTES:
            self.stats.rejected += 1
            outs.append(TokenRejected(peer=peer, reason="too-large"))
            return
        cid = self._cid_of(raw)
        if cid in self.tokens or cid in self._pending:
            self.stats.duplicate_tokens += 1
            return
        try:
            tok = self._decode(raw)
        except wire.InvalidToken as exc:
            self.stats.rejected += 1
            outs.append(TokenRejected(peer=peer, reason=exc.reason, detail=str(exc)))
            return
        self._offer(tok, peer, now, outs, now)

    def _offer(self, tok: Token, peer: str | None, now: float, outs: list[Output],
               at: float | None) -> None:
        """Apply `tok` if its parents are here, else buffer it. `at`: its
        `seen_at` if it applies now (a restored token: the stored one)."""
        tokens = self.tokens
        prev = tok.prev
        deps = tok.deps
        if (prev is None or prev in tokens) and (not deps or all(d in tokens for d in deps)):
            self._apply(tok, peer, outs, at)
            return
        missing = {d for d in deps if d not in tokens}
        if prev is not None and prev not in tokens:
            missing.add(prev)
        # Wait for the parents; ask the sender, who claims to have them.
        if len(self._pending) >= self.params.pending_max:
            self._drop_pending(next(iter(self._pending)))
        self._pending[tok.cid] = _Waiting(token=tok, missing=missing, since=now, peer=peer)
        for m in missing:
            self._waiters.setdefault(m, set()).add(tok.cid)
        if peer is not None:
            self._request_missing(peer, tok, missing, now, outs)

    def _request_missing(self, peer: str, tok: Token, missing: set[str], now: float,
                         outs: list[Output]) -> None:
        want: list[str] = []
        for m in sorted(missing):
            if m in self._pending:
                continue
            last = self._requested.get(m)
            if last is not None and now - last < self.params.request_retry_s:
                continue
            self._requested[m] = now
            if m == tok.prev:
                # A chain gap: fetch the whole gap in one request.
                have = self.heads.get(tok.issuer, (0, ""))[0]
                if tok.seq - 1 > have:
                    first = have + 1
                    last_seq = min(tok.seq - 1, first + RANGE_SPAN_MAX - 1)
                    self._send(peer, wire.encode_frame(
                        WantRange(agent=tok.issuer, first_seq=first, last_seq=last_seq)), outs)
                    continue
            want.append(m)
        for i in range(0, len(want), WANT_CIDS_MAX):
            self._send(peer, wire.encode_frame(WantCids(cids=tuple(want[i:i + WANT_CIDS_MAX]))),
                       outs)

    def _apply(self, first: Token, peer: str | None, outs: list[Output],
               at: float | None) -> None:
        """Apply a token whose parents are present, then everything it unblocks.

        `at` (this node's clock) becomes the `seen_at` of every token applied
        here, those it unblocks included: a token's arrival is when it was
        first *applied*, not first received. A ballot received early but held
        back by a withheld parent cannot count as on time when the parent
        comes after the close (docs/decisions/0004-arrival-lateness.md).
        """
        ready: list[tuple[Token, str | None]] = [(first, peer)]
        while ready:
            tok, peer = ready.pop()
            if tok.prev is not None:
                parent = self.tokens[tok.prev]
                if parent.issuer != tok.issuer or parent.seq != tok.seq - 1:
                    self.stats.rejected += 1
                    outs.append(TokenRejected(peer=peer, reason="bad-chain",
                                              detail=f"{tok.cid}: prev is not seq {tok.seq - 1} "
                                                     "of the same issuer"))
                    self._forget_waiters(tok.cid)
                    continue
            rival = self._record(tok, outs)
            if self._observe:
                fx = self.observer.observe(tok)
                if self._collect_fx and fx:
                    self._fx.append(fx)
            # (Most tokens are promises, fulfils and assessments: no call, and no
            # GovernanceEffects.__bool__, for them.)
            gfx = self.governance.observe(tok, rival=rival, seen_at=at) \
                if rival or tok.kind in trust.GOVERNANCE_KINDS else None
            if gfx and not self._restoring:
                if self._collect_fx:
                    self._gov_fx.append(gfx)
                if tok.kind == "ballot" and tok.about is not None:
                    prop = self.governance.proposal(tok.about)
                    if prop is not None and prop.closes <= self._ticked:
                        self._tally_due.add(tok.about)  # a late ballot may change the cut
            outs.append(Persist(token=tok, seen_at=at))
            outs.append(TokenAccepted(token=tok, peer=peer))
            if self._requested:
                self._requested.pop(tok.cid, None)
            if not self._waiters:
                continue
            # sorted: the apply order (and so the log, and which rival is the
            # chain and which the fork) must not depend on set iteration order.
            for w in sorted(self._waiters.pop(tok.cid, ())):
                entry = self._pending.get(w)
                if entry is None:
                    continue
                entry.missing.discard(tok.cid)
                if not entry.missing:
                    del self._pending[w]
                    ready.append((entry.token, entry.peer))

    def _record(self, tok: Token, outs: list[Output]) -> bool:
        """Index an applied token; True if it is a rival of an earlier one (a fork)."""
        cid, issuer, seq = tok.cid, tok.issuer, tok.seq
        self.tokens[cid] = tok
        chain = self.chains.get(issuer)
        if chain is None:
            chain = self.chains[issuer] = []
        is_fork = seq != len(chain) + 1
        if not is_fork:
            chain.append(cid)
        else:
            # seq <= len(chain): the prev check guarantees seq-1 is applied.
            slot = self.forks.setdefault((issuer, seq), [])
            slot.append(cid)
            self.equivocators.add(issuer)
            self._fork_count[issuer] = self._fork_count.get(issuer, 0) + 1
            # Hash of every token at every forked seq (the first-arrived one
            # too), so the sum does not depend on arrival order.
            added = [cid] if len(slot) > 1 else [chain[seq - 1], cid]
            self._fork_hash[issuer] = (self._fork_hash.get(issuer, 0) + sum(
                int.from_bytes(hashlib.sha256(c.encode()).digest()[:8], "big")
                for c in added)) % _DIGEST_MOD
            seqs = self._fork_seqs.setdefault(issuer, [])
            if seq not in seqs:
                bisect.insort(seqs, seq)
            outs.append(EquivocationDetected(issuer=issuer, seq=seq,
                                             cids=tuple(sorted([chain[seq - 1], *slot]))))
        head = self.heads.get(issuer)
        moved = head is None or seq > head[0] or (seq == head[0] and cid < head[1])
        if moved:
            self.heads[issuer] = (seq, cid)
        if moved or is_fork:  # (a fork below the head changes the entry's fork count)
            # The entry hash is redone lazily: the digest is needed only when a
            # Hello is sent, and hashing every applied token would cost a sha256.
            self._dirty.add(issuer)
            self._frontier_frames = None
        return is_fork

    def _fork_cids(self, agent: str) -> list[str]:
        """Every token at every forked seq of `agent`, by seq (parents first)."""
        cids: list[str] = []
        chain = self.chains.get(agent, [])
        for seq in self._fork_seqs.get(agent, ()):
            cids.append(chain[seq - 1])
            cids.extend(self.forks.get((agent, seq), ()))
        return cids

    def _forget_waiters(self, cid: str) -> None:
        """`cid` will never apply (rejected): neither will what waits for it."""
        for w in sorted(self._waiters.pop(cid, ())):
            self._drop_pending(w, cascade=True)

    def _drop_pending(self, cid: str, *, cascade: bool = False) -> None:
        """Forget a waiting token. Evicted or expired tokens do not cascade: what
        waits for them keeps waiting and asks for them again."""
        entry = self._pending.pop(cid, None)
        if entry is None:
            return
        self.stats.pending_dropped += 1
        for m in entry.missing:
            ws = self._waiters.get(m)
            if ws is not None:
                ws.discard(cid)
                if not ws:
                    del self._waiters[m]
        if cascade:
            self._forget_waiters(cid)

    def _expire_and_retry(self, now: float, outs: list[Output]) -> None:
        ttl = self.params.pending_ttl_s
        for cid in [c for c, w in self._pending.items() if now - w.since > ttl]:
            self._drop_pending(cid)
        if not self._peers:
            return
        by_peer: dict[str, list[_Waiting]] = {}
        for w in self._pending.values():
            # Ask the original sender, or else the next peer in turn.
            peer = w.peer if w.peer in self._peers else self._peers[self._rr % len(self._peers)]
            by_peer.setdefault(peer, []).append(w)
        for peer, entries in by_peer.items():
            for w in entries:
                self._request_missing(peer, w.token, w.missing, now, outs)
        stale = [c for c, t in self._requested.items() if now - t > ttl]
        for c in stale:
            del self._requested[c]

    # -- the view --------------------------------------------------------
    def _emit_view(self, now: float, outs: list[Output]) -> None:
        """Ask the observer again about what may have changed; emit what did."""
        if self._gov_fx:
            gparts, self._gov_fx = self._gov_fx, []
            for cid in sorted(frozenset().union(*(g.proposals for g in gparts))):
                oc = self.governance.outcome(cid, now)
                okey = (oc.state, oc.result)
                if self._last_outcome.get(cid) != okey and self.params.view_events:
                    self._last_outcome[cid] = okey
                    outs.append(OutcomeChanged(outcome=oc))
        if not self._fx:
            return
        parts, self._fx = self._fx, []
        fx = parts[0] if len(parts) == 1 else trust.ObservationEffects(
            promises=frozenset().union(*(p.promises for p in parts)),
            agents=frozenset().union(*(p.agents for p in parts)),
            referrals=frozenset().union(*(p.referrals for p in parts)),
            conflicts=frozenset().union(*(p.conflicts for p in parts)))
        obs = self.observer
        fx = obs.expand(fx)
        for cid in sorted(fx.promises):
            v = obs.verdict(cid, now)
            key = (v.state, v.evidence)
            if self._last_verdict.get(cid) != key:
                self._last_verdict[cid] = key
                outs.append(VerdictChanged(verdict=v))
        for agent in sorted(fx.agents):
            o = obs.trust(agent, now)
            rounded = (round(o.belief, 3), round(o.disbelief, 3), round(o.uncertainty, 3))
            if self._last_trust.get(agent) != rounded:
                self._last_trust[agent] = rounded
                outs.append(TrustChanged(agent=agent, opinion=o))
        for k in sorted(fx.conflicts, key=repr):
            c = obs.consensus(k, now)
            ckey = (c.state, c.leader)
            if self._last_consensus.get(k) != ckey:
                self._last_consensus[k] = ckey
                outs.append(ConsensusChanged(consensus=c))

    # -- anti-entropy ----------------------------------------------------
    def _send(self, peer: str, data: bytes, outs: list[Output]) -> None:
        self.stats.frames_out += 1
        self.stats.bytes_out += len(data)
        outs.append(Send(peer=peer, data=data))

    def _send_frontier(self, peer: str, outs: list[Output]) -> None:
        frames = self._frontier_frames
        if frames is None:
            # Encoded once per change of the heads, however many peers ask.
            entries = self.frontier()
            frames = self._frontier_frames = [
                wire.encode_frame(Frontier(entries=tuple(entries[i:i + FRONTIER_ENTRIES_MAX])))
                for i in range(0, len(entries), FRONTIER_ENTRIES_MAX)]
        for data in frames:
            self._send(peer, data, outs)

    def _pull(self, peer: str, frame: Frontier, now: float, outs: list[Output]) -> None:
        # Throttle memories are bounded: a peer naming many fake agents must not
        # grow them without end (they are only an optimisation).
        bound = len(self.heads) + THROTTLE_EXTRA_MAX
        if len(self._range_asked) > bound:
            self._range_asked.clear()
        if len(self._forks_asked) > bound:
            self._forks_asked.clear()
        want_cids: list[str] = []
        for e in frame.entries:
            mine = self.heads.get(e.agent)
            have = mine[0] if mine else 0
            if e.seq > have:
                asked = self._range_asked.get(e.agent)
                if asked is not None and asked[0] >= e.seq and \
                        now - asked[1] < self.params.request_retry_s:
                    continue  # already asked for this much, recently
                self._range_asked[e.agent] = (e.seq, now)
                last_seq = min(e.seq, have + RANGE_SPAN_MAX)
                self._send(peer, wire.encode_frame(
                    WantRange(agent=e.agent, first_seq=have + 1, last_seq=last_seq)), outs)
            elif (mine is not None and e.seq == have and e.head != mine[1]
                  and e.head not in self.tokens and e.head not in self._pending):
                want_cids.append(e.head)  # a fork at the head: equivocation evidence
            mine_forks = self._fork_count.get(e.agent, 0)
            if e.forks > mine_forks or (e.forks and e.forks == mine_forks):
                # More rivals than ours, or as many (they may be other ones:
                # we only got here because our digests differ).
                asked = self._forks_asked.get(e.agent)
                if asked is None or asked[0] < e.forks or \
                        now - asked[1] >= self.params.request_retry_s:
                    self._forks_asked[e.agent] = (e.forks, now)
                    self._send(peer, wire.encode_frame(WantForks(agent=e.agent)), outs)
        for i in range(0, len(want_cids), WANT_CIDS_MAX):
            chunk = tuple(want_cids[i:i + WANT_CIDS_MAX])
            self._send(peer, wire.encode_frame(WantCids(cids=chunk)), outs)

    def _push(self, peer: str, frame: Frontier, outs: list[Output], *, complete: bool) -> None:
        """Send the peer what its frontier shows it lacks (the push half of a round).

        `complete`: this frame is the peer's whole frontier, so an agent absent
        from it is one the peer does not know (a frontier of several frames
        proves nothing by absence).
        """
        theirs = {e.agent: e.seq for e in frame.entries}
        their_forks = {e.agent: e.forks for e in frame.entries}
        cids: list[str] = []
        for agent, (seq, _head) in sorted(self.heads.items()):
            have = theirs.get(agent)
            if have is None and not complete:
                continue
            chain = self._range_cids(agent, (have or 0) + 1, seq) if seq > (have or 0) else []
            cids.extend(chain)
            if self._fork_count.get(agent, 0) > their_forks.get(agent, 0):
                # Rivals, less what the chain range above already sends.
                already = set(chain)
                cids.extend(c for c in self._fork_cids(agent) if c not in already)
        if cids:
            self._serve_cids(peer, cids, outs)

    def _range_cids(self, agent: str, first: int, last: int) -> list[str]:
        chain = self.chains.get(agent, [])
        cids: list[str] = []
        for seq in range(first, min(last, len(chain)) + 1):
            cids.append(chain[seq - 1])
            cids.extend(self.forks.get((agent, seq), ()))
        return cids

    def _serve_range(self, peer: str, want: WantRange, outs: list[Output]) -> None:
        cids = self._range_cids(want.agent, want.first_seq, want.last_seq)
        if cids:
            self._serve_cids(peer, cids, outs)

    def _serve_cids(self, peer: str, cids: Iterable[str], outs: list[Output]) -> None:
        budget = self.params.tokens_frame_budget_bytes
        total_max = self.params.response_max_bytes
        batch: list[bytes] = []
        size = 0
        total = 0
        for cid in cids:
            tok = self.tokens.get(cid)
            if tok is None:
                continue
            n = len(tok.raw) + 5
            if total + n > total_max:
                break
            if batch and size + n > budget:
                self._send(peer, wire.encode_frame(Tokens(tokens=tuple(batch))), outs)
                batch, size = [], 0
            batch.append(tok.raw)
            size += n
            total += n
        if batch:
            self._send(peer, wire.encode_frame(Tokens(tokens=tuple(batch))), outs)
