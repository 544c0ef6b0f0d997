"""Story helpers for the trust tests: named agents with their own token chains."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

import trust
import wire


def feed(observer: trust.Observer, tokens: Iterable[wire.Token]) -> None:
    """Observe `tokens` in order as the node core feeds its observer: each with
    its rivals, the cids fed before at the same issuer and seq. (The core's
    token index finds them; the observer does not look for equivocation.)"""
    at: dict[tuple[str, int], list[str]] = {}
    for t in tokens:
        seen = at.setdefault((t.issuer, t.seq), [])
        observer.observe(t, tuple(c for c in seen if c != t.cid))
        if t.cid not in seen:
            seen.append(t.cid)

NAMES = ("alice", "bob", "carol", "dave", "eve", "olivia", "pat", "mallory")


class World:
    """Makes properly chained, signed tokens for named agents (seeded keys)."""

    def __init__(self) -> None:
        self.ids: dict[str, wire.Identity] = {}
        self.heads: dict[str, tuple[int, str | None]] = {}
        self.tokens: list[wire.Token] = []

    def identity(self, name: str) -> wire.Identity:
        if name not in self.ids:
            i = NAMES.index(name) + 1 if name in NAMES else 100 + len(self.ids)
            self.ids[name] = wire.Identity.from_seed(bytes([i % 256]) * 31 + bytes([i // 256]))
        return self.ids[name]

    def id(self, name: str) -> str:
        return self.identity(name).agent_id

    def tok(self, name: str, kind: str, iat: int, *, deps: tuple[str, ...] = (),
            about: str | None = None, body: Mapping[str, Any] | None = None,
            scope: str | None = None, seq: int | None = None,
            prev: str | None = None) -> wire.Token:
        ident = self.identity(name)
        last_seq, last_cid = self.heads.get(name, (0, None))
        if seq is None:
            seq, prev = last_seq + 1, last_cid
        claims = wire.Claims(issuer=ident.agent_id, iat=iat, seq=seq, kind=kind, prev=prev,
                             scope=scope, deps=tuple(sorted(deps)), about=about,
                             body=dict(body or {}))
        t = wire.decode_token(wire.encode_token(ident, claims))
        if seq > last_seq:
            self.heads[name] = (seq, t.cid)
        self.tokens.append(t)
        return t

    # the kinds, as stories use them
    def promise(self, name: str, iat: int, text: str = "p", due: int | None = None,
                **kw: Any) -> wire.Token:
        body: dict[str, Any] = {"text": text}
        if due is not None:
            body["due"] = due
        return self.tok(name, "promise", iat, body=body, **kw)

    def fulfil(self, name: str, iat: int, promise: wire.Token, **kw: Any) -> wire.Token:
        return self.tok(name, "fulfil", iat, about=promise.cid, body={"evidence": "done"}, **kw)

    def retract(self, name: str, iat: int, promise: wire.Token) -> wire.Token:
        return self.tok(name, "retract", iat, about=promise.cid)

    def assess(self, name: str, iat: int, target: wire.Token, verdict: str) -> wire.Token:
        return self.tok(name, "assess", iat, about=target.cid,
                        body={"verdict": verdict, "reason": f"{name} says {verdict}"})


@pytest.fixture
def world() -> World:
    return World()
