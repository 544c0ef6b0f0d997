"""The sans-IO node core: one agent's state machine.

Theory of operation (docs/architecture.md; docs/design.md, Core). `Core` owns
everything a node knows and is driven only through these entry points, each
taking the current time `now` (seconds, float) and returning a list of outputs
(outputs.py):

    receive_gossip(peer, data, now)   a gossip message: a token or a bundle
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

`Core` is the facade that wires one component per concern, each with its own
invariants (`check_invariants` asserts them all):

    index.py    applied tokens, chains, forks, heads, the frontier digest
    causal.py   tokens waiting for their prev/deps, and the request throttle
    sync.py     the anti-entropy protocol: per-peer states, frame handlers
    view.py     observer/governance effects -> VerdictChanged & co.
    liveness.py peer liveness (driven by the runtime, not by Core)

Here: ingestion (size cap, dedup, decode), causal delivery (a token is
*applied* only when its `prev` and all its `deps` are applied), and applying:
index it, tell the observer (with the rivals the index found: the core is the
one judge of equivocation, `EquivocationDetected` once per new conflicting
token) and governance, persist it, then apply what it unblocks. Peer garbage
never raises: it becomes `TokenRejected` / `FrameRejected`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import trust
import wire
from wire import Claims, FrontierEntry, Token

from .admission import ADMIT_REASONS, Admission
from .causal import CausalBuffer
from .index import TokenIndex
from .outputs import (
    EquivocationDetected,
    FrameRejected,
    Output,
    Persist,
    Publish,
    TokenAccepted,
    TokenIssued,
    TokenRejected,
    topic_for,
)
from .params import CoreParams, Stats
from .sync import Sync
from .view import ViewDiffer

__all__ = ["Core", "OwnChainBehind"]


class OwnChainBehind(ValueError):
    """This agent signed tokens up to `floor` that the core does not hold (a
    repaired store lost them): signing now would reuse a seq. Sync fetches
    them back from peers; issuing works again once the chain reaches `floor`."""

    def __init__(self, held: int, floor: int) -> None:
        super().__init__(f"this node signed up to seq {floor} but holds its chain only to "
                         f"seq {held} (after a store repair): it signs again once sync has "
                         "fetched the rest from peers")
        self.held = held
        self.floor = floor


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
        self.stats = Stats()
        # The observer's mind (trust/): fed every applied token, in apply order.
        self.observer = trust.Observer(self.agent_id or "", trust_params)
        # Governance (charters, views, proposals, ballots, tallies) over the same tokens.
        self.governance = trust.Governance(self.agent_id or "", trust_params)
        self.index = TokenIndex()
        self.causal = CausalBuffer(self.params, self.stats)
        # Whose tokens this node takes (None: everyone's valid tokens).
        self.admission = (Admission(self.agent_id, self.params.admission)
                          if self.params.admission is not None else None)
        self.sync = Sync(self.index, self.causal, self.params, self.stats, self._ingest,
                         self.admission)
        self.view = ViewDiffer(self.observer, self.governance, events=self.params.view_events)
        self._tally_due: set[str] = set()
        self._collect_fx = self.params.view_events
        self._observe = self.params.observe
        self._restoring = False
        self._ticked = 0.0  # deadlines up to here have been judged by tick()
        # The highest seq this agent is known to have signed, held or not (the
        # store keeps it across a repair): `issue` refuses while own_seq() is
        # below it, so a seq is never signed twice.
        self.own_seq_floor = 0
        self._next_pending_check = 0.0
        # `decode` verifies untrusted bytes, `cid_of` hashes them and
        # `decode_frame` parses sync frames; the simulator passes memoizing
        # ones (same bytes -> same Token, cid or frame; all immutable), which
        # changes nothing observable.
        self._decode = decode
        self._cid_of = cid_of
        self._decode_frame = decode_frame
        # The hot path's direct references (the containers are never replaced).
        self._tokens = self.index.tokens
        self._pending = self.causal.pending

    # -- queries ---------------------------------------------------------
    @property
    def tokens(self) -> Mapping[str, Token]:
        """Applied tokens by cid."""
        return self.index.tokens

    @property
    def chains(self) -> Mapping[str, list[str]]:
        """Per issuer, the first token applied at each seq (seq s at [s-1])."""
        return self.index.chains

    @property
    def forks(self) -> Mapping[tuple[str, int], list[str]]:
        """Per (issuer, seq), the rival tokens applied after the chain's one."""
        return self.index.forks

    @property
    def heads(self) -> Mapping[str, tuple[int, str]]:
        """Per issuer, (max seq, smallest cid at that seq)."""
        return self.index.heads

    @property
    def equivocators(self) -> AbstractSet[str]:
        """Issuers with two tokens at one seq."""
        return self.index.equivocators

    def has(self, cid: str) -> bool:
        return cid in self._tokens

    def knows(self, cid: str) -> bool:
        """Whether the token is applied or waiting here (a repeat to skip)."""
        return cid in self._tokens or cid in self._pending

    def own_seq(self) -> int:
        return 0 if self.agent_id is None else self.index.seq_of(self.agent_id)

    def digest(self) -> bytes:
        return self.index.digest()

    def frontier(self) -> list[FrontierEntry]:
        return self.index.frontier()

    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(self.sync.peers)

    def next_deadline(self) -> float | None:
        """When `tick` next has work to do (the driver's timer)."""
        best = self.sync.next_round_at if self.sync.peers else None
        for t in (self.observer.next_deadline(self._ticked),
                  self.governance.next_deadline(self._ticked),
                  self._next_pending_check if self._pending else None):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def check_invariants(self) -> None:
        """Assert what the components promise about their state, each its own.

        O(tokens held): the test harness calls it after every delivery, the
        node after every batch in debug mode. Raises AssertionError naming the
        broken rule.
        """
        self.index.check_invariants()
        self.causal.check_invariants(self.index.tokens)
        self.sync.check_invariants()
        if self.admission is not None:
            self.admission.check_invariants(
                [*self.index.tokens.values(), *(w.token for w in self._pending.values())])
        if self._observe:
            assert len(self.observer) == len(self.index.tokens), \
                "the observer saw other tokens than the core applied"
            assert self.observer.equivocators() == self.index.equivocators, \
                "the observer's equivocators differ from the core's"

    # -- entry points ----------------------------------------------------
    def restore(self, raws: Iterable[bytes | tuple[bytes, float | None]]) -> int:
        """Replay the durable log (in its stored order) into an empty core.

        Each entry is the token's bytes, or (bytes, seen_at) with the arrival
        time its `Persist` carried (None or bare bytes: unknown, so governance
        judges that token's lateness by its iat alone). Produces no outputs:
        this is what the node already knew. Returns the number of tokens applied.
        """
        if self._tokens:
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
                if self.admission is not None:
                    self.admission.restored(tok, at)
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
        if self.own_seq() < self.own_seq_floor:
            raise OwnChainBehind(self.own_seq(), self.own_seq_floor)
        deps = tuple(sorted(set(deps)))
        unknown = [d for d in deps if d not in self._tokens]
        if unknown:
            raise ValueError(f"cannot build on tokens this node does not hold: {unknown}")
        head = self.index.heads.get(self.agent_id)
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
        self.view.emit(now, outs)
        return outs

    def receive_gossip(self, peer: str, data: bytes, now: float) -> list[Output]:
        """A gossip message (its data, as published: one token or a bundle of
        them, wire/bundle.py); `peer` is the neighbour that relayed it."""
        outs: list[Output] = []
        self.stats.bytes_in += len(data)
        self._ingest_gossip(peer, data, now, outs)
        self.view.emit(now, outs)
        return outs

    def receive_gossip_many(self, items: Iterable[tuple[str, bytes]], now: float) -> list[Output]:
        """A burst of gossip: the same as `receive_gossip` for each, in order,
        except that the view is re-evaluated once at the end (one
        VerdictChanged per promise that moved, not one per token)."""
        outs: list[Output] = []
        for peer, data in items:
            self.stats.bytes_in += len(data)
            self._ingest_gossip(peer, data, now, outs)
        self.view.emit(now, outs)
        return outs

    def receive_frame(self, peer: str, data: bytes, now: float) -> list[Output]:
        """A frame of the sync protocol from `peer` (one frame's bytes)."""
        outs: list[Output] = []
        self.stats.bytes_in += len(data)
        try:
            frame = self._decode_frame(data)
        except wire.InvalidFrame as exc:
            self.stats.rejected += 1
            outs.append(FrameRejected(peer=peer, reason=exc.reason, detail=str(exc)))
        else:
            self.stats.frames_in += 1
            self.sync.on_frame(peer, frame, now, outs)
        self.view.emit(now, outs)
        return outs

    def judge_gossip(self, head: wire.TokenHead, cid: str, now: float) -> str | None:
        """The gossip validator's admission check, before a token is verified
        or forwarded: None with admission off, else the reason it would be
        taken (an ADMIT_REASON: "stranger" means keep it but do not spread it)
        or ignored (counted here: it never reaches `receive_gossip`). `head`
        is read from the bytes unverified (`wire.peek_token`), so that what
        is ignored costs no signature check; a forgery can at most get itself
        ignored, since what is taken is verified and judged again, on its
        verified values, when it arrives (a budget may also have filled in
        between: the core's word is final)."""
        return self.judge_gossip_many(((head, cid),), now)[0]

    def judge_gossip_many(self, heads: Sequence[tuple[wire.TokenHead, str]],
                          now: float) -> list[str | None]:
        """`judge_gossip` for the (head, cid) of each token of one bundle, each
        on its own. The ignored ones are counted here only if all are: a
        message with one token to take reaches `receive_gossip`, which judges
        (and counts) every token of it again."""
        adm = self.admission
        if adm is None:
            return [None] * len(heads)
        judged = [adm.judge(h.issuer, h.seq, now, self._awaited_by(cid)) for h, cid in heads]
        if not any(r in ADMIT_REASONS for r in judged):
            for r in judged:
                adm.count(r)
        reasons: list[str | None] = list(judged)
        return reasons

    def tick(self, now: float) -> list[Output]:
        outs: list[Output] = []
        if now > self._ticked:
            # Deadlines in (last tick, now]: judged here whatever receive/issue
            # calls happened in between (they do not advance `_ticked`).
            if self._collect_fx:
                # Promises whose due time (+ skew allowance) passed turn broken.
                self.view.fx.append(self.observer.due_between(self._ticked, now))
            closed = self.governance.due_between(self._ticked, now)
            if closed:
                if self._collect_fx:
                    self.view.gov_fx.append(trust.GovernanceEffects(proposals=closed))
                self._tally_due |= closed
            self._ticked = now
        if (self._tally_due and self.params.auto_tally and self.identity is not None
                and self.own_seq() >= self.own_seq_floor):
            due, self._tally_due = sorted(self._tally_due), set()
            for cid in due:
                plan = self.governance.tally_plan(cid, now)
                for part in plan.parts if plan else ():
                    outs.extend(self.issue(kind="tally", now=now, scope=part.scope,
                                           about=part.about, deps=part.deps, body=part.body))
        if self._pending and now >= self._next_pending_check:
            # A scan of the buffer costs O(pending): do it once a retry period.
            self._next_pending_check = now + self.params.request_retry_s
            self.causal.expire(now)
            self.sync.retry(now, outs)
        self.sync.round(now, outs)
        self.view.emit(now, outs)
        return outs

    def peer_up(self, peer: str, now: float) -> list[Output]:
        outs: list[Output] = []
        # One side opens: its Hello draws the other's Frontier, and the opener
        # then pulls and pushes in one round. (Both opening would send two
        # frontiers for one reconciliation.) Periodic rounds cover a lost Hello.
        self.sync.peer_up(peer, now, opens=self.agent_id is None or self.agent_id < peer,
                          outs=outs)
        return outs

    def peer_down(self, peer: str, now: float) -> list[Output]:
        self.sync.peer_down(peer)
        self.causal.peer_gone(peer)
        return []

    # -- ingest and causal delivery -------------------------------------
    def _ingest_gossip(self, peer: str, data: bytes, now: float, outs: list[Output]) -> None:
        """One gossip message: a token, or a bundle taken whole or not at all
        (docs/decisions/0016-gossip-bundles.md)."""
        if not wire.is_bundle(data):
            self._ingest(peer, data, now, outs)
            return
        fresh: list[Token] = []
        try:
            raws = wire.decode_bundle(data)
            self.stats.received_tokens += len(raws)
            for raw in raws:
                cid = self._cid_of(raw)
                if cid in self._tokens or cid in self._pending:
                    self.stats.duplicate_tokens += 1
                else:
                    fresh.append(self._decode(raw))
        except wire.WireError as exc:
            # One bad token spoils the bundle: its publisher vouched for it.
            self.stats.rejected += 1
            outs.append(TokenRejected(peer=peer, reason=exc.reason,
                                      detail=f"gossip bundle: {exc}"))
            return
        for tok in fresh:
            self._admit(tok, peer, now, outs)

    def _ingest(self, peer: str | None, raw: bytes, now: float, outs: list[Output]) -> None:
        self.stats.received_tokens += 1
        if len(raw) > wire.TOKEN_SIZE_MAX_BYTES:
            self.stats.rejected += 1
            outs.append(TokenRejected(peer=peer, reason="too-large"))
            return
        cid = self._cid_of(raw)
        if cid in self._tokens or cid in self._pending:
            self.stats.duplicate_tokens += 1
            return
        try:
            tok = self._decode(raw)
        except wire.InvalidToken as exc:
            self.stats.rejected += 1
            outs.append(TokenRejected(peer=peer, reason=exc.reason, detail=str(exc)))
            return
        self._admit(tok, peer, now, outs)

    def _admit(self, tok: Token, peer: str | None, now: float, outs: list[Output]) -> None:
        """A verified token that is new here: admission, then causal delivery."""
        if self.admission is not None and \
                not self.admission.admit(tok, now, self._awaited_by(tok.cid)):
            return  # ignored: not stored, not forwarded, nobody blamed
        self._offer(tok, peer, now, outs, now)

    def _awaited_by(self, cid: str) -> list[Token]:
        """The waiting tokens that have `cid` as a missing parent."""
        waiters = self.causal.waiters.get(cid)
        if not waiters:
            return []
        pending = self._pending
        return [pending[w].token for w in waiters if w in pending]

    def _offer(self, tok: Token, peer: str | None, now: float, outs: list[Output],
               at: float | None) -> None:
        """Apply `tok` if its parents are here, else buffer it. `at`: its
        `seen_at` if it applies now (a restored token: the stored one)."""
        tokens = self._tokens
        prev = tok.prev
        deps = tok.deps
        if (prev is None or prev in tokens) and (not deps or all(d in tokens for d in deps)):
            self._apply(tok, peer, outs, at)
            return
        missing = {d for d in deps if d not in tokens}
        if prev is not None and prev not in tokens:
            missing.add(prev)
        # Wait for the parents; ask the sender, who claims to have them.
        self.causal.wait(tok, missing, now, peer)
        if peer is not None:
            self.sync.request(peer, tok, missing, now, outs)

    def _apply(self, first: Token, peer: str | None, outs: list[Output],
               at: float | None) -> None:
        """Apply a token whose parents are present, then everything it unblocks.

        `at` (this node's clock) becomes the `seen_at` of every token applied
        here, those it unblocks included: a token's arrival is when it was
        first *applied*, not first received. A ballot received early but held
        back by a withheld parent cannot count as on time when the parent
        comes after the close (docs/decisions/0004-arrival-lateness.md).
        """
        tokens = self._tokens
        record = self.index.record
        causal = self.causal
        observer = self.observer
        ready: list[tuple[Token, str | None]] = [(first, peer)]
        while ready:
            tok, peer = ready.pop()
            if tok.prev is not None:
                parent = tokens[tok.prev]
                if parent.issuer != tok.issuer or parent.seq != tok.seq - 1:
                    self.stats.rejected += 1
                    outs.append(TokenRejected(peer=peer, reason="bad-chain",
                                              detail=f"{tok.cid}: prev is not seq {tok.seq - 1} "
                                                     "of the same issuer"))
                    causal.forget_waiters(tok.cid)
                    continue
            rivals = record(tok)
            if self.admission is not None:
                self.admission.applied(tok, tokens)
            if rivals:
                outs.append(EquivocationDetected(issuer=tok.issuer, seq=tok.seq,
                                                 cids=tuple(sorted((*rivals, tok.cid)))))
            if self._observe:
                # The index is the one judge of equivocation: it tells the observer.
                fx = observer.observe(tok, rivals)
                if self._collect_fx and fx:
                    self.view.fx.append(fx)
            # (Most tokens are promises, fulfils and assessments: no call, and no
            # GovernanceEffects.__bool__, for them.)
            gfx = self.governance.observe(tok, rival=bool(rivals), seen_at=at) \
                if rivals or tok.kind in trust.GOVERNANCE_KINDS else None
            if gfx and not self._restoring:
                if self._collect_fx:
                    self.view.gov_fx.append(gfx)
                if tok.kind == "ballot" and tok.about is not None:
                    prop = self.governance.proposal(tok.about)
                    if prop is not None and prop.closes <= self._ticked:
                        self._tally_due.add(tok.about)  # a late ballot may change the cut
            outs.append(Persist(token=tok, seen_at=at))
            outs.append(TokenAccepted(token=tok, peer=peer))
            causal.applied(tok.cid, ready)
