"""The local HTTP API: a real hypercorn server on 127.0.0.1 over the node service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve

from node.app.api import make_app
from node.app.service import NodeService
from node.core import Output, Publish
from node.store import Store
from node.store.engine import Engine
from node.store.home import ApiTokens
from node.store.names import Petnames
from tests.harness import ident
from wire.limits import IAT_MAX_S, PROMISE_DEPS_MAX, TEXT_MAX_CHARS

TOKEN = "s3cret-token"
READ_TOKEN = "read-only-token"
UNKNOWN = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


class Served:
    def __init__(self, url: str, service: NodeService, published: list[Output]) -> None:
        self.url = url
        self.service = service
        self.published = published
        self.client = httpx.AsyncClient(base_url=url, timeout=10,
                                        headers={"Authorization": f"Bearer {TOKEN}"})

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, **kw)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.client.post(path, json=body)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Served]:
    engine = Engine(Store(tmp_path / "store.sqlite"), ident(1))
    published: list[Output] = []
    clock = [1_800_000_000.0]
    service = NodeService(engine, lambda: clock[0], published.extend)
    cfg = HyperConfig()
    cfg.bind = ["127.0.0.1:0"]
    cfg.accesslog = None
    async with trio.open_nursery() as nursery:
        app = make_app(service, ApiTokens(TOKEN, READ_TOKEN),
                       names=Petnames(tmp_path / "names.json"))
        binds = await nursery.start(serve, app, cfg)
        served = Served(binds[0], service, published)
        yield served
        await served.client.aclose()
        nursery.cancel_scope.cancel()
    engine.close()


async def test_requests_without_the_token_get_401_and_change_nothing(api: Served) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anon:
        r = await anon.post("/v1/promises", json={"text": "x"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = await anon.get("/v1/log", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
    assert api.service.core.own_seq() == 0 and not api.published


async def test_promise_fulfil_and_view(api: Served) -> None:
    r = await api.post("/v1/promises", {"text": "fix the fence", "due": 1_800_003_600})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["kind"] == "promise" and p["seq"] == 1 and p["body"]["text"] == "fix the fence"
    assert [type(o) for o in api.published if isinstance(o, Publish)] == [Publish]
    r = await api.get(f"/v1/tokens/{p['cid']}")
    assert r.json()["verdict"]["state"] == "pending"
    r = await api.post("/v1/fulfil", {"cid": p["cid"], "evidence": "photo of the fence"})
    assert r.status_code == 201 and r.json()["about"] == p["cid"]
    verdicts = (await api.get("/v1/verdicts")).json()
    assert [(v["cid"], v["state"]) for v in verdicts] == [(p["cid"], "kept")]
    trust = (await api.get("/v1/trust")).json()
    assert trust[0]["agent"] == api.service.agent_id and trust[0]["belief"] > 0
    log = (await api.get("/v1/log", params={"limit": 5})).json()
    assert [t["kind"] for t in log] == ["fulfil", "promise"]
    ident_ = (await api.get("/v1/id")).json()
    assert ident_["agent_id"] == api.service.agent_id and ident_["own_seq"] == 2


@pytest.mark.parametrize(("path", "body", "status", "reason"), [
    ("/v1/promises", {}, 400, "bad-request"),
    ("/v1/promises", {"text": ""}, 400, "bad-request"),
    ("/v1/promises", {"text": "x", "due": "tomorrow"}, 400, "bad-request"),
    ("/v1/promises", {"text": "x", "surprise": 1}, 400, "bad-request"),
    ("/v1/promises", {"text": "x", "deps": ["not-a-cid"]}, 400, "bad-cid"),
    ("/v1/promises", {"text": "x", "to": "bob"}, 400, "bad-agent"),
    ("/v1/promises", {"text": "x", "deps": [UNKNOWN]}, 404, "unknown-token"),
    ("/v1/assess", {"cid": UNKNOWN, "verdict": "meh"}, 400, "bad-request"),
    ("/v1/fulfil", {"cid": 42}, 400, "bad-request"),
    ("/v1/promises", {"text": "x", "due": 10**30}, 400, "bad-request"),
    ("/v1/charters", {"name": "c", "quorum": "5/3"}, 400, "bad-fraction"),
    ("/v1/charters", {"name": "c", "members": ["zz"]}, 400, "bad-agent"),
    ("/v1/ballots", {"proposal": "x", "choices": ["yes"]}, 400, "bad-cid"),
    # Strict JSON types: no `true` -> 1, `1.0` -> 1 or 7 -> "7".
    ("/v1/ballots", {"proposal": UNKNOWN, "choices": [True]}, 400, "bad-request"),
    ("/v1/ballots", {"proposal": UNKNOWN, "choices": [1.0]}, 400, "bad-request"),
    ("/v1/charters", {"name": "c", "quorum": [True, 2]}, 400, "bad-request"),
    ("/v1/promises", {"text": "x", "due": 1.5e9}, 400, "bad-request"),
    ("/v1/promises", {"text": 7}, 400, "bad-request"),
])
async def test_malformed_requests_get_400_and_change_nothing(
        api: Served, path: str, body: Any, status: int, reason: str) -> None:
    r = await api.post(path, body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == reason and r.json()["detail"]
    assert api.service.core.own_seq() == 0 and not api.published


async def test_raw_garbage_body_is_400(api: Served) -> None:
    r = await api.client.post("/v1/promises", content=b"\xff\x00{not json",
                              headers={"Content-Type": "application/json"})
    assert r.status_code == 400


async def test_only_the_promiser_fulfils(api: Served) -> None:
    other = Engine(Store(":memory:"), ident(2))
    tok, _ = other.issue(kind="promise", now=1.0, body={"text": "someone else's"})
    api.service.engine.receive_gossip("peer", tok.raw, 2.0)
    r = await api.post("/v1/fulfil", {"cid": tok.cid})
    assert r.status_code == 403 and r.json()["error"] == "not-yours"
    r = await api.post("/v1/assess", {"cid": tok.cid, "verdict": "broken", "reason": "not done"})
    assert r.status_code == 201 and r.json()["body"]["verdict"] == "broken"


async def test_openapi_description(api: Served) -> None:
    r = await api.get("/openapi.json")
    paths = r.json()["paths"]
    assert {"/v1/promises", "/v1/verdicts", "/v1/trust", "/v1/tokens/{cid}"} <= set(paths)


async def test_openapi_documents_the_token_limits(api: Served) -> None:
    """The request models take their limits from wire.limits, and say so to clients."""
    schemas = (await api.get("/openapi.json")).json()["components"]["schemas"]
    promise = schemas["PromiseIn"]["properties"]
    assert promise["text"]["maxLength"] == TEXT_MAX_CHARS == 4096
    assert promise["deps"]["maxItems"] == PROMISE_DEPS_MAX == 256
    due = next(s for s in promise["due"]["anyOf"] if s.get("type") == "integer")
    assert due["exclusiveMaximum"] == IAT_MAX_S == 2**40
    for model, field in (("FulfilIn", "evidence"), ("AssessIn", "reason")):
        text = next(s for s in schemas[model]["properties"][field]["anyOf"]
                    if s.get("type") == "string")
        assert text["maxLength"] == TEXT_MAX_CHARS


async def test_web_page_and_promise_graph(api: Served) -> None:
    import xml.etree.ElementTree as ET

    async with httpx.AsyncClient(base_url=api.url) as anon:
        page = await anon.get("/")
        assert page.status_code == 200 and "<title>troth node</title>" in page.text
        assert (await anon.get("/v1/graph.svg")).status_code == 401
    p = (await api.post("/v1/promises", {"text": "paint <the> shed & fence"})).json()
    f = (await api.post("/v1/fulfil", {"cid": p["cid"], "evidence": "done"})).json()
    r = await api.get("/v1/graph.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.text)  # well-formed, text escaped
    titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(p["cid"] in t and "paint <the> shed & fence" in t for t in titles)
    assert any(f["cid"] in t for t in titles)
    assert any(t == "builds on (accepts)" for t in titles)  # the fulfil builds on the promise
    again = await api.get("/v1/graph.svg")
    assert again.text == r.text  # deterministic picture


async def test_the_graph_draws_the_newest_tokens_with_their_verdicts(
        api: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the drawing limit only the newest tokens are drawn, each promise
    among them stroked with its verdict (the route judges only those)."""
    import xml.etree.ElementTree as ET

    from node.app import api as api_module
    from node.app import web

    monkeypatch.setattr(api_module, "GRAPH_TOKENS_MAX", 3)
    monkeypatch.setattr(web, "GRAPH_TOKENS_MAX", 3)
    cids = [(await api.post("/v1/promises", {"text": f"p{i}"})).json()["cid"] for i in range(5)]
    root = ET.fromstring((await api.get("/v1/graph.svg")).text)
    svg = "{http://www.w3.org/2000/svg}"
    drawn = {(g.find(f"{svg}title").text or "").split()[2]: g.find(f"{svg}rect")
             for g in root.iter(f"{svg}g")}
    assert set(drawn) == set(cids[2:])
    assert all(rect.get("stroke-width") == "3" and rect.get("stroke") == "#95a5a6"
               for rect in drawn.values())  # pending, judged


async def test_query_errors_have_the_same_shape(api: Served) -> None:
    for path in ("/v1/trust?agent=xyz", "/v1/verdicts?agent=111", "/v1/log?limit=abc",
                 "/v1/tokens/%00", "/v1/nowhere"):
        r = await api.get(path)
        assert r.status_code in (400, 404), path
        assert set(r.json()) == {"error", "detail"}, (path, r.text)
    r = await api.client.post("/v1/promises", content=b'{"text": "\xff"}',
                              headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and set(r.json()) == {"error", "detail"}


async def _proposal(api: Served, options: list[str], method: str = "approval",
                    closes: int = 1_800_003_600) -> str:
    charter = (await api.post("/v1/charters", {"name": "garden"})).json()["cid"]
    r = await api.post("/v1/proposals", {"scope": charter, "title": "what to plant",
                                         "options": options, "method": method,
                                         "closes": closes})
    assert r.status_code == 201, r.text
    return str(r.json()["cid"])


async def test_a_ballot_that_would_be_spoiled_is_refused_and_changes_nothing(
        api: Served) -> None:
    p = await _proposal(api, ["roses", "beans", "kale"])
    first = await api.post("/v1/ballots", {"proposal": p, "choices": ["roses"]})
    assert first.status_code == 201, first.text
    seq = api.service.core.own_seq()
    for choices in (["roses", "roses"], ["roses", 0], ["0", "beans", "roses"]):
        r = await api.post("/v1/ballots", {"proposal": p, "choices": choices})
        assert r.status_code == 400 and r.json()["error"] == "bad-choice", (choices, r.text)
        assert "more than once" in r.json()["detail"]
    assert api.service.core.own_seq() == seq  # the valid ballot still stands
    explained = (await api.get(f"/v1/proposals/{p}", params={"explain": "true"})).json()
    assert [b["state"] for b in explained["explanation"]["ballots"]] == ["counted"]


async def test_indexes_name_options_only_when_no_option_name_is_numeric(api: Served) -> None:
    words = await _proposal(api, ["roses", "beans", "kale"])
    r = await api.post("/v1/ballots", {"proposal": words, "choices": ["2", 0]})
    assert r.status_code == 201 and r.json()["body"]["choice"] == ["kale", "roses"]
    numbers = await _proposal(api, ["10", "20", "1"], method="single")
    r = await api.post("/v1/ballots", {"proposal": numbers, "choices": ["1"]})
    assert r.status_code == 201 and r.json()["body"]["choice"] == ["1"]  # the name, not index 1
    r = await api.post("/v1/ballots", {"proposal": numbers, "choices": ["2"]})
    assert r.status_code == 400 and r.json()["error"] == "bad-choice"


async def test_a_ballot_that_will_not_count_says_why(api: Served) -> None:
    p = await _proposal(api, ["yes", "no"], method="single", closes=1_800_000_100)
    r = await api.post("/v1/ballots", {"proposal": p, "choices": ["yes"]})
    assert r.status_code == 201 and "warnings" not in r.json()
    api.service.clock = lambda: 1_800_010_000.0  # long after closing + skew
    r = await api.post("/v1/ballots", {"proposal": p, "choices": ["no"]})
    assert r.status_code == 201
    assert r.json()["warnings"] == ["the vote has closed: this ballot is kept but not counted"]


# -- auth before the body, body size limit, the error responses in OpenAPI ----

async def _raw(api: Served, head: bytes, body: bytes = b"", timeout_s: float = 5.0) -> bytes:
    """Send a raw HTTP/1.1 request (maybe with only part of its body); return
    what the server answers before `timeout_s`, without sending the rest."""
    host, port = api.url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(head + body)
        answer = b""
        with trio.move_on_after(timeout_s):
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                answer += chunk
        return answer


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer.split(b" ", 2)[1])


def _json_of(answer: bytes) -> Any:
    import json

    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


async def test_401_comes_before_the_body_is_read(api: Served) -> None:
    # 200 MB announced, 10 bytes sent: the answer must not wait for (or hold) the rest.
    head = (b"POST /v1/promises HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200000000\r\n\r\n")
    answer = await _raw(api, head, b'{"text": "')
    assert _status(answer) == 401, answer[:200]
    assert _json_of(answer)["error"] == "unauthorized"
    assert b"www-authenticate: Bearer" in answer.lower().replace(b"bearer", b"Bearer")
    async with httpx.AsyncClient(base_url=api.url) as anon:
        r = await anon.post("/v1/promises", content=b"{bad",
                            headers={"Content-Type": "application/json"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = await anon.post("/v1/promises", content=b"{bad",
                            headers={"Authorization": "Basic czNjcmV0LXRva2Vu"})
        assert r.status_code == 401
    assert api.service.core.own_seq() == 0 and not api.published


async def test_a_body_over_the_limit_is_413_by_content_length(api: Served) -> None:
    from node.app.api import BODY_MAX_BYTES

    head = (b"POST /v1/promises HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Length: " + str(BODY_MAX_BYTES + 1).encode() + b"\r\n\r\n")
    answer = await _raw(api, head, b'{"text": "')
    assert _status(answer) == 413, answer[:200]
    assert _json_of(answer) == {"error": "too-large",
                                "detail": f"request body over {BODY_MAX_BYTES} bytes"}
    assert api.service.core.own_seq() == 0


async def test_a_chunked_body_over_the_limit_is_413(api: Served) -> None:
    from node.app.api import BODY_MAX_BYTES

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield b'{"text": "'
        for _ in range(BODY_MAX_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    try:
        r = await api.client.post("/v1/promises", content=chunks(),
                                  headers={"Content-Type": "application/json"})
    except httpx.TransportError:  # the server may close before all was sent
        pytest.skip("connection closed before the answer was read")
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "too-large"
    assert api.service.core.own_seq() == 0 and not api.published


async def test_a_chunked_body_under_the_limit_is_accepted(api: Served) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": '
        yield b'"chunked promise"}'

    r = await api.client.post("/v1/promises", content=chunks(),
                              headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["body"]["text"] == "chunked promise"


async def test_openapi_documents_the_real_error_responses(api: Served) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anon:
        r = await anon.get("/openapi.json")  # public, like the page
        assert r.status_code == 200
        assert (await anon.get("/docs")).status_code == 200
    schema = r.json()
    error = schema["components"]["schemas"]["ErrorOut"]
    assert set(error["properties"]) == {"error", "detail"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    ops = [(path, method, op) for path, item in schema["paths"].items()
           for method, op in item.items()]
    assert len(ops) >= 17
    for path, method, op in ops:
        codes = set(op["responses"])
        signs = method == "post" and path != "/v1/names"  # (names sign nothing)
        # validation errors are 400; a POST's 422 is a reused Idempotency-Key
        assert ("422" in codes) == signs, (path, method)
        assert path.startswith("/v1/")
        assert {"400", "401", "413"} <= codes, (path, method, codes)
        for code in codes - {"200", "201"}:
            ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorOut", (path, method, code)
        if method == "post":  # (the read token is 403 on every one)
            assert {"403", "409"} <= codes, (path, method)
        if signs:
            assert "503" in codes, (path, method)
    assert {"403", "404"} <= set(schema["paths"]["/v1/fulfil"]["post"]["responses"])
    assert "409" in schema["paths"]["/v1/proposals/{cid}/tally"]["post"]["responses"]


async def test_a_promise_is_not_retracted_twice_or_after_its_fulfilment(api: Served) -> None:
    kept = (await api.post("/v1/promises", {"text": "mow the lawn"})).json()["cid"]
    assert (await api.post("/v1/fulfil", {"cid": kept, "evidence": "photo"})).status_code == 201
    more = await api.post("/v1/fulfil", {"cid": kept, "evidence": "another photo"})
    assert more.status_code == 201  # more evidence is allowed
    r = await api.post("/v1/retract", {"cid": kept})
    assert r.status_code == 409 and r.json()["error"] == "already-fulfilled"
    dropped = (await api.post("/v1/promises", {"text": "paint the shed"})).json()["cid"]
    assert (await api.post("/v1/retract", {"cid": dropped})).status_code == 201
    seq = api.service.core.own_seq()
    for path, body in (("/v1/retract", {"cid": dropped}), ("/v1/fulfil", {"cid": dropped})):
        r = await api.post(path, body)
        assert r.status_code == 409 and r.json()["error"] == "already-retracted", r.text
    assert api.service.core.own_seq() == seq
