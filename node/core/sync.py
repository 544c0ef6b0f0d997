"""The anti-entropy sync protocol, as a per-peer state table.

Theory of operation (docs/decisions/0002-sync-protocol.md; docs/design.md,
Sync). One round: we send a peer `Hello(digest)`; if its digest differs it
answers with its `Frontier` (one or more chunks); we then *pull* what we lack
(`WantRange` for chain gaps, `WantCids` for a fork at a head, `WantForks` for
rivals below it) and *push* what it lacks (`Tokens`). `Hello` and the `Want*`
frames are answered from any peer; `Tokens` are ingested from any peer (they
verify themselves).

`Sync` owns the connected peers (sorted; one `Hello` per `sync_interval_s`,
round robin), one `PeerSync` record per connected peer, the bounded request
throttles of the pull half, the encoded-frontier cache, and the sending of
frames (with the frame/byte counters). It reads the token index and the
causal buffer; applying tokens is the core's (the `ingest` callback).

Per-peer states (a peer with no record is DISCONNECTED):

    IDLE                no Hello sent to it since it connected
    HELLO_SENT(at)      we said Hello at `at`; its Frontier is welcome until
                        at + FRONTIER_ANSWER_S
    RECEIVING_FRONTIER(at)  as HELLO_SENT, and its last Frontier chunk was full:
                        more chunks follow, so a short one after it is not a
                        whole frontier (absence from it proves nothing)

    event              transition
    peer_up            DISCONNECTED -> IDLE (-> HELLO_SENT if we open)
    we send Hello      IDLE | HELLO_SENT -> HELLO_SENT(now);
                       RECEIVING_FRONTIER -> RECEIVING_FRONTIER(now)
    Frontier, full     -> RECEIVING_FRONTIER      (acted on)
    Frontier, short    -> HELLO_SENT              (acted on)
    peer_down          any -> DISCONNECTED (record dropped)

Which frames are acted on in which state (RULES): every frame type in every
state, except `Frontier`: only in HELLO_SENT / RECEIVING_FRONTIER and within
FRONTIER_ANSWER_S of our Hello. An unsolicited Frontier could make us serve
our whole store; it is counted in `stats.extra["unsolicited_frontier"]` and
dropped. A new Hello does not reset RECEIVING_FRONTIER: a chunked frontier
still arriving then keeps its "more follow" meaning (the cautious reading).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import wire
from wire import Frontier, Hello, Token, Tokens, WantCids, WantForks, WantRange
from wire.frames import FRONTIER_ENTRIES_MAX, RANGE_SPAN_MAX, WANT_CIDS_MAX

from .admission import Admission
from .causal import CausalBuffer
from .index import TokenIndex
from .outputs import Output, Send
from .params import CoreParams, Stats

__all__ = ["FRONTIER_ANSWER_S", "THROTTLE_EXTRA_MAX", "STRANGER_PULLS_MAX", "PeerState", "PeerSync",
           "RULES", "Sync"]

# A Frontier is acted on only this long after we sent that peer a Hello.
FRONTIER_ANSWER_S = 120.0
# Request-throttle memories may exceed the known issuers by this much.
THROTTLE_EXTRA_MAX = 4096
# Strangers whose chains one Frontier frame makes us ask for (with admission).
# A flood's thousands of identities would otherwise cost thousands of
# WantRange/Tokens frames a round, each answer a store commit at the asker
# (~10 ms): 16 a round is a trickle beside the horizon's own pulls, which are
# not capped, and still meets a newcomer within a round or two.
STRANGER_PULLS_MAX = 16


class PeerState(enum.Enum):
    DISCONNECTED = "disconnected"
    IDLE = "idle"
    HELLO_SENT = "hello-sent"
    RECEIVING_FRONTIER = "receiving-frontier"


class PeerSync:
    """One connected peer's sync state: see the module docstring's table."""

    __slots__ = ("state", "hello_at")

    def __init__(self) -> None:
        self.state = PeerState.IDLE
        self.hello_at: float | None = None  # when we last said Hello (None: IDLE)

    def said_hello(self, now: float) -> None:
        if self.state is not PeerState.RECEIVING_FRONTIER:
            self.state = PeerState.HELLO_SENT
        self.hello_at = now


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """Where a frame type is acted on."""
    states: frozenset[PeerState]
    # It must come within this long of our last Hello to that peer (None: any time).
    answer_s: float | None = None
    # Counted as stats.extra[f"unsolicited_{name}"] when it breaks the rule.
    name: str = ""


_ANY = frozenset(PeerState)
_ANSWERING = frozenset({PeerState.HELLO_SENT, PeerState.RECEIVING_FRONTIER})

RULES: dict[type[Any], Rule] = {
    Hello: Rule(states=_ANY, name="hello"),
    Frontier: Rule(states=_ANSWERING, answer_s=FRONTIER_ANSWER_S, name="frontier"),
    WantRange: Rule(states=_ANY, name="want_range"),
    WantCids: Rule(states=_ANY, name="want_cids"),
    WantForks: Rule(states=_ANY, name="want_forks"),
    Tokens: Rule(states=_ANY, name="tokens"),
}


class Sync:
    """The sync protocol of one node: peers, their states, and the frame handlers."""

    def __init__(self, index: TokenIndex, causal: CausalBuffer, params: CoreParams,
                 stats: Stats,
                 ingest: Callable[[str | None, bytes, float, list[Output]], None],
                 admission: Admission | None = None) -> None:
        self._index = index
        # Pull only what admission would take (None: everything).
        self._admission = admission
        self._causal = causal
        self._params = params
        self._stats = stats
        self._ingest = ingest
        self.peers: list[str] = []  # connected, sorted
        self.states: dict[str, PeerSync] = {}  # one per connected peer
        self.rr = 0  # round-robin cursor over `peers`
        self.next_round_at: float | None = None
        # Pull throttles: agent -> (seq or fork count asked for, when).
        self._range_asked: dict[str, tuple[int, float]] = {}
        self._forks_asked: dict[str, tuple[int, float]] = {}
        # The encoded frontier, once per change of it however many peers ask.
        self._frontier_frames: list[bytes] = []
        self._frontier_version = -1
        self._handlers: dict[type[Any], Callable[[str, Any, PeerSync | None, float,
                                                  list[Output]], None]] = {
            Hello: self._on_hello,
            Frontier: self._on_frontier,
            WantRange: self._on_want_range,
            WantCids: self._on_want_cids,
            WantForks: self._on_want_forks,
            Tokens: self._on_tokens,
        }
        assert self._handlers.keys() == RULES.keys()

    # -- events -------------------------------------------------------------
    def on_frame(self, peer: str, frame: wire.Frame, now: float, outs: list[Output]) -> None:
        """Act on a decoded frame if the table allows it in the peer's state."""
        ftype = type(frame)
        rule = RULES.get(ftype)
        if rule is None:
            return
        rec = self.states.get(peer)
        state = rec.state if rec is not None else PeerState.DISCONNECTED
        if state not in rule.states or (
                rule.answer_s is not None and rec is not None and rec.hello_at is not None
                and now - rec.hello_at > rule.answer_s):
            key = f"unsolicited_{rule.name}"
            self._stats.extra[key] = self._stats.extra.get(key, 0) + 1
            return
        self._handlers[ftype](peer, frame, rec, now, outs)

    def peer_up(self, peer: str, now: float, *, opens: bool, outs: list[Output]) -> bool:
        """A peer connected; False if it already was. `opens`: we say Hello first."""
        if peer in self.states:
            return False
        self.peers.append(peer)
        self.peers.sort()
        rec = self.states[peer] = PeerSync()
        if self.next_round_at is None:
            self.next_round_at = now + self._params.sync_interval_s
        if opens:
            self._hello(peer, rec, now, outs)
        return True

    def peer_down(self, peer: str) -> None:
        if peer in self.states:
            self.peers.remove(peer)
            del self.states[peer]

    def round(self, now: float, outs: list[Output]) -> None:
        """Start the next anti-entropy round if one is due: Hello to the next peer."""
        if self.peers and self.next_round_at is not None and now >= self.next_round_at:
            peer = self.peers[self.rr % len(self.peers)]
            self.rr += 1
            self.next_round_at = now + self._params.sync_interval_s
            self._hello(peer, self.states[peer], now, outs)

    def request(self, peer: str, tok: Token, missing: set[str], now: float,
                outs: list[Output]) -> None:
        """Ask `peer` for `tok`'s missing parents (as the causal buffer's throttle allows)."""
        gap, want = self._causal.wants(tok, missing, now, self._index.heads)
        if gap is not None:
            self._send(peer, wire.encode_frame(gap), outs)
        self._want_cids(peer, want, outs)

    def retry(self, now: float, outs: list[Output]) -> None:
        """Ask again for what waiting tokens miss: the original sender, or else
        the next peer in turn."""
        peers = self.peers
        if not peers:
            return
        by_peer: dict[str, list[Any]] = {}
        for w in self._causal.pending.values():
            peer = w.peer if w.peer in peers else peers[self.rr % len(peers)]
            by_peer.setdefault(peer, []).append(w)
        for peer, entries in by_peer.items():
            for w in entries:
                self.request(peer, w.token, w.missing, now, outs)
        self._causal.forget_stale_requests(now)

    # -- frame handlers -----------------------------------------------------
    def _on_tokens(self, peer: str, frame: Tokens, rec: PeerSync | None, now: float,
                   outs: list[Output]) -> None:
        for raw in frame.tokens:
            self._ingest(peer, raw, now, outs)

    def _on_hello(self, peer: str, frame: Hello, rec: PeerSync | None, now: float,
                  outs: list[Output]) -> None:
        if frame.digest != self._index.digest():
            self._send_frontier(peer, outs)

    def _on_frontier(self, peer: str, frame: Frontier, rec: PeerSync | None, now: float,
                     outs: list[Output]) -> None:
        assert rec is not None  # RULES: only in answer to our Hello
        more_before = rec.state is PeerState.RECEIVING_FRONTIER
        full = len(frame.entries) >= FRONTIER_ENTRIES_MAX
        rec.state = PeerState.RECEIVING_FRONTIER if full else PeerState.HELLO_SENT
        self._pull(peer, frame, now, outs)
        self._push(peer, frame, outs, complete=not more_before and not full)

    def _on_want_range(self, peer: str, frame: WantRange, rec: PeerSync | None, now: float,
                       outs: list[Output]) -> None:
        cids = self._index.range_cids(frame.agent, frame.first_seq, frame.last_seq)
        if cids:
            self._serve_cids(peer, cids, outs)

    def _on_want_cids(self, peer: str, frame: WantCids, rec: PeerSync | None, now: float,
                      outs: list[Output]) -> None:
        self._serve_cids(peer, frame.cids, outs)

    def _on_want_forks(self, peer: str, frame: WantForks, rec: PeerSync | None, now: float,
                       outs: list[Output]) -> None:
        self._serve_cids(peer, self._index.fork_cids(frame.agent), outs)

    # -- sending ------------------------------------------------------------
    def _send(self, peer: str, data: bytes, outs: list[Output]) -> None:
        self._stats.frames_out += 1
        self._stats.bytes_out += len(data)
        outs.append(Send(peer=peer, data=data))

    def _hello(self, peer: str, rec: PeerSync, now: float, outs: list[Output]) -> None:
        rec.said_hello(now)
        index = self._index
        self._send(peer, wire.encode_frame(Hello(digest=index.digest(), agents=len(index.heads))),
                   outs)

    def _want_cids(self, peer: str, cids: list[str], outs: list[Output]) -> None:
        for i in range(0, len(cids), WANT_CIDS_MAX):
            self._send(peer, wire.encode_frame(WantCids(cids=tuple(cids[i:i + WANT_CIDS_MAX]))),
                       outs)

    def _encode_frontier(self) -> list[bytes]:
        entries = self._index.frontier()
        return [wire.encode_frame(Frontier(entries=tuple(entries[i:i + FRONTIER_ENTRIES_MAX])))
                for i in range(0, len(entries), FRONTIER_ENTRIES_MAX)]

    def _frontier(self) -> list[bytes]:
        if self._frontier_version != self._index.frontier_version:
            self._frontier_frames = self._encode_frontier()
            self._frontier_version = self._index.frontier_version
        return self._frontier_frames

    def _send_frontier(self, peer: str, outs: list[Output]) -> None:
        for data in self._frontier():
            self._send(peer, data, outs)

    def _pull(self, peer: str, frame: Frontier, now: float, outs: list[Output]) -> None:
        index = self._index
        heads = index.heads
        retry_s = self._params.request_retry_s
        # Throttle memories are bounded: a peer naming many fake agents must not
        # grow them without end (they are only an optimisation).
        bound = len(heads) + THROTTLE_EXTRA_MAX
        if len(self._range_asked) > bound:
            self._range_asked.clear()
        if len(self._forks_asked) > bound:
            self._forks_asked.clear()
        admission = self._admission
        stranger_pulls = 0
        want_cids: list[str] = []
        for e in frame.entries:
            mine = heads.get(e.agent)
            have = mine[0] if mine else 0
            if admission is not None and not admission.inside(e.agent):
                # A stranger: its quota while the budget lasts, or what an
                # admitted token needs of it; never its forks; a few a round
                # (past them, a flood's thousands of entries cost no more work).
                if stranger_pulls < STRANGER_PULLS_MAX:
                    upto = admission.pull_limit(e.agent, e.seq, have, now)
                    if upto > have and self._ask_range(peer, e.agent, have, upto, now, outs):
                        stranger_pulls += 1
                continue
            if e.seq > have:
                if not self._ask_range(peer, e.agent, have, e.seq, now, outs):
                    continue  # already asked for this much, recently
            elif (mine is not None and e.seq == have and e.head != mine[1]
                  and e.head not in index.tokens and e.head not in self._causal.pending):
                want_cids.append(e.head)  # a fork at the head: equivocation evidence
            mine_forks = index.fork_count(e.agent)
            if e.forks > mine_forks or (e.forks and e.forks == mine_forks):
                # More rivals than ours, or as many (they may be other ones:
                # we only got here because our digests differ).
                asked = self._forks_asked.get(e.agent)
                if asked is None or asked[0] < e.forks or now - asked[1] >= retry_s:
                    self._forks_asked[e.agent] = (e.forks, now)
                    self._send(peer, wire.encode_frame(WantForks(agent=e.agent)), outs)
        self._want_cids(peer, want_cids, outs)

    def _ask_range(self, peer: str, agent: str, have: int, upto: int, now: float,
                   outs: list[Output]) -> bool:
        """Ask `peer` for `agent`'s seqs have+1..upto (one span at most),
        unless as much was asked recently; False if not asked."""
        asked = self._range_asked.get(agent)
        if asked is not None and asked[0] >= upto and now - asked[1] < self._params.request_retry_s:
            return False
        self._range_asked[agent] = (upto, now)
        last_seq = min(upto, have + RANGE_SPAN_MAX)
        self._send(peer, wire.encode_frame(
            WantRange(agent=agent, first_seq=have + 1, last_seq=last_seq)), outs)
        return True

    def _push(self, peer: str, frame: Frontier, outs: list[Output], *, complete: bool) -> None:
        """Send the peer what its frontier shows it lacks (the push half of a round).

        `complete`: this frame is the peer's whole frontier, so an agent absent
        from it is one the peer does not know (a frontier of several frames
        proves nothing by absence). With admission, only the chains of issuers
        inside our horizon are pushed: strangers' tokens are there to be
        pulled by a peer that wants them, within its own budget (pushed, a
        peer whose budget is full would be sent them again every round).
        """
        admission = self._admission
        index = self._index
        theirs = {e.agent: e.seq for e in frame.entries}
        their_forks = {e.agent: e.forks for e in frame.entries}
        cids: list[str] = []
        for agent, (seq, _head) in sorted(index.heads.items()):
            have = theirs.get(agent)
            if (have is None and not complete) or (
                    admission is not None and not admission.inside(agent)):
                continue
            chain = index.range_cids(agent, (have or 0) + 1, seq) if seq > (have or 0) else []
            cids.extend(chain)
            if index.fork_count(agent) > their_forks.get(agent, 0):
                # Rivals, less what the chain range above already sends.
                already = set(chain)
                cids.extend(c for c in index.fork_cids(agent) if c not in already)
        if cids:
            self._serve_cids(peer, cids, outs)

    def _serve_cids(self, peer: str, cids: Iterable[str], outs: list[Output]) -> None:
        budget = self._params.tokens_frame_budget_bytes
        total_max = self._params.response_max_bytes
        tokens = self._index.tokens
        batch: list[bytes] = []
        size = 0
        total = 0
        for cid in cids:
            tok = tokens.get(cid)
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

    # -- invariants ---------------------------------------------------------
    def check_invariants(self) -> None:
        """Assert the module docstring's promises; O(peers + agents)."""
        assert self.peers == sorted(set(self.peers)), "peers unsorted or repeated"
        assert self.states.keys() == set(self.peers), "sync state for a peer not connected"
        for peer, rec in self.states.items():
            assert rec.state is not PeerState.DISCONNECTED, f"{peer}: a record while disconnected"
            assert (rec.state is PeerState.IDLE) == (rec.hello_at is None), \
                f"{peer}: state {rec.state.value} with hello_at {rec.hello_at}"
        assert not self.peers or self.next_round_at is not None, "peers but no round scheduled"
        bound = len(self._index.heads) + THROTTLE_EXTRA_MAX + FRONTIER_ENTRIES_MAX
        assert len(self._range_asked) <= bound and len(self._forks_asked) <= bound, \
            "request throttles over their bound"
        if self._frontier_version == self._index.frontier_version:
            assert self._frontier_frames == self._encode_frontier(), "a stale frontier cache"
