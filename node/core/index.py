"""The token index: every applied token, by cid and by (issuer, seq).

Theory of operation. `TokenIndex` holds the tokens a core has *applied* (their
prev and deps were all present; the causal buffer in causal.py holds the
rest). Per issuer they form a contiguous chain from seq 1: `chains[a][s-1]` is
the first token applied at seq s; every later one at the same seq is a fork,
kept in `forks[(a, s)]` (both are evidence), and its issuer is an equivocator.
`heads[a]` is (max seq, smallest cid at that seq).

The frontier `{agent: (seq, head, forks)}` has a set digest (the sum of its
entry hashes mod 2**256) kept incrementally, so a Hello costs O(1) however
many agents are known (docs/decisions/0002-sync-protocol.md). An entry hash
is redone lazily, when the digest is asked for: hashing on every applied
token would cost a sha256 each.

`record` is the only mutator; it is on the hot path (once per applied token),
so it touches the dicts directly and allocates nothing for a chain token.
"""

from __future__ import annotations

import bisect
import hashlib

from wire import FrontierEntry, Token

__all__ = ["TokenIndex"]

_DIGEST_MOD = 1 << 256


def _entry_hash(agent: str, seq: int, head: str, forks: int, fork_hash: int) -> int:
    h = hashlib.sha256(f"{agent}\x00{seq}\x00{head}\x00{forks}\x00{fork_hash}".encode()).digest()
    return int.from_bytes(h, "big")


def _cid_hash(cid: str) -> int:
    return int.from_bytes(hashlib.sha256(cid.encode()).digest()[:8], "big")


class TokenIndex:
    """Applied tokens, per-issuer chains and forks, heads, and the frontier digest."""

    __slots__ = ("tokens", "chains", "forks", "heads", "equivocators", "_fork_count",
                 "_fork_hash", "_fork_seqs", "_entry", "_digest", "_dirty", "frontier_version")

    def __init__(self) -> None:
        self.tokens: dict[str, Token] = {}
        self.chains: dict[str, list[str]] = {}
        self.forks: dict[tuple[str, int], list[str]] = {}
        self.heads: dict[str, tuple[int, str]] = {}
        self.equivocators: set[str] = set()
        # Per issuer: how many rival tokens we hold, the sum of the hashes of
        # every token at a forked seq, and those seqs (sorted).
        self._fork_count: dict[str, int] = {}
        self._fork_hash: dict[str, int] = {}
        self._fork_seqs: dict[str, list[int]] = {}
        self._entry: dict[str, int] = {}  # issuer -> its frontier entry hash
        self._digest = 0
        self._dirty: set[str] = set()  # issuers whose entry hash is stale
        # Bumped whenever the frontier changes (a cache key for encoded frontiers).
        self.frontier_version = 0

    # -- the mutator --------------------------------------------------------
    def record(self, tok: Token) -> tuple[str, ...]:
        """Index an applied token (its prev is applied and of the same issuer).

        Returns its rivals: the cids already held at its (issuer, seq), in
        arrival order; empty for a chain token. Non-empty means equivocation.
        """
        cid, issuer, seq = tok.cid, tok.issuer, tok.seq
        self.tokens[cid] = tok
        chain = self.chains.get(issuer)
        if chain is None:
            chain = self.chains[issuer] = []
        rivals: tuple[str, ...] = ()
        is_fork = seq != len(chain) + 1
        if not is_fork:
            chain.append(cid)
        else:
            # seq <= len(chain): the prev check guarantees seq-1 is applied.
            slot = self.forks.setdefault((issuer, seq), [])
            rivals = (chain[seq - 1], *slot)
            slot.append(cid)
            self.equivocators.add(issuer)
            self._fork_count[issuer] = self._fork_count.get(issuer, 0) + 1
            # Hash of every token at every forked seq (the first-arrived one
            # too), so the sum does not depend on arrival order.
            added = [cid] if len(slot) > 1 else [chain[seq - 1], cid]
            self._fork_hash[issuer] = (self._fork_hash.get(issuer, 0)
                                       + sum(_cid_hash(c) for c in added)) % _DIGEST_MOD
            seqs = self._fork_seqs.setdefault(issuer, [])
            if seq not in seqs:
                bisect.insort(seqs, seq)
        head = self.heads.get(issuer)
        moved = head is None or seq > head[0] or (seq == head[0] and cid < head[1])
        if moved:
            self.heads[issuer] = (seq, cid)
        if moved or is_fork:  # (a fork below the head changes the entry's fork count)
            self._dirty.add(issuer)
            self.frontier_version += 1
        return rivals

    # -- queries ------------------------------------------------------------
    def seq_of(self, agent: str) -> int:
        """The highest seq held of `agent` (0: none)."""
        head = self.heads.get(agent)
        return head[0] if head else 0

    def fork_count(self, agent: str) -> int:
        return self._fork_count.get(agent, 0)

    def digest(self) -> bytes:
        """The frontier's set digest (32 bytes)."""
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

    def fork_cids(self, agent: str) -> list[str]:
        """Every token at every forked seq of `agent`, by seq (parents first)."""
        cids: list[str] = []
        chain = self.chains.get(agent, [])
        for seq in self._fork_seqs.get(agent, ()):
            cids.append(chain[seq - 1])
            cids.extend(self.forks.get((agent, seq), ()))
        return cids

    def range_cids(self, agent: str, first: int, last: int) -> list[str]:
        """Every token of `agent` at seqs first..last (rivals too), by seq."""
        chain = self.chains.get(agent, [])
        cids: list[str] = []
        for seq in range(first, min(last, len(chain)) + 1):
            cids.append(chain[seq - 1])
            cids.extend(self.forks.get((agent, seq), ()))
        return cids

    # -- invariants ---------------------------------------------------------
    def check_invariants(self) -> None:
        """Assert the module docstring's promises; O(tokens held)."""
        tokens, chains, forks = self.tokens, self.chains, self.forks
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
        count: dict[str, int] = {}
        fork_hash: dict[str, int] = {}
        seqs: dict[str, list[int]] = {}
        for (issuer, seq), rivals in forks.items():
            assert issuer in self.equivocators, f"{issuer} forks at {seq} but is not marked"
            assert rivals, f"{issuer}: an empty fork slot at {seq}"
            assert 1 <= seq <= len(chains[issuer]), f"{issuer}: fork at {seq} beyond the chain"
            for cid in rivals:
                assert tokens[cid].issuer == issuer and tokens[cid].seq == seq
            count[issuer] = count.get(issuer, 0) + len(rivals)
            fork_hash[issuer] = (fork_hash.get(issuer, 0) + sum(
                _cid_hash(c) for c in [chains[issuer][seq - 1], *rivals])) % _DIGEST_MOD
            seqs.setdefault(issuer, []).append(seq)
        assert self.equivocators == {i for i, _ in forks}, "equivocators without forks"
        assert {a: n for a, n in self._fork_count.items() if n} == count, \
            "fork counts differ from a recount"
        assert {a: h for a, h in self._fork_hash.items() if a in count} == fork_hash \
            and self._fork_hash.keys() <= count.keys(), "fork hashes differ from a recount"
        assert {a: s for a, s in self._fork_seqs.items() if s} == \
            {a: sorted(s) for a, s in seqs.items()}, "forked seqs differ from a recount"
        for cid, tok in tokens.items():
            assert tok.prev is None or tok.prev in tokens, f"{cid} applied before its prev"
            assert all(d in tokens for d in tok.deps), f"{cid} applied before its deps"
        fresh = 0
        for issuer, (seq, head) in self.heads.items():
            fresh += _entry_hash(issuer, seq, head, self._fork_count.get(issuer, 0),
                                 self._fork_hash.get(issuer, 0))
        assert self.digest() == (fresh % _DIGEST_MOD).to_bytes(32, "big"), \
            "the set digest differs from a fresh recomputation"
