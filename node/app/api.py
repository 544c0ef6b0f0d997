"""The local HTTP API of a running node (FastAPI app, served by hypercorn on trio).

Theory of operation: every route is a thin call into `NodeService` (or the
runtime's network view). Auth: `Authorization: Bearer <token>` with one of the
node home's two tokens (node/store/home.py), compared in constant time: the
write token (`api-token`) may do everything, the read token (`api-read-token`)
only GET (and HEAD, the event stream included). No or an unknown token is
401, the read token on any other method 403 `forbidden`, both before the
request body is looked at: `_Gate`, a pure-ASGI middleware, checks the header
of every `/v1/` request before any route (or FastAPI's body parsing) runs,
and asks its token source on every request, so a rotated token counts from
the next request on. Request bodies are at most `BODY_MAX_BYTES` (1 MiB): a
larger Content-Length is 413 at once, and a body without one (chunked) is
counted as it streams in and refused with 413 as soon as it passes the limit;
the gate holds at most that much before the route sees it. Every error is
`{"error": reason, "detail": ...}`: malformed requests 400, no or wrong token
401, not allowed 403, unknown tokens 404, a state that does not allow it 409,
too large 413, an idempotency key reused for another request 422, the node
stopping 503. A refused request changes nothing.

Every POST that signs takes an `Idempotency-Key` header
(node/app/idempotency.py): a retry with the same key gets the first answer
again and signs nothing. `POST /v1/names` signs nothing and is idempotent by
itself (a retry sets the same name again).

The OpenAPI description at `/openapi.json` (and the interactive page at
`/docs`) gives every route its response model (node/app/api_models.py) and
the error responses it really returns; the web app at `/` (node/app/web.py)
is static files served without auth, which call these same routes with the
read token it is given in the URL fragment (`troth web`), and the write
token when the user asks it to act.

The API listens on loopback only (node/store/home.py refuses other hosts).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Literal

import trio
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field, TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.store.answers import AnswerLog
from node.store.engine import EngineFailed
from node.store.home import READ_METHODS, ApiTokens
from node.store.names import NAME_MAX_CHARS, PetnameError, Petnames
from trust.governance import NAME_MAX_CHARS as COMMUNITY_NAME_MAX_CHARS
from trust.governance import OPTIONS_MAX, TITLE_MAX_CHARS
from wire.limits import PROMISE_DEPS_MAX, TEXT_MAX_CHARS, TRANSITION_ITEMS_MAX

from .api_models import (
    CommunityOut,
    ConflictOut,
    IdOut,
    IssuedOut,
    OpinionOut,
    PeerOut,
    ProposalInfoOut,
    StatsOut,
    TallyOut,
    TokenDetailOut,
    TokenOut,
    TrustPointOut,
    VerdictRowOut,
)
from .events import EventHub, Subscription, TooManySubscribers
from .idempotency import KEY_PATTERN, Idempotency
from .service import DUE_MAX, NodeService, ServiceError
from .web import APP_DIR, APP_PREFIX, GRAPH_TOKENS_MAX, PAGE_HEADERS, AppFiles, graph_svg

__all__ = ["make_app", "NetView", "ErrorOut", "BODY_MAX_BYTES", "GUARDED_PREFIX"]

# The largest request body accepted (the largest legitimate one, a charter with
# 4096 members, is ~250 KiB).
BODY_MAX_BYTES = 1024 * 1024
# Every route under this prefix needs a bearer token; nothing else does.
GUARDED_PREFIX = "/v1/"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ErrorOut(BaseModel):
    """Every error the API returns."""

    error: str = Field(description="a short machine-readable reason, e.g. unauthorized")
    detail: str = Field(description="what was wrong, for people")


_ERROR_TEXT = {
    400: "Malformed request (bad JSON, wrong types, bad values, a bad Idempotency-Key)",
    401: "Missing or unknown bearer token",
    403: "Not allowed: the read token on a write route (`forbidden`), or not allowed for "
         "this node's agent",
    404: "Unknown token, proposal or community",
    409: "The current state does not allow it (or an Idempotency-Key whose request was cut "
         "off: `idempotency-key-in-progress`)",
    413: f"Request body over {BODY_MAX_BYTES} bytes, or a token over the size limit",
    422: "This Idempotency-Key was used for a different request (`idempotency-key-reused`)",
    429: "Too many event watchers at once",
    503: "The node is stopping after a failure; nothing was published",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a guarded GET route: 400, 401, 413 and `codes`."""
    return {c: {"model": ErrorOut, "description": _ERROR_TEXT[c]}
            for c in sorted({400, 401, 413, *codes})}


def _write_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a POST: also 403 (read token), 409 and 422 (idempotency
    keys), 503 (the node stopping), and the replay header of its 201."""
    out = _errors(403, 409, 422, 503, *codes)
    out[201] = {"headers": {"Idempotent-Replayed": {
        "description": "`true` when this is the stored answer of an earlier request with "
                       "the same Idempotency-Key (nothing was signed this time)",
        "schema": {"type": "string", "enum": ["true"]}}}}
    return out


TokenSource = Callable[[], ApiTokens]


def _token_source(tokens: str | ApiTokens | TokenSource) -> TokenSource:
    """A bare string is the write token alone (no read token)."""
    if isinstance(tokens, str):
        tokens = ApiTokens(write=tokens)
    if isinstance(tokens, ApiTokens):
        fixed = tokens
        return lambda: fixed
    return tokens


def _refusal(method: str, headers: Any, tokens: ApiTokens) -> tuple[int, str, str] | None:
    """(status, reason, detail) when the `Authorization` header does not allow
    `method`, else None. One check for the gate and the route dependencies."""
    values = [v for k, v in headers if k.lower() == b"authorization"]
    role = None
    if len(values) == 1:
        scheme, _, credentials = values[0].strip().partition(b" ")
        presented = credentials.strip()
        if scheme.lower() == b"bearer" and presented:
            # (both compared every time: which one matched takes no longer to find)
            is_write = _same(presented, tokens.write)
            is_read = _same(presented, tokens.read)
            role = "write" if is_write else "read" if is_read else None
    if role is None:
        return 401, "unauthorized", "missing or unknown bearer token"
    if role == "read" and method not in READ_METHODS:
        return 403, "forbidden", ("the read token (api-read-token) may only read; this "
                                  "request needs the write token (api-token)")
    return None


def _same(presented: bytes, token: str | None) -> bool:
    return token is not None and secrets.compare_digest(presented, token.encode())


async def _send_error(send: Send, status: int, reason: str, detail: str,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": reason, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class _Gate:
    """Pure ASGI, outside every route: auth from the headers, then the body size.

    For `/v1/` requests the token is checked before a byte of the body is
    received (401, or 403 for the read token on a write). For every request,
    a Content-Length over `BODY_MAX_BYTES` is 413 unread; otherwise the body
    is received here, counted chunk by chunk (so a chunked body cannot grow
    past the limit either), and replayed to the app in one piece.
    """

    def __init__(self, app: ASGIApp, tokens: TokenSource,
                 body_max_bytes: int = BODY_MAX_BYTES) -> None:
        self.app = app
        self.tokens = tokens
        self.body_max_bytes = body_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(GUARDED_PREFIX):
            refused = _refusal(scope["method"], scope.get("headers", ()), self.tokens())
            if refused is not None:
                status, reason, detail = refused
                await _send_error(send, status, reason, detail,
                                  [(b"www-authenticate", b"Bearer")] if status == 401 else None)
                return
        too_large = f"request body over {self.body_max_bytes} bytes"
        lengths = [v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"]
        if lengths:
            try:
                declared = int(lengths[0])
            except ValueError:
                await _send_error(send, 400, "bad-request", "bad Content-Length")
                return
            if declared > self.body_max_bytes:
                await _send_error(send, 413, "too-large", too_large)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.body_max_bytes:
                await _send_error(send, 413, "too-large", too_large)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# With nothing to report, a comment line this often: a watcher whose connection
# died is noticed (the write fails) and idle proxies keep the stream open.
EVENT_KEEPALIVE_S = 15.0


async def _sse(sub: Subscription) -> AsyncIterator[bytes]:
    """One subscription as Server-Sent Events (`event:` type, `data:` JSON)."""
    try:
        yield b": subscribed\n\n"  # the subscription exists from here on
        n = 0
        while True:
            event = None
            with trio.move_on_after(EVENT_KEEPALIVE_S) as idle:
                event = await sub.get()
            if idle.cancelled_caught:
                yield b": keepalive\n\n"
                continue
            if event is None:
                return  # the node is stopping
            n += 1
            yield (f"id: {n}\nevent: {event['event']}\n"
                   f"data: {json.dumps(event, sort_keys=True)}\n\n").encode()
    finally:
        sub.close()


class NetView:
    """The runtime's network facts, as the API shows them (overridden by the runtime)."""

    def listen_addrs(self) -> list[str]:
        return []

    def peers(self) -> list[dict[str, Any]]:
        return []

    def relaying_view(self) -> dict[str, Any]:
        """Reachability, our circuit addresses, what we serve as a relay."""
        return {}

    def gossip_stats(self) -> dict[str, Any]:
        """Gossip counters: delivered, rejected, ignored, rate-limited (per neighbour)."""
        return {}


# Request bodies are strict: JSON `true` or `1.0` is not an integer and `1` is
# not a string (lax coercion once turned `[true]` into option index 1).
class PromiseIn(BaseModel, extra="forbid", strict=True):
    text: str = Field(min_length=1, max_length=TEXT_MAX_CHARS)
    due: int | None = Field(default=None, ge=0, lt=DUE_MAX, description="epoch seconds")
    to: str | None = Field(default=None, description="the promisee's agent id")
    deps: list[str] = Field(default_factory=list, max_length=PROMISE_DEPS_MAX,
                            description="cids this promise builds on (accepts)")
    scope: str | None = Field(default=None, description="community (charter cid)")
    slot: str | None = Field(default=None, max_length=TEXT_MAX_CHARS,
                             description="claim this slot: rival claims form a conflict set")
    # The transition tuple (docs/design.md, Tokens): f1, given `in`, will produce
    # `out` and state f2.
    f1: str | None = Field(default=None, max_length=TEXT_MAX_CHARS,
                           description="the function or current state: text or a cid")
    inputs: list[str] | None = Field(default=None, alias="in", max_length=TRANSITION_ITEMS_MAX,
                                     description="inputs: text or cids")
    out: list[str] | None = Field(default=None, max_length=TRANSITION_ITEMS_MAX,
                                  description="cids of the artifacts to deliver")
    f2: str | None = Field(default=None, max_length=TEXT_MAX_CHARS,
                           description="the next state: text or a cid")


class FulfilIn(BaseModel, extra="forbid", strict=True):
    cid: str
    evidence: str | None = Field(default=None, max_length=TEXT_MAX_CHARS)
    artifacts: list[str] | None = Field(default=None, max_length=TRANSITION_ITEMS_MAX,
                                        description="the delivered artifacts, base64")


def _artifacts(items: list[str] | None) -> list[bytes] | None:
    if items is None:
        return None
    out = []
    for i, text in enumerate(items):
        try:
            out.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise ServiceError(400, "bad-artifact", f"artifacts.{i} is not base64") from None
    return out


class AssessIn(BaseModel, extra="forbid", strict=True):
    cid: str
    verdict: Literal["kept", "broken"]
    reason: str | None = Field(default=None, max_length=TEXT_MAX_CHARS)


class RetractIn(BaseModel, extra="forbid", strict=True):
    cid: str


Fraction = str | list[int]


class CharterIn(BaseModel, extra="forbid", strict=True):
    name: str = Field(min_length=1, max_length=COMMUNITY_NAME_MAX_CHARS)
    members: list[str] = Field(default_factory=list, max_length=4096,
                               description="agent ids; the founder is always a member")
    quorum: Fraction | None = Field(default=None, description="share that must vote: 1/2, 50%")
    threshold: Fraction | None = Field(default=None,
                                       description="share of members' tallies that decides")
    methods: list[Literal["single", "approval", "ranked"]] | None = None


class ProposalIn(BaseModel, extra="forbid", strict=True):
    scope: str = Field(description="the community: its charter cid")
    title: str = Field(min_length=1, max_length=TITLE_MAX_CHARS)
    options: list[str] = Field(default_factory=lambda: ["yes", "no"], min_length=2,
                               max_length=OPTIONS_MAX)
    method: Literal["single", "approval", "ranked"] = "single"
    closes: int | None = Field(default=None, description="epoch seconds (default: in 1 hour)")
    quorum: Fraction | None = None
    threshold: Fraction | None = None
    add: list[str] = Field(default_factory=list, description="membership change: add agents")
    remove: list[str] = Field(default_factory=list, description="membership change: remove")


class NameIn(BaseModel, extra="forbid", strict=True):
    agent: str = Field(description="an agent id")
    name: str | None = Field(max_length=NAME_MAX_CHARS,
                             description="its local petname; null removes it")


class BallotIn(BaseModel, extra="forbid", strict=True):
    proposal: str
    choices: list[str | int] = Field(min_length=1, max_length=OPTIONS_MAX,
                                     description="option names or indexes; ranked: best first")


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=KEY_PATTERN,
    description="Any unique text (a uuid4): a retry with the same key and body gets the "
                "first answer again, with `Idempotent-Replayed: true`, and signs nothing; "
                "the same key with another body is 422. Keys are kept 24 hours, across "
                "restarts.")]


def make_app(service: NodeService, tokens: str | ApiTokens | TokenSource,
             net: NetView | None = None, events: EventHub | None = None,
             idempotency: Idempotency | None = None, *,
             names: Petnames | None = None) -> FastAPI:
    """The app over `service`. `tokens`: the accepted bearer tokens, or a function
    asked on every request (`ApiTokenFiles`, so rotation needs no restart).
    `idempotency`: the runtime's, already resolved after a crash; by default one
    over the service's store, resolved here. `names`: the home's petnames
    (without them, the names routes answer 404)."""
    net = net or NetView()
    hub = events if events is not None else EventHub()
    token_source = _token_source(tokens)
    if idempotency is None:
        idempotency = Idempotency(AnswerLog(service.engine.store), service)
        idempotency.resolve_interrupted()
    once = idempotency
    # (one schema per model: `response_model_exclude_unset` sends only the fields
    # the service set, so a field with a default is optional in the answers too)
    app = FastAPI(title="troth node API", version="1", separate_input_output_schemas=False,
                  description="The local API of one troth node. Bearer tokens, from the node "
                              "home: `api-token` (write: every route) or `api-read-token` "
                              "(read: GET routes only). Every POST takes an optional "
                              "`Idempotency-Key` header.")
    # The gate checks the token (and the body size) before any route runs; the
    # dependencies below check it again and put the schemes in the OpenAPI description.
    app.add_middleware(_Gate, tokens=token_source)
    write_bearer = HTTPBearer(auto_error=False, scheme_name="writeToken",
                              description="`api-token`: every route")
    read_bearer = HTTPBearer(auto_error=False, scheme_name="readToken",
                             description="`api-read-token`: GET routes only")

    def check(request: Request) -> None:
        refused = _refusal(request.method, request.scope.get("headers", ()), token_source())
        if refused is not None:
            raise ServiceError(*refused)

    async def may_read(request: Request, _w: Any = Depends(write_bearer),
                       _r: Any = Depends(read_bearer)) -> None:
        check(request)

    async def may_write(request: Request, _w: Any = Depends(write_bearer)) -> None:
        check(request)

    @app.exception_handler(ServiceError)
    async def service_error(_req: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.reason, "detail": exc.detail}, status_code=exc.status,
                            headers=headers)

    @app.exception_handler(EngineFailed)
    async def engine_failed(_req: Request, exc: EngineFailed) -> JSONResponse:
        # The node is stopping (the runtime's on_failure): nothing was published.
        return JSONResponse({"error": "node-failed", "detail": str(exc)}, status_code=503)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {400: "bad-request", 404: "not-found", 405: "method-not-allowed",
                  413: "too-large"}.get(
            exc.status_code, "error")
        return JSONResponse({"error": reason, "detail": str(exc.detail)},
                            status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_req: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                    for e in exc.errors()]
        return JSONResponse({"error": "bad-request", "detail": "; ".join(problems)},
                            status_code=400)

    reads = [Depends(may_read)]
    writes = [Depends(may_write)]

    def openapi() -> dict[str, Any]:
        """The generated description, with the errors the API really returns:
        FastAPI lists 422 HTTPValidationError on every route with parameters,
        but validation errors are 400 `ErrorOut` here (`bad_request` above);
        the 422 of a POST is the reused idempotency key."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes,
                                 separate_input_output_schemas=False)
            for item in schema.get("paths", {}).values():
                for op in item.values():
                    responses = op.get("responses", {})
                    if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                        responses.pop("422")
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
                schemas.pop("HTTPValidationError", None)
                schemas.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    one_token, many_tokens = TypeAdapter(IssuedOut), TypeAdapter(list[TokenOut])

    def issued(request: Request, key: str | None, body: BaseModel | None,
               call: Callable[[], Any], *, many: bool = False) -> Response:
        """A POST's answer: `call` signs, its result is checked against the
        route's model (a token, or `many` of them), and the reply is kept under
        the idempotency key."""
        adapter: TypeAdapter[Any] = many_tokens if many else one_token

        def answer() -> Any:
            return adapter.dump_python(adapter.validate_python(call()), mode="json",
                                       exclude_unset=True)

        request_json = None if body is None else body.model_dump(mode="json", by_alias=True)
        reply = once.run(key, request.url.path, request_json, answer, many=many)
        headers = {"Idempotent-Replayed": "true"} if reply.replayed else None
        return Response(reply.body, status_code=reply.status, media_type="application/json",
                        headers=headers)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        # The app holds no data and no token; it fetches /v1/* with the read
        # token it is given in the URL fragment.
        return FileResponse(APP_DIR / "index.html", headers=PAGE_HEADERS)

    app.mount(APP_PREFIX, AppFiles(directory=APP_DIR), name="app")

    @app.get("/v1/graph.svg", dependencies=reads, tags=["view"], response_class=Response,
             responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}},
                              "description": "The promise graph as SVG"}, **_errors()})
    async def get_graph() -> Response:
        core = service.core
        now = service.clock()
        # Verdicts of the drawn promises only, not of every promise held: the
        # promises view fetches this picture on every refresh.
        drawn = list(core.tokens.values())[-GRAPH_TOKENS_MAX:]
        promises = core.observer.promises()
        verdicts = {t.cid: core.observer.verdict(t.cid, now).state
                    for t in drawn if t.cid in promises}
        return Response(graph_svg(drawn, verdicts, names.all() if names is not None else None),
                        media_type="image/svg+xml")

    def petnames() -> Petnames:
        if names is None:
            raise ServiceError(404, "no-names", "this node keeps no petnames")
        return names

    @app.get("/v1/names", dependencies=reads, tags=["names"], response_model=dict[str, str],
             responses=_errors(404))
    async def get_names() -> Any:
        """This node's petnames: agent id -> the local name its user gave it."""
        return petnames().all()

    @app.post("/v1/names", dependencies=writes, tags=["names"], response_model=dict[str, str],
              responses=_errors(403, 404, 409))
    async def post_name(body: NameIn) -> Any:
        """Name an agent (a `null` name removes its name); answers every name.
        Signs nothing, so no Idempotency-Key: a retry sets the same name again."""
        try:
            petnames().set(body.agent, body.name)
        except PetnameError as exc:
            status = 409 if exc.reason == "name-taken" else 400
            raise ServiceError(status, exc.reason, exc.detail) from None
        return petnames().all()

    @app.get("/v1/communities", dependencies=reads, tags=["governance"],
             response_model=list[CommunityOut], response_model_exclude_unset=True,
             responses=_errors())
    async def get_communities() -> Any:
        return service.communities()

    @app.get("/v1/id", dependencies=reads, tags=["node"], response_model=IdOut,
             response_model_exclude_unset=True, responses=_errors())
    async def get_id() -> Any:
        out = service.identity()
        out["listen"] = net.listen_addrs()
        out.update(net.relaying_view())
        return out

    @app.get("/v1/peers", dependencies=reads, tags=["node"], response_model=list[PeerOut],
             response_model_exclude_unset=True, responses=_errors())
    async def get_peers() -> Any:
        return net.peers()

    @app.get("/v1/stats", dependencies=reads, tags=["node"], response_model=StatsOut,
             responses=_errors())
    async def get_stats() -> dict[str, Any]:
        """What this node took in, ignored and why: admission decisions by
        reason and the strangers' budget, the core's counters, and gossip's."""
        out = service.stats()
        out["gossip"] = net.gossip_stats()
        return out

    @app.post("/v1/promises", dependencies=writes, tags=["tokens"], status_code=201,
              response_model=IssuedOut, responses=_write_errors(404))
    async def post_promise(request: Request, body: PromiseIn,
                           key: IdempotencyKey = None) -> Response:
        return issued(request, key, body, lambda: service.promise(
            body.text, due=body.due, to=body.to, deps=body.deps, scope=body.scope,
            slot=body.slot, f1=body.f1, inputs=body.inputs, out=body.out, f2=body.f2))

    @app.post("/v1/fulfil", dependencies=writes, tags=["tokens"], status_code=201,
              response_model=IssuedOut, responses=_write_errors(404))
    async def post_fulfil(request: Request, body: FulfilIn,
                          key: IdempotencyKey = None) -> Response:
        return issued(request, key, body, lambda: service.fulfil(
            body.cid, body.evidence, _artifacts(body.artifacts)))

    @app.post("/v1/assess", dependencies=writes, tags=["tokens"], status_code=201,
              response_model=IssuedOut, responses=_write_errors(404))
    async def post_assess(request: Request, body: AssessIn,
                          key: IdempotencyKey = None) -> Response:
        return issued(request, key, body,
                      lambda: service.assess(body.cid, body.verdict, body.reason))

    @app.post("/v1/retract", dependencies=writes, tags=["tokens"], status_code=201,
              response_model=IssuedOut, responses=_write_errors(404))
    async def post_retract(request: Request, body: RetractIn,
                           key: IdempotencyKey = None) -> Response:
        return issued(request, key, body, lambda: service.retract(body.cid))

    @app.get("/v1/tokens/{cid}", dependencies=reads, tags=["tokens"],
             response_model=TokenDetailOut, response_model_exclude_unset=True,
             responses=_errors(404))
    async def get_token(cid: str) -> Any:
        return service.show(cid)

    @app.get("/v1/log", dependencies=reads, tags=["tokens"], response_model=list[TokenOut],
             response_model_exclude_unset=True, responses=_errors())
    async def get_log(limit: int = 20) -> Any:
        return service.log(limit)

    @app.get("/v1/verdicts", dependencies=reads, tags=["view"],
             response_model=list[VerdictRowOut], response_model_exclude_unset=True,
             responses=_errors())
    async def get_verdicts(agent: str | None = None) -> Any:
        return service.verdicts(agent)

    @app.get("/v1/conflicts", dependencies=reads, tags=["view"],
             response_model=list[ConflictOut], response_model_exclude_unset=True,
             responses=_errors(404))
    async def get_conflicts(scope: str | None = None) -> Any:
        return service.conflicts(scope)

    @app.get("/v1/events", dependencies=reads, tags=["view"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                              "description": "Server-Sent Events: token, verdict, trust, "
                                             "consensus, outcome; lost (events dropped for a "
                                             "slow reader)"},
                        **_errors(429)})
    async def get_events() -> StreamingResponse:
        try:
            sub = hub.subscribe()
        except TooManySubscribers as exc:
            raise ServiceError(429, "too-many-watchers", str(exc)) from None
        return StreamingResponse(_sse(sub), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @app.get("/v1/trust", dependencies=reads, tags=["view"], response_model=list[OpinionOut],
             response_model_exclude_unset=True, responses=_errors())
    async def get_trust(agent: str | None = None) -> Any:
        return service.trust(agent)

    @app.get("/v1/trust/history", dependencies=reads, tags=["view"],
             response_model=list[TrustPointOut], response_model_exclude_unset=True,
             responses=_errors())
    async def get_trust_history(agent: str) -> Any:
        """How this node's trust in `agent` changed while it ran (oldest first, `at`
        epoch seconds), at most the last 64 changes; the last is the current opinion."""
        now = service.trust(agent)[0]  # (checks the id)
        points = hub.trust_history.of(agent)
        if not points or {k: v for k, v in points[-1].items() if k != "at"} != now:
            points.append({"at": service.clock(), **now})
        return points

    @app.post("/v1/charters", dependencies=writes, tags=["governance"], status_code=201,
              response_model=IssuedOut, responses=_write_errors())
    async def post_charter(request: Request, body: CharterIn,
                           key: IdempotencyKey = None) -> Response:
        return issued(request, key, body, lambda: service.charter(
            body.name, body.members, quorum=body.quorum, threshold=body.threshold,
            methods=body.methods))

    @app.post("/v1/proposals", dependencies=writes, tags=["governance"], status_code=201,
              response_model=IssuedOut, responses=_write_errors(404))
    async def post_proposal(request: Request, body: ProposalIn,
                            key: IdempotencyKey = None) -> Response:
        return issued(request, key, body, lambda: service.propose(
            body.scope, body.title, body.options, body.method, closes=body.closes,
            quorum=body.quorum, threshold=body.threshold, add=body.add, remove=body.remove))

    @app.get("/v1/proposals", dependencies=reads, tags=["governance"],
             response_model=list[ProposalInfoOut], response_model_exclude_unset=True,
             responses=_errors(404))
    async def get_proposals(scope: str | None = None) -> Any:
        return service.proposals(scope)

    @app.post("/v1/ballots", dependencies=writes, tags=["governance"], status_code=201,
              response_model=IssuedOut, responses=_write_errors(404))
    async def post_ballot(request: Request, body: BallotIn,
                          key: IdempotencyKey = None) -> Response:
        return issued(request, key, body, lambda: service.vote(body.proposal, body.choices))

    @app.get("/v1/proposals/{cid}", dependencies=reads, tags=["governance"],
             response_model=TallyOut, response_model_exclude_unset=True,
             responses=_errors(404))
    async def get_tally(cid: str, explain: bool = False, voter: str | None = None) -> Any:
        return service.tally(cid, voter=voter, explain=explain)

    @app.post("/v1/proposals/{cid}/tally", dependencies=writes, tags=["governance"],
              status_code=201, response_model=list[TokenOut], responses=_write_errors(404))
    async def post_tally(request: Request, cid: str, key: IdempotencyKey = None) -> Response:
        return issued(request, key, None, lambda: service.publish_tally(cid), many=True)

    return app
