"""The local HTTP API of a running node (FastAPI app, served by hypercorn on trio).

Theory of operation: every route is a thin call into `NodeService` (or the
runtime's network view). Auth: `Authorization: Bearer <token>` with the token of
the node's home (`api-token`), compared in constant time; anything else is 401
before the request body is looked at. Malformed requests get 400 with
`{"error": reason, "detail": ...}`; unknown tokens 404. A refused request
changes nothing. The OpenAPI description is at `/openapi.json` (and the
interactive page at `/docs`); the web page at `/` is served without auth and
fetches data with the token the user pastes.

The API listens on loopback only (node/home.py refuses other hosts).
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .engine import EngineFailed
from .service import NodeService, ServiceError
from .web import PAGE, graph_svg

__all__ = ["make_app", "NetView"]


class NetView:
    """The runtime's network facts, as the API shows them (overridden by the runtime)."""

    def listen_addrs(self) -> list[str]:
        return []

    def peers(self) -> list[dict[str, Any]]:
        return []


# Request bodies are strict: JSON `true` or `1.0` is not an integer and `1` is
# not a string (lax coercion once turned `[true]` into option index 1).
class PromiseIn(BaseModel, extra="forbid", strict=True):
    text: str = Field(min_length=1, max_length=4096)
    due: int | None = Field(default=None, ge=0, lt=2**40, description="epoch seconds")
    to: str | None = Field(default=None, description="the promisee's agent id")
    deps: list[str] = Field(default_factory=list, max_length=256,
                            description="cids this promise builds on (accepts)")
    scope: str | None = Field(default=None, description="community (charter cid)")
    slot: str | None = None


class FulfilIn(BaseModel, extra="forbid", strict=True):
    cid: str
    evidence: str | None = Field(default=None, max_length=4096)


class AssessIn(BaseModel, extra="forbid", strict=True):
    cid: str
    verdict: Literal["kept", "broken"]
    reason: str | None = Field(default=None, max_length=4096)


class RetractIn(BaseModel, extra="forbid", strict=True):
    cid: str


Fraction = str | list[int]


class CharterIn(BaseModel, extra="forbid", strict=True):
    name: str = Field(min_length=1, max_length=256)
    members: list[str] = Field(default_factory=list, max_length=4096,
                               description="agent ids; the founder is always a member")
    quorum: Fraction | None = Field(default=None, description="share that must vote: 1/2, 50%")
    threshold: Fraction | None = Field(default=None,
                                       description="share of members' tallies that decides")
    methods: list[Literal["single", "approval", "ranked"]] | None = None


class ProposalIn(BaseModel, extra="forbid", strict=True):
    scope: str = Field(description="the community: its charter cid")
    title: str = Field(min_length=1, max_length=1024)
    options: list[str] = Field(default_factory=lambda: ["yes", "no"], min_length=2,
                               max_length=64)
    method: Literal["single", "approval", "ranked"] = "single"
    closes: int | None = Field(default=None, description="epoch seconds (default: in 1 hour)")
    quorum: Fraction | None = None
    threshold: Fraction | None = None
    add: list[str] = Field(default_factory=list, description="membership change: add agents")
    remove: list[str] = Field(default_factory=list, description="membership change: remove")


class BallotIn(BaseModel, extra="forbid", strict=True):
    proposal: str
    choices: list[str | int] = Field(min_length=1, max_length=64,
                                     description="option names or indexes; ranked: best first")


def make_app(service: NodeService, token: str, net: NetView | None = None) -> FastAPI:
    net = net or NetView()
    app = FastAPI(title="troth node API", version="1",
                  description="The local API of one troth node. Bearer token: the node "
                              "home's `api-token` file.")
    bearer = HTTPBearer(auto_error=False)

    def auth(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if creds is None or not secrets.compare_digest(creds.credentials.encode(),
                                                       token.encode()):
            raise ServiceError(401, "unauthorized", "missing or wrong bearer token")

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
        reason = {400: "bad-request", 404: "not-found", 405: "method-not-allowed"}.get(
            exc.status_code, "error")
        return JSONResponse({"error": reason, "detail": str(exc.detail)},
                            status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_req: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                    for e in exc.errors()]
        return JSONResponse({"error": "bad-request", "detail": "; ".join(problems)},
                            status_code=400)

    guarded = [Depends(auth)]

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        # The page itself holds no data; it fetches /v1/* with the token.
        return HTMLResponse(PAGE, headers={"Content-Security-Policy":
                                           "default-src 'self'; script-src 'unsafe-inline'; "
                                           "style-src 'unsafe-inline'"})

    @app.get("/v1/graph.svg", dependencies=guarded, tags=["view"],
             response_class=Response)
    async def get_graph() -> Response:
        core = service.core
        now = service.clock()
        verdicts = {cid: core.observer.verdict(cid, now).state
                    for cid in core.observer.promises()}
        return Response(graph_svg(list(core.tokens.values()), verdicts),
                        media_type="image/svg+xml")

    @app.get("/v1/id", dependencies=guarded, tags=["node"])
    async def get_id() -> dict[str, Any]:
        out = service.identity()
        out["listen"] = net.listen_addrs()
        return out

    @app.get("/v1/peers", dependencies=guarded, tags=["node"])
    async def get_peers() -> list[dict[str, Any]]:
        return net.peers()

    @app.post("/v1/promises", dependencies=guarded, tags=["tokens"], status_code=201)
    async def post_promise(body: PromiseIn) -> dict[str, Any]:
        return service.promise(body.text, due=body.due, to=body.to, deps=body.deps,
                               scope=body.scope, slot=body.slot)

    @app.post("/v1/fulfil", dependencies=guarded, tags=["tokens"], status_code=201)
    async def post_fulfil(body: FulfilIn) -> dict[str, Any]:
        return service.fulfil(body.cid, body.evidence)

    @app.post("/v1/assess", dependencies=guarded, tags=["tokens"], status_code=201)
    async def post_assess(body: AssessIn) -> dict[str, Any]:
        return service.assess(body.cid, body.verdict, body.reason)

    @app.post("/v1/retract", dependencies=guarded, tags=["tokens"], status_code=201)
    async def post_retract(body: RetractIn) -> dict[str, Any]:
        return service.retract(body.cid)

    @app.get("/v1/tokens/{cid}", dependencies=guarded, tags=["tokens"])
    async def get_token(cid: str) -> dict[str, Any]:
        return service.show(cid)

    @app.get("/v1/log", dependencies=guarded, tags=["tokens"])
    async def get_log(limit: int = 20) -> list[dict[str, Any]]:
        return service.log(limit)

    @app.get("/v1/verdicts", dependencies=guarded, tags=["view"])
    async def get_verdicts(agent: str | None = None) -> list[dict[str, Any]]:
        return service.verdicts(agent)

    @app.get("/v1/trust", dependencies=guarded, tags=["view"])
    async def get_trust(agent: str | None = None) -> list[dict[str, Any]]:
        return service.trust(agent)

    @app.post("/v1/charters", dependencies=guarded, tags=["governance"], status_code=201)
    async def post_charter(body: CharterIn) -> dict[str, Any]:
        return service.charter(body.name, body.members, quorum=body.quorum,
                               threshold=body.threshold, methods=body.methods)

    @app.post("/v1/proposals", dependencies=guarded, tags=["governance"], status_code=201)
    async def post_proposal(body: ProposalIn) -> dict[str, Any]:
        return service.propose(body.scope, body.title, body.options, body.method,
                               closes=body.closes, quorum=body.quorum, threshold=body.threshold,
                               add=body.add, remove=body.remove)

    @app.get("/v1/proposals", dependencies=guarded, tags=["governance"])
    async def get_proposals(scope: str | None = None) -> list[dict[str, Any]]:
        return service.proposals(scope)

    @app.post("/v1/ballots", dependencies=guarded, tags=["governance"], status_code=201)
    async def post_ballot(body: BallotIn) -> dict[str, Any]:
        return service.vote(body.proposal, body.choices)

    @app.get("/v1/proposals/{cid}", dependencies=guarded, tags=["governance"])
    async def get_tally(cid: str, explain: bool = False,
                        voter: str | None = None) -> dict[str, Any]:
        return service.tally(cid, voter=voter, explain=explain)

    @app.post("/v1/proposals/{cid}/tally", dependencies=guarded, tags=["governance"],
              status_code=201)
    async def post_tally(cid: str) -> list[dict[str, Any]]:
        return service.publish_tally(cid)

    return app
