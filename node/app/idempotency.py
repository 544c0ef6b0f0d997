"""Idempotent POSTs: a retried request gets its first answer and signs nothing.

Theory of operation: a client sends `Idempotency-Key: <unique text>` with a
POST (the CLI always does: one fresh key per request, reused by its retries).
`Idempotency.run` looks the key up in the store's answer table
(node/store/answers.py):

- unknown: the key is reserved (committed, with a digest of the route and the
  body and this node's own seq), the request runs, and its answer is written
  before it is sent. A request refused before it signed anything frees the
  key (a corrected retry may use it again); one refused after it signed keeps
  its refusal as the answer.
- answered, same route and body: the stored status and body again, with the
  header `Idempotent-Replayed: true`. Nothing runs, nothing is signed.
- answered or reserved for another route or body: 422 `idempotency-key-reused`.
- reserved, unanswered: 409 `idempotency-key-in-progress` (only left by a
  request cut off by a failure; see below).

Requests run one at a time: a route's service call is synchronous inside the
event loop, so two copies of one request (a double click) cannot interleave,
and the second sees the first one's answer.

A `kill -9` between the token's commit and the answer's leaves a reserved key
with no answer. On the next start, before the node can sign anything,
`resolve_interrupted` answers it from the store: the node's own tokens with a
seq above the reserved one were signed by that request (nothing else signs
while a request runs), so the answer is those tokens (201, as the route would
have said, less any advisory `warnings`); none means it signed nothing, and
the key is freed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.store.answers import AnswerLog
from node.store.engine import EngineFailed

from .service import NodeService, ServiceError, token_json

__all__ = ["Idempotency", "Reply", "KEY_PATTERN", "CREATED"]

log = logging.getLogger("troth.api")

# Visible ASCII, no spaces: what fits a header value unquoted (a uuid4 does).
KEY_PATTERN = r"^[!-~]{1,255}$"
# Every POST that signs answers 201 Created.
CREATED = 201


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: str  # JSON text
    replayed: bool


def _json(value: Any) -> str:
    """JSON text as the API sends it (Starlette's JSONResponse encoding)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":"))


def _error(exc: ServiceError) -> str:
    return _json({"error": exc.reason, "detail": exc.detail})


class Idempotency:
    def __init__(self, answers: AnswerLog, service: NodeService) -> None:
        self.answers = answers
        self.service = service

    def run(self, key: str | None, route: str, request: Any, call: Callable[[], Any],
            *, many: bool = False) -> Reply:
        """Answer `request` to `route` once per `key`: `call` signs and returns the
        JSON-ready answer (already checked against the route's response model)."""
        if key is None:
            return Reply(CREATED, _json(call()), replayed=False)
        fingerprint = hashlib.sha256(_json([route, request]).encode()).hexdigest()
        seen = self.answers.get(key)
        if seen is not None:
            return self._replay(seen.fingerprint == fingerprint, seen.status, seen.body)
        core = self.service.core
        base = core.own_seq()
        self.answers.reserve(key, fingerprint, base_seq=base, many=many,
                             now=self.service.clock())
        try:
            body = _json(call())
        except EngineFailed:
            raise  # left reserved: `resolve_interrupted` reads the store after the restart
        except ServiceError as exc:
            self._refused(key, base, exc)
            raise
        except Exception as exc:  # a bug after signing must not let a retry sign again
            log.exception("event=api_error route=%s", route)
            failure = ServiceError(500, "internal-error", f"{type(exc).__name__}: {exc}")
            self._refused(key, base, failure)
            raise failure from exc
        self.answers.answer(key, CREATED, body)
        return Reply(CREATED, body, replayed=False)

    @staticmethod
    def _replay(same_request: bool, status: int | None, body: str | None) -> Reply:
        if not same_request:
            raise ServiceError(422, "idempotency-key-reused",
                               "this Idempotency-Key was used for a different request (another "
                               "route or body): send a fresh key for a new request")
        if status is None or body is None:
            raise ServiceError(409, "idempotency-key-in-progress",
                               "a request with this Idempotency-Key was cut off before it "
                               "answered; its answer is known after the node restarts")
        return Reply(status, body, replayed=True)

    def _refused(self, key: str, base: int, exc: ServiceError) -> None:
        """Free the key if nothing was signed, else keep the refusal as its answer."""
        if self.service.core.own_seq() == base:
            self.answers.forget(key)
        else:
            self.answers.answer(key, exc.status, _error(exc))

    def resolve_interrupted(self) -> int:
        """Answer (or free) every key whose request was cut off; call before the
        node can sign anything after a start. Returns how many there were."""
        engine = self.service.engine
        own = engine.store.chain(self.service.agent_id)
        pending = self.answers.pending()
        for p in pending:
            signed = [engine.core.tokens[cid] for seq, cid in own if seq > p.base_seq]
            if not signed:
                self.answers.forget(p.key)
                continue
            answers = [token_json(t) for t in signed]
            self.answers.answer(p.key, CREATED, _json(answers if p.many else answers[0]))
            log.info("event=idempotency_resolved key=%s tokens=%d", p.key, len(signed))
        return len(pending)
