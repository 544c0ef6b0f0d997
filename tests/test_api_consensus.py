"""The API of issue 11 on a real hypercorn server on 127.0.0.1: transition
promises and artifacts, `/v1/conflicts`, and the `/v1/events` stream."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve

import wire
from node.app.api import make_app
from node.app.events import EventHub
from node.app.service import NodeService
from node.core import Output, TokenAccepted
from node.store import Store
from node.store.engine import Engine
from tests.harness import ident
from tests.test_api import TOKEN, UNKNOWN, Served
from wire.limits import TOKEN_SIZE_MAX_BYTES

NOW = 1_800_000_000.0
BASES = {"own", "verified", "witnessed", "claimed", "deadline", "retracted", "equivocation",
         "none"}


class Node(Served):
    def __init__(self, url: str, service: NodeService, published: list[Output],
                 hub: EventHub) -> None:
        super().__init__(url, service, published)
        self.hub = hub


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    engine = Engine(Store(tmp_path / "store.sqlite"), ident(1))
    published: list[Output] = []
    hub = EventHub(subscribers_max=2)

    def dispatch(outs: list[Output]) -> None:  # as the runtime's _dispatch does
        published.extend(outs)
        hub.publish(outs)

    service = NodeService(engine, lambda: NOW, dispatch)
    cfg = HyperConfig()
    cfg.bind = ["127.0.0.1:0"]
    cfg.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, make_app(service, TOKEN, events=hub), cfg)
        served = Node(binds[0], service, published, hub)
        yield served
        await served.client.aclose()
        hub.close()
        nursery.cancel_scope.cancel()
    engine.close()


# -- the transition tuple and delivered artifacts ---------------------------------

async def test_a_transition_promise_and_its_delivered_artifacts(node: Node) -> None:
    report, log = b"the report\n", b"the build log\n"
    out = [wire.cid_of(report), wire.cid_of(log)]
    r = await node.post("/v1/promises", {"text": "build v2", "f1": "build.sh",
                                         "in": ["v1 tree", UNKNOWN], "out": out,
                                         "f2": "v2 released"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["body"]["f1"] == "build.sh" and p["body"]["f2"] == "v2 released"
    assert p["body"]["in"] == ["v1 tree", UNKNOWN] and p["body"]["out"] == out
    r = await node.post("/v1/fulfil", {"cid": p["cid"], "evidence": "built",
                                       "artifacts": [base64.b64encode(report).decode()]})
    assert r.status_code == 201, r.text
    f = r.json()
    assert f["body"]["artifacts"] == [{"cid": out[0], "size_bytes": len(report)}]
    fulfil_token = node.service.core.tokens[f["cid"]]
    assert fulfil_token.body["artifacts"] == (report,)  # the bytes travel in the token
    shown = (await node.get(f"/v1/tokens/{p['cid']}")).json()
    d = shown["delivery"]
    assert d["out"] == out and d["delivered"] == [{"fulfil": f["cid"], "artifacts": [out[0]]}]
    assert d["missing"] == [out[1]] and d["unpromised"] == []
    assert shown["verdict"]["basis"] in BASES  # what kind of evidence decided
    assert shown["accepted_by"] == [node.service.agent_id]


@pytest.mark.parametrize(("path", "body", "status", "reason"), [
    ("/v1/promises", {"text": "x", "out": ["not-a-cid"]}, 400, "bad-cid"),
    ("/v1/promises", {"text": "x", "out": "bafkrei"}, 400, "bad-request"),
    ("/v1/promises", {"text": "x", "in": [""]}, 400, "bad-text"),
    ("/v1/promises", {"text": "x", "f1": ""}, 400, "bad-text"),
    ("/v1/promises", {"text": "x", "out": [UNKNOWN] * 65}, 400, "bad-request"),
    ("/v1/promises", {"text": "x", "slot": ""}, 400, "bad-text"),
    ("/v1/fulfil", {"cid": UNKNOWN, "artifacts": ["***"]}, 400, "bad-artifact"),
    ("/v1/fulfil", {"cid": UNKNOWN, "artifacts": [""]}, 400, "bad-artifact"),
    ("/v1/fulfil", {"cid": UNKNOWN, "artifacts": ["eA=="]}, 404, "unknown-token"),
])
async def test_bad_transitions_and_artifacts_are_refused_and_change_nothing(
        node: Node, path: str, body: Any, status: int, reason: str) -> None:
    r = await node.post(path, body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == reason and r.json()["detail"]
    assert node.service.core.own_seq() == 0 and not node.published


async def test_artifacts_over_the_token_size_limit_are_refused_before_signing(
        node: Node) -> None:
    p = (await node.post("/v1/promises", {"text": "ship the image"})).json()
    seq, published = node.service.core.own_seq(), len(node.published)
    big = base64.b64encode(b"\0" * (TOKEN_SIZE_MAX_BYTES - 100)).decode()
    r = await node.post("/v1/fulfil", {"cid": p["cid"], "artifacts": [big]})
    assert r.status_code == 413 and r.json()["error"] == "token-too-large", r.text
    assert "wire/limits.py" in r.json()["detail"]
    assert node.service.core.own_seq() == seq and len(node.published) == published
    r = await node.post("/v1/fulfil", {"cid": p["cid"],
                                       "artifacts": [base64.b64encode(b"x" * 100_000).decode()]})
    assert r.status_code == 201  # well under the limit: fine


# -- conflict sets ---------------------------------------------------------------

def _peer(node: Node, i: int) -> Engine:
    """Another agent's engine holding everything this node holds."""
    other = Engine(Store(":memory:"), ident(i))
    for t in node.service.core.tokens.values():
        other.receive_gossip("n1", t.raw, NOW)
    return other


def _give(node: Node, tok: wire.Token) -> None:
    node.service.dispatch(node.service.engine.receive_gossip("peer", tok.raw, NOW))


async def test_conflicts_list_leader_state_support_and_builders(node: Node) -> None:
    a2, a3 = ident(2).agent_id, ident(3).agent_id
    me = node.service.agent_id
    scope = (await node.post("/v1/charters", {"name": "club", "members": [a2, a3]})).json()["cid"]
    e2, e3 = _peer(node, 2), _peer(node, 3)
    x, _ = e2.issue(kind="promise", now=NOW, scope=scope, body={"text": "I chair",
                                                                "slot": "chair"})
    y, _ = e3.issue(kind="promise", now=NOW, scope=scope, body={"text": "no, I do",
                                                                "slot": "chair"})
    _give(node, x)
    _give(node, y)
    rows = (await node.get("/v1/conflicts")).json()
    assert [r["state"] for r in rows] == ["contested"]  # 1/3 each
    r = await node.post("/v1/promises", {"text": "x chairs", "deps": [x.cid], "scope": scope})
    assert r.status_code == 201
    rows = (await node.get("/v1/conflicts", params={"scope": scope})).json()
    assert len(rows) == 1
    c = rows[0]
    assert c["key"] == {"kind": "slot", "scope": scope, "slot": "chair"}
    assert (c["leader"], c["state"]) == (x.cid, "settled")
    assert c["support"] == pytest.approx(2 / 3, abs=1e-3) and c["threshold"] == pytest.approx(
        2 / 3, abs=1e-3)
    assert [(v["cid"], v["issuer"], v["accepted_by"]) for v in c["rivals"]] == [
        (x.cid, a2, sorted([a2, me])), (y.cid, a3, [a3])]
    assert c["rivals"][1]["support"] == pytest.approx(1 / 3, abs=1e-3)
    shown = (await node.get(f"/v1/tokens/{x.cid}")).json()
    assert shown["accepted_by"] == sorted([a2, me]) and shown["support"] == c["support"]
    assert [k["leader"] for k in shown["conflicts"]] == [x.cid]
    other_scope = (await node.post("/v1/charters", {"name": "other"})).json()["cid"]
    assert (await node.get("/v1/conflicts", params={"scope": other_scope})).json() == []
    for bad, status in (("nope", 400), (UNKNOWN, 404)):
        r = await node.get("/v1/conflicts", params={"scope": bad})
        assert r.status_code == status and set(r.json()) == {"error", "detail"}
    e2.close()
    e3.close()


# -- the event stream ------------------------------------------------------------

async def _events(node: Node, want: int, into: list[dict[str, Any]],
                  ready: trio.Event, until: str | None = None) -> None:
    """Read `want` events into `into` (and on, until one of kind `until`)."""
    async with node.client.stream("GET", "/v1/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line == ": subscribed":
                ready.set()
            if line.startswith("data:"):
                into.append(json.loads(line[5:]))
                if len(into) >= want and (until is None or into[-1]["event"] == until):
                    return


async def test_events_stream_tokens_verdicts_trust_and_consensus(node: Node) -> None:
    got: list[dict[str, Any]] = []
    ready = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_events, node, 3, got, ready, "consensus")
            await ready.wait()
            p = (await node.post("/v1/promises", {"text": "water the plants"})).json()
            scope = (await node.post("/v1/charters", {"name": "club"})).json()["cid"]
            claim = (await node.post("/v1/promises", {"text": "I chair", "scope": scope,
                                                      "slot": "chair"})).json()
    kinds = [e["event"] for e in got]
    assert kinds[0] == "token" and got[0]["cid"] == p["cid"] and got[0]["kind"] == "promise"
    assert {"verdict", "trust"} <= set(kinds), kinds
    verdict = next(e for e in got if e["event"] == "verdict")
    assert verdict["cid"] == p["cid"] and verdict["state"] == "pending"
    assert verdict["basis"] in BASES
    consensus = got[-1]  # a community of one: its claim on the slot is settled
    assert consensus["key"] == {"kind": "slot", "scope": scope, "slot": "chair"}
    assert (consensus["leader"], consensus["state"]) == (claim["cid"], "settled")
    with trio.fail_after(5):
        while len(node.hub):  # the stream's end unsubscribed it
            await trio.sleep(0.01)


async def test_events_need_the_token_and_are_limited_in_watchers(node: Node) -> None:
    async with httpx.AsyncClient(base_url=node.url) as anon:
        r = await anon.get("/v1/events")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    subs = [node.hub.subscribe(), node.hub.subscribe()]  # subscribers_max=2
    r = await node.get("/v1/events")
    assert r.status_code == 429 and r.json()["error"] == "too-many-watchers"
    for s in subs:
        s.close()
    assert len(node.hub) == 0


async def test_a_slow_subscriber_loses_events_with_a_marker_not_the_node() -> None:
    engine = Engine(Store(":memory:"), ident(1))
    hub = EventHub(queue_max=3)
    slow = hub.subscribe()
    outs: list[Output] = []
    cids = []
    for k in range(6):
        t, o = engine.issue(kind="promise", now=NOW, body={"text": f"p{k}"})
        outs.extend(x for x in o if isinstance(x, TokenAccepted))
        cids.append(t.cid)
    hub.publish(outs)  # never blocks: 3 queued, 3 lost
    assert [(await slow.get() or {}).get("cid") for _ in range(3)] == cids[:3]
    assert await slow.get() == {"event": "lost", "count": 3}
    hub.publish(outs[:1])
    hub.publish(outs[:4])  # 2 more fit, 2 are lost: the marker comes in their place
    got = [await slow.get() for _ in range(4)]
    assert [e["event"] for e in got if e] == ["token", "token", "token", "lost"]
    assert got[3] == {"event": "lost", "count": 2}
    hub.close()
    assert await slow.get() is None
    engine.close()
