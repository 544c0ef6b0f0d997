"""Story helpers for the governance tests: named agents with signed, chained tokens."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from weakref import WeakKeyDictionary

import pytest

import wire
from trust import governance as gov


class Town:
    """Makes properly chained, signed governance tokens for named agents."""

    def __init__(self) -> None:
        self.ids: dict[str, wire.Identity] = {}
        self.heads: dict[str, tuple[int, str | None]] = {}
        self.tokens: list[wire.Token] = []

    def identity(self, name: str) -> wire.Identity:
        if name not in self.ids:
            i = len(self.ids) + 1
            self.ids[name] = wire.Identity.from_seed(bytes([i % 256, i // 256]) + b"g" * 30)
        return self.ids[name]

    def id(self, name: str) -> str:
        return self.identity(name).agent_id

    def tok(self, name: str, kind: str, iat: int, *, deps: Iterable[str] = (),
            about: str | None = None, body: Mapping[str, Any] | None = None,
            scope: str | None = None, seq: int | None = None,
            prev: str | None = None) -> wire.Token:
        ident = self.identity(name)
        last_seq, last_cid = self.heads.get(name, (0, None))
        if seq is None:
            seq, prev = last_seq + 1, last_cid
        claims = wire.Claims(issuer=ident.agent_id, iat=iat, seq=seq, kind=kind, prev=prev,
                             scope=scope, deps=tuple(sorted(set(deps))), about=about,
                             body=dict(body or {}))
        t = wire.sign_token(ident, claims)
        if seq > last_seq:
            self.heads[name] = (seq, t.cid)
        self.tokens.append(t)
        return t

    def fork(self, name: str, kind: str, iat: int, twin: wire.Token, **kw: Any) -> wire.Token:
        """A second token at `twin`'s seq (an equivocation)."""
        return self.tok(name, kind, iat, seq=twin.seq, prev=twin.prev, **kw)

    # -- the governance kinds, as stories use them
    def charter(self, name: str, members: Sequence[str], iat: int = 0,
                **rules: Any) -> wire.Token:
        body = gov.charter_body(f"{name}'s club", [self.id(m) for m in members], **rules)
        return self.tok(name, "charter", iat, body=body)

    def propose(self, name: str, charter: wire.Token, options: Sequence[str] = ("a", "b"),
                method: str = "single", closes: int = 1000, iat: int = 10,
                view: wire.Token | None = None, add: Sequence[str] = (),
                remove: Sequence[str] = (), **kw: Any) -> wire.Token:
        body = gov.proposal_body(f"{name} asks", options, method, closes,
                                 add=[self.id(a) for a in add],
                                 remove=[self.id(r) for r in remove], **kw)
        return self.tok(name, "proposal", iat, scope=charter.cid,
                        deps=((view or charter).cid,), body=body)

    def vote(self, name: str, proposal: wire.Token, choice: Sequence[int | str],
             iat: int = 100, **kw: Any) -> wire.Token:
        return self.tok(name, "ballot", iat, scope=proposal.scope,
                        about=proposal.cid, deps=(proposal.cid,),
                        body=gov.ballot_body(choice), **kw)

    def publish_tally(self, name: str, g: gov.Governance, proposal: wire.Token,
                      now: int) -> list[wire.Token]:
        plan = g.tally_plan(proposal.cid, now)
        assert plan is not None, f"{name} has no tally to publish"
        return [self.tok(name, "tally", now, scope=part.scope, about=part.about,
                         deps=part.deps, body=part.body) for part in plan.parts]

    def tally(self, name: str, proposal: wire.Token, cut: Sequence[wire.Token],
              result: gov.TallyResult, iat: int = 2000) -> wire.Token:
        """A hand-made tally naming `result` over `cut` (may be false on purpose)."""
        body = {"result": result.result, "quorum": result.quorum_met,
                "counts": list(result.counts), "cut": gov.cut_digest(b.cid for b in cut),
                "ballots": len(cut)}
        return self.tok(name, "tally", iat, scope=proposal.scope, about=proposal.cid,
                        deps=[b.cid for b in cut] + [proposal.cid], body=body)


class Chains:
    """Whether a token is a rival, judged as the node core does (Core._record).

    A token is a rival when another token of the same issuer and seq was
    observed before it; the same token again is not. Governance.observe takes
    that judgement from its caller (`rival=`) and makes none of its own.
    """

    def __init__(self) -> None:
        self._first: dict[tuple[str, int], str] = {}  # (issuer, seq) -> first cid seen

    def rival(self, t: wire.Token) -> bool:
        return self._first.setdefault((t.issuer, t.seq), t.cid) != t.cid


_CHAINS: WeakKeyDictionary[gov.Governance, Chains] = WeakKeyDictionary()


def feed(g: gov.Governance, t: wire.Token,
         seen_at: float | None = None) -> gov.GovernanceEffects:
    """`g.observe(t)` with `rival` computed as the node core would, per observer."""
    chains = _CHAINS.setdefault(g, Chains())
    return g.observe(t, rival=chains.rival(t), seen_at=seen_at)


def observer(town: Town, name: str, tokens: Iterable[wire.Token] | None = None,
             skew: float = 30.0) -> gov.Governance:
    from trust import Params

    g = gov.Governance(town.id(name), Params(skew_allowance_s=skew))
    for t in town.tokens if tokens is None else tokens:
        feed(g, t)
    return g


@pytest.fixture
def town() -> Town:
    return Town()
