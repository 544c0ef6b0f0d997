"""The API routes the web app needs, on a real hypercorn server on 127.0.0.1:
the read-only token, petnames, communities, trust history, the app's files.

(The app itself, in a real browser against real nodes: tests/web/.)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve

import trust
from node.app.api import make_app
from node.app.events import HISTORY_POINTS_MAX, EventHub
from node.app.service import NodeService
from node.core import TrustChanged
from node.store import Store
from node.store.engine import Engine
from node.store.home import ApiTokens
from node.store.names import NAME_MAX_CHARS, Petnames
from tests.harness import ident

WRITE = "the-write-token"
READ = "the-read-token"
BOB = ident(2).agent_id
CAROL = ident(3).agent_id


class Node:
    def __init__(self, url: str, service: NodeService, names: Petnames, hub: EventHub) -> None:
        self.service = service
        self.names = names
        self.hub = hub
        self.write = httpx.AsyncClient(base_url=url, timeout=10,
                                       headers={"Authorization": f"Bearer {WRITE}"})
        self.read = httpx.AsyncClient(base_url=url, timeout=10,
                                      headers={"Authorization": f"Bearer {READ}"})
        self.anon = httpx.AsyncClient(base_url=url, timeout=10)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    engine = Engine(Store(tmp_path / "store.sqlite"), ident(1))
    clock = [1_800_000_000.0]
    service = NodeService(engine, lambda: clock[0], lambda _outs: None)
    names = Petnames(tmp_path / "names.json")
    hub = EventHub(clock=lambda: clock[0])
    cfg = HyperConfig()
    cfg.bind = ["127.0.0.1:0"]
    cfg.accesslog = None
    app = make_app(service, ApiTokens(WRITE, READ), events=hub, names=names)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, app, cfg)
        n = Node(binds[0], service, names, hub)
        yield n
        for c in (n.write, n.read, n.anon):
            await c.aclose()
        nursery.cancel_scope.cancel()
    engine.close()


async def test_the_read_token_reads_and_cannot_sign(node: Node) -> None:
    p = (await node.write.post("/v1/promises", json={"text": "sweep the yard"})).json()
    for path in ("/v1/id", "/v1/verdicts", f"/v1/tokens/{p['cid']}", "/v1/names",
                 "/v1/communities", "/v1/graph.svg"):
        r = await node.read.get(path)
        assert r.status_code == 200, (path, r.text)
    seq = node.service.core.own_seq()
    for path, body in (("/v1/promises", {"text": "x"}), ("/v1/fulfil", {"cid": p["cid"]}),
                       ("/v1/names", {"agent": BOB, "name": "bob"}),
                       (f"/v1/proposals/{p['cid']}/tally", {})):
        r = await node.read.post(path, json=body)
        assert r.status_code == 403 and r.json()["error"] == "forbidden", (path, r.text)
    r = await node.anon.post("/v1/promises", json={"text": "x"},
                             headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert node.service.core.own_seq() == seq and node.names.all() == {}


async def test_the_read_token_follows_the_event_stream(node: Node) -> None:
    async with node.read.stream("GET", "/v1/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.aiter_lines()
        assert await lines.__anext__() == ": subscribed"


async def test_petnames_are_set_listed_refused_and_kept_on_disk(node: Node) -> None:
    r = await node.write.post("/v1/names", json={"agent": BOB, "name": "Bob the builder"})
    assert r.status_code == 200 and r.json() == {BOB: "Bob the builder"}
    taken = await node.write.post("/v1/names", json={"agent": CAROL, "name": "Bob the builder"})
    assert taken.status_code == 409 and taken.json()["error"] == "name-taken"
    for body in ({"agent": "bob", "name": "x"}, {"agent": CAROL, "name": " padded"},
                 {"agent": CAROL, "name": "a\nb"}, {"agent": CAROL, "name": ""},
                 {"agent": CAROL, "name": "x" * (NAME_MAX_CHARS + 1)}, {"agent": CAROL}):
        r = await node.write.post("/v1/names", json=body)
        assert r.status_code == 400, (body, r.text)
    assert (await node.read.get("/v1/names")).json() == {BOB: "Bob the builder"}
    assert Petnames(node.names.path).all() == {BOB: "Bob the builder"}  # on disk
    assert json.loads(node.names.path.read_text()) == {BOB: "Bob the builder"}
    r = await node.write.post("/v1/names", json={"agent": BOB, "name": None})
    assert r.json() == {} and Petnames(node.names.path).all() == {}


async def test_the_graph_shows_petnames(node: Node) -> None:
    await node.write.post("/v1/promises", json={"text": "mine"})
    me = node.service.agent_id
    await node.write.post("/v1/names", json={"agent": me, "name": "Alice <home>"})
    svg = (await node.read.get("/v1/graph.svg")).text
    assert "Alice &lt;home&gt;" in svg


async def test_communities_list_each_charter_with_its_members(node: Node) -> None:
    assert (await node.read.get("/v1/communities")).json() == []
    c = (await node.write.post("/v1/charters", json={"name": "the club",
                                                      "members": [BOB]})).json()
    rows = (await node.read.get("/v1/communities")).json()
    me = node.service.agent_id
    assert [(r["cid"], r["name"], r["founder"], r["members"], r["epoch"]) for r in rows] == [
        (c["cid"], "the club", me, sorted([me, BOB]), 0)]
    assert rows[0]["methods"] == ["approval", "ranked", "single"]


async def test_a_promise_shows_each_assessors_latest_assessment(node: Node) -> None:
    p = (await node.write.post("/v1/promises", json={"text": "fix it", "due": 1_800_003_600,
                                                     "to": BOB})).json()
    await node.write.post("/v1/assess", json={"cid": p["cid"], "verdict": "broken"})
    a = (await node.write.post("/v1/assess", json={"cid": p["cid"], "verdict": "kept",
                                                   "reason": "saw it"})).json()
    shown = (await node.read.get(f"/v1/tokens/{p['cid']}")).json()
    assert shown["assessments"] == [{"cid": a["cid"], "assessor": node.service.agent_id,
                                     "iat": a["iat"], "verdict": "kept", "reason": "saw it"}]
    [row] = (await node.read.get("/v1/verdicts")).json()
    assert (row["due"], row["to"], row["text"], row["slot"]) == (1_800_003_600, BOB, "fix it",
                                                                  None)


async def test_trust_history_keeps_the_last_changes_and_ends_at_now(node: Node) -> None:
    r = await node.read.get("/v1/trust/history", params={"agent": BOB})
    [only] = r.json()  # nothing recorded: the current opinion, now
    assert only["agent"] == BOB and only["at"] == 1_800_000_000.0
    for i in range(HISTORY_POINTS_MAX + 5):
        node.hub.publish([TrustChanged(agent=BOB, opinion=trust.Opinion(
            belief=0.0, disbelief=0.0, uncertainty=1.0, base_rate=0.5 + i / 1000))])
    points = (await node.read.get("/v1/trust/history", params={"agent": BOB})).json()
    assert len(points) == HISTORY_POINTS_MAX + 1  # the kept ones, then the opinion now
    assert points[0]["base_rate"] == pytest.approx(0.505)
    assert (await node.read.get("/v1/trust/history",
                                params={"agent": "x"})).status_code == 400


async def test_the_app_is_static_files_under_a_strict_policy(node: Node) -> None:
    page = await node.anon.get("/")
    assert page.status_code == 200 and "<title>troth node</title>" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    js = await node.anon.get("/app/js/main.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert js.headers["cache-control"] == "no-cache"  # (revalidated: no stale module)
    assert (await node.anon.get("/app/js/nothing.js")).status_code == 404
    assert (await node.anon.get("/v1/id")).status_code == 401  # the files hold no data
