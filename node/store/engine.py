"""A core bound to its durable store: the part of a node both drivers share.

Theory of operation: `Engine` replays the store's log into a fresh `Core` on
open, and `execute(outputs)` carries out the `Persist` outputs of one batch in
a single committed transaction *before* handing back the rest (sends,
publishes, events) for the network driver. So everything the caller goes on to
publish is already on disk: after `kill -9` the node restarts at the stored seq
and cannot sign a second token with a seq it used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import trust
import wire
from node.core import Core, CoreParams, Output, Persist, TokenIssued

from .sqlite import META_OWN_SEQ_FLOOR, Store, StoreError, StoreFull

__all__ = ["Engine", "EngineFailed", "Issued"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """What `Engine.issue_many` made: the tokens (durable), the outputs left
    for the network, and the refusal that stopped the batch early, if any."""

    tokens: list[wire.Token]
    outputs: list[Output]
    refused: ValueError | None = None


class EngineFailed(Exception):
    """The store refused a write (or the core failed mid-change): the core's
    memory may be ahead of the disk, so the node must stop; a restart recovers
    from the store (crash-only). Carrying on could publish what is not durable
    and, after a restart, sign another token with the same seq.

    `reason`: "disk-full" (free space, then restart), "store-write" (any other
    refused write) or "core" (a bug: the core failed mid-change)."""

    def __init__(self, why: str, reason: str = "store-write") -> None:
        super().__init__(why)
        self.reason = reason


class Engine:
    def __init__(
        self,
        store: Store,
        identity: wire.Identity | None,
        params: CoreParams | None = None,
        *,
        decode: Callable[[bytes], wire.Token] = wire.decode_token,
        trust_params: trust.Params | None = None,
        on_failure: Callable[[EngineFailed], None] | None = None,
        debug: bool = False,
    ) -> None:
        self.store = store
        # Debug mode: assert the core's invariants after every batch. It costs
        # O(tokens held) per batch, so it is for tests and for debugging.
        self._debug = debug
        self.failed: EngineFailed | None = None
        self._on_failure = on_failure
        self.identity = identity
        if identity is not None:
            owner = store.meta("agent")
            if owner is None:
                store.set_meta("agent", identity.agent_id)
            elif owner != identity.agent_id:
                raise StoreError(f"{store.path} belongs to {owner}, not {identity.agent_id}")
        self.core = Core(identity, params, decode=decode, trust_params=trust_params)
        self.core.restore(store.log())
        self.core.own_seq_floor = int(store.meta(META_OWN_SEQ_FLOOR) or 0)
        if debug:
            self.core.check_invariants()

    @classmethod
    def open(cls, path: str | Path, identity: wire.Identity | None,
             params: CoreParams | None = None) -> Engine:
        return cls(Store(path), identity, params)

    def close(self) -> None:
        self.store.close()

    def execute(self, outputs: list[Output]) -> list[Output]:
        """Persist this batch durably, then return the outputs for the network."""
        # One pass, exact types (outputs are final dataclasses): ingest hands
        # over two outputs per token, so this loop is on the hot path.
        to_store: list[tuple[wire.Token, float | None]] = []
        rest: list[Output] = []
        for o in outputs:
            if type(o) is Persist:
                to_store.append((o.token, o.seen_at))
            else:
                rest.append(o)
        if to_store:
            try:
                self.store.append(to_store)
            except StoreFull as exc:
                self._fail(f"the store refused a write: {exc}", exc, "disk-full")
            except Exception as exc:  # noqa: BLE001 - any failure: memory is ahead of disk
                self._fail(f"the store refused a write: {exc}", exc, "store-write")
        return rest

    def _fail(self, why: str, exc: BaseException, reason: str) -> NoReturn:
        failure = EngineFailed(why, reason)
        self.failed = failure
        if self._on_failure is not None:
            self._on_failure(failure)
        raise failure from exc

    def _core(self, fn: Callable[..., list[Output]], *args: Any, **kw: Any) -> list[Output]:
        if self.failed is not None:
            raise EngineFailed(f"the engine stopped after a failure: {self.failed}",
                               self.failed.reason)
        try:
            outs = fn(*args, **kw)
            if self._debug:
                self.core.check_invariants()  # a broken one fails the engine, as below
            return outs
        except ValueError:
            raise  # misuse refused before any change (unknown deps, bad claims)
        except Exception as exc:  # noqa: BLE001 - a half-applied change
            self._fail(f"the core failed mid-change: {type(exc).__name__}: {exc}", exc, "core")

    def issue(self, *, kind: str, now: float, body: Mapping[str, Any] | None = None,
              deps: tuple[str, ...] = (), about: str | None = None,
              scope: str | None = None) -> tuple[wire.Token, list[Output]]:
        """Issue a token; it is durable when this returns. Returns it and the rest."""
        outs = self.execute(self._core(self.core.issue, kind=kind, now=now, body=body,
                                       deps=deps, about=about, scope=scope))
        token = next(o.token for o in outs if isinstance(o, TokenIssued))
        return token, outs

    def issue_many(self, requests: Sequence[Mapping[str, Any]], *, now: float) -> Issued:
        """Issue several tokens (each request: `Core.issue`'s keywords but
        `now`), all durable together when this returns: one store transaction,
        one fsync, where `issue` pays one per token. For a burst (a client
        issuing many at once): their Publish outputs then leave together, and
        the publisher bundles them. A request the core refuses stops the
        batch there; the tokens before it are issued all the same."""
        outs: list[Output] = []
        refused: list[ValueError] = []

        def issue_all() -> list[Output]:
            for request in requests:
                try:
                    outs.extend(self.core.issue(now=now, **request))
                except ValueError as exc:  # refused before any change
                    refused.append(exc)
                    break
            return outs

        rest = self.execute(self._core(issue_all))
        return Issued(tokens=[o.token for o in rest if isinstance(o, TokenIssued)], outputs=rest,
                      refused=refused[0] if refused else None)

    def receive_gossip(self, peer: str, data: bytes, now: float) -> list[Output]:
        return self.execute(self._core(self.core.receive_gossip, peer, data, now))

    def receive_gossip_many(self, items: list[tuple[str, bytes]], now: float) -> list[Output]:
        """A burst of gossip handled as one batch: one store transaction."""
        return self.execute(self._core(self.core.receive_gossip_many, items, now))

    def receive_frame(self, peer: str, data: bytes, now: float) -> list[Output]:
        return self.execute(self._core(self.core.receive_frame, peer, data, now))

    def tick(self, now: float) -> list[Output]:
        return self.execute(self._core(self.core.tick, now))

    def peer_up(self, peer: str, now: float) -> list[Output]:
        return self.execute(self._core(self.core.peer_up, peer, now))

    def peer_down(self, peer: str, now: float) -> list[Output]:
        return self.execute(self._core(self.core.peer_down, peer, now))
