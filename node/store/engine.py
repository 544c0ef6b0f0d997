"""A core bound to its durable store: the part of a node both drivers share.

Theory of operation: `Engine` replays the store's log into a fresh `Core` on
open, and `execute(outputs)` carries out the `Persist` outputs of one batch in
a single committed transaction *before* handing back the rest (sends,
publishes, events) for the network driver. So everything the caller goes on to
publish is already on disk: after `kill -9` the node restarts at the stored seq
and cannot sign a second token with a seq it used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, NoReturn

import trust
import wire
from node.core import Core, CoreParams, Output, Persist, TokenIssued

from .sqlite import META_OWN_SEQ_FLOOR, Store, StoreError, StoreFull
from .verifiers import Verifier

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
        verify_threads: int = 0,
        verify_processes: int = 0,
        predecoded: Callable[[bytes], bool] | None = None,
    ) -> None:
        """`decode`: the core's door from bytes to a Token (a caller may
        cache what it verified already; `predecoded(raw)` says whether it
        holds `raw`). `verify_threads` or `verify_processes` > 0 (not
        both): signatures of what arrives in a batch (the log on open, a
        gossip burst, a sync frame's tokens) are checked on that many threads
        or processes beside the core (`wire.TokenBatch`, node/store/verifiers.py);
        the outcome is the same, byte for byte, with or without them."""
        self.store = store
        self._decode = decode
        self._predecoded = predecoded
        self._batch: wire.TokenBatch | None = None
        self._frame: tuple[bytes, wire.Frame] | None = None
        # Debug mode: assert the core's invariants after every batch. It costs
        # O(tokens held) per batch, so it is for tests and for debugging.
        self._debug = debug
        self.failed: EngineFailed | None = None
        self._on_failure = on_failure
        self.identity = identity
        self._verifier = (Verifier(threads=verify_threads, processes=verify_processes)
                          if verify_threads or verify_processes else None)
        try:
            self._open(store, identity, params, trust_params, debug)
        except BaseException:
            if self._verifier is not None:
                self._verifier.shutdown()  # (its workers may have started)
            raise

    def _open(self, store: Store, identity: wire.Identity | None, params: CoreParams | None,
              trust_params: trust.Params | None, debug: bool) -> None:
        if identity is not None:
            owner = store.meta("agent")
            if owner is None:
                store.set_meta("agent", identity.agent_id)
            elif owner != identity.agent_id:
                raise StoreError(f"{store.path} belongs to {owner}, not {identity.agent_id}")
        if self._verifier is None:
            self.core = Core(identity, params, decode=self._decode, trust_params=trust_params)
            self.core.restore(store.log())
        else:
            self.core = Core(identity, params, decode=self._decode_ahead,
                             decode_frame=self._decode_frame, trust_params=trust_params)
            self.core.restore(self._log_ahead(store.log()))
        self.core.own_seq_floor = int(store.meta(META_OWN_SEQ_FLOOR) or 0)
        if debug:
            self.core.check_invariants()

    @classmethod
    def open(cls, path: str | Path, identity: wire.Identity | None,
             params: CoreParams | None = None) -> Engine:
        return cls(Store(path), identity, params)

    def close(self) -> None:
        if self._verifier is not None:
            self._verifier.shutdown()
        self.store.close()

    # -- verification beside the core (verify threads or processes) -------
    @property
    def verifier(self) -> Verifier | None:
        """The verify threads or processes (None: verify inline), for a
        caller that checks tokens before they reach the core (the gossip
        validator: `verifier.batch(raws)`)."""
        return self._verifier

    # Restoring, this many stored tokens are verified ahead of the core at a
    # time (a few MiB of bytes held).
    _RESTORE_AHEAD = 4096

    def _decode_ahead(self, raw: bytes) -> wire.Token:
        batch = self._batch
        if batch is not None and raw in batch:
            return batch.decode(raw)
        return self._decode(raw)

    def _decode_frame(self, data: bytes) -> wire.Frame:
        held = self._frame
        if held is not None and held[0] is data:
            return held[1]
        return wire.decode_frame(data)

    def _log_ahead(self, log: Iterable[tuple[bytes, float | None]]
                   ) -> Iterator[tuple[bytes, float | None]]:
        assert self._verifier is not None
        entries = iter(log)
        try:
            while part := list(islice(entries, self._RESTORE_AHEAD)):
                self._batch = self._verifier.batch([raw for raw, _at in part])
                yield from part
        finally:
            self._batch = None

    @contextmanager
    def _ahead(self, raws: Iterable[bytes]) -> Iterator[None]:
        """Verify the new ones among `raws` ahead of the core, for one call."""
        assert self._verifier is not None
        core, predecoded = self.core, self._predecoded
        fresh = [raw for raw in raws
                 if (predecoded is None or not predecoded(raw))
                 and not core.knows(wire.cid_of(raw))]
        self._batch = self._verifier.batch(fresh) if fresh else None
        try:
            yield
        finally:
            self._batch = None
            self._frame = None

    def execute(self, outputs: list[Output]) -> list[Output]:
        """Persist this batch durably, then return the outputs for the network."""
        # One pass, exact types (outputs are final dataclasses): ingest hands
        # over two outputs per token, so this loop is on the hot path.
        to_store: list[tuple[wire.Token, float | None]] = []
        rest: list[Output] = []
        own = False
        me = self.identity.agent_id if self.identity is not None else None
        for o in outputs:
            if type(o) is Persist:
                to_store.append((o.token, o.seen_at))
                own = own or o.token.issuer == me
            else:
                rest.append(o)
        if to_store:
            try:
                # Only the node's own tokens must reach the disk before they
                # leave (a seq is never signed twice, power cut or not); what
                # it received is committed, and fsync'd by the next commit of
                # its own (docs/decisions/0019-received-tokens-fsync.md).
                self.store.append(to_store, fsync=own)
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
        return self.receive_gossip_many([(peer, data)], now)

    def receive_gossip_many(self, items: list[tuple[str, bytes]], now: float) -> list[Output]:
        """A burst of gossip handled as one batch: one store transaction."""
        if self._verifier is None:
            return self.execute(self._core(self.core.receive_gossip_many, items, now))
        raws: list[bytes] = []
        for _peer, data in items:
            try:
                raws.extend(wire.gossip_tokens(data))
            except wire.InvalidBundle:
                pass  # the core rejects it, and says why
        with self._ahead(raws):
            return self.execute(self._core(self.core.receive_gossip_many, items, now))

    def receive_frame(self, peer: str, data: bytes, now: float) -> list[Output]:
        if self._verifier is None:
            return self.execute(self._core(self.core.receive_frame, peer, data, now))
        try:
            frame = wire.decode_frame(data)
        except wire.InvalidFrame:
            return self.execute(self._core(self.core.receive_frame, peer, data, now))
        raws = frame.tokens if isinstance(frame, wire.Tokens) else ()
        with self._ahead(raws):
            self._frame = (data, frame)
            return self.execute(self._core(self.core.receive_frame, peer, data, now))

    def tick(self, now: float) -> list[Output]:
        return self.execute(self._core(self.core.tick, now))

    def peer_up(self, peer: str, now: float) -> list[Output]:
        return self.execute(self._core(self.core.peer_up, peer, now))

    def peer_down(self, peer: str, now: float) -> list[Output]:
        return self.execute(self._core(self.core.peer_down, peer, now))
