"""The API against its own OpenAPI description, on a real `troth run` process.

schemathesis reads `/openapi.json` from the running node and sends generated
requests (valid and invalid) to every operation over HTTP on 127.0.0.1, once
with the read token and once with the write token. Every answer must be a
non-5xx status the description lists for that operation, with the documented
content type and a body the documented schema accepts (the response models
forbid unknown fields, so an undocumented field fails too). The node holds a
bit of everything first (promises, a fulfil, an assessment, rival slot claims,
a community, a decided vote with tallies, a bootstrap peer never reached,
petnames), and the operations that need an existing cid or agent are called
with real ones as well.

Budget: `SCHEMA_EXAMPLES` generated requests per operation and token (env
`TROTH_SCHEMA_EXAMPLES`; 5 in `make test`). A longer run by hand:
`TROTH_SCHEMA_EXAMPLES=1000 .venv/bin/python -m pytest tests/test_api_schema.py`.
`GET /v1/events` is left out: it is a stream that does not end
(tests/test_api_consensus.py reads it).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import wire
from node.store.home import Home, edit_config
from tests.harness import Proc, ident, wait_for

SCHEMA_EXAMPLES = int(os.environ.get("TROTH_SCHEMA_EXAMPLES", "5"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
# A valid agent id nobody listens for: the node keeps dialling it and lists it
# under /v1/peers as never reached.
ABSENT_PEER = f"/ip4/127.0.0.1/tcp/9/p2p/{ident(99).agent_id}"


class Seeded:
    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.write = proc.home.api_token()
        self.read = proc.home.api_read_token()
        self.cids: list[str] = []
        self.proposals: list[str] = []
        self.agents: list[str] = []

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.proc.http.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        return r.json()


def _seed(proc: Proc) -> Seeded:
    s = Seeded(proc)
    kept = s.post("/v1/promises", {"text": "fix the fence", "due": int(time.time()) + 3600,
                                   "f1": "fence", "in": ["wood"], "out": [wire.cid_of(b"a fence")],
                                   "f2": "fixed"})
    s.cids.append(kept["cid"])
    s.cids.append(s.post("/v1/fulfil", {"cid": kept["cid"], "evidence": "photo",
                                        "artifacts": ["YSBmZW5jZQ=="]})["cid"])  # b"a fence"
    s.cids.append(s.post("/v1/assess", {"cid": kept["cid"], "verdict": "kept"})["cid"])
    dropped = s.post("/v1/promises", {"text": "walk the dog"})
    s.cids += [dropped["cid"], s.post("/v1/retract", {"cid": dropped["cid"]})["cid"]]
    scope = s.post("/v1/charters", {"name": "garden club"})["cid"]
    s.cids.append(scope)
    for text in ("claim one", "claim two"):  # rival claims of one slot: a conflict set
        s.cids.append(s.post("/v1/promises", {"text": text, "scope": scope,
                                              "slot": "the plot"})["cid"])
    proposal = s.post("/v1/proposals", {"scope": scope, "title": "paint it green",
                                        "closes": int(time.time()) + 2})["cid"]
    s.proposals.append(proposal)
    s.cids += [proposal, s.post("/v1/ballots", {"proposal": proposal, "choices": ["yes"]})["cid"]]

    def decided() -> bool:
        r = proc.http.get(f"/v1/proposals/{proposal}")
        return bool(r.json()["outcome"]["state"] == "decided")

    wait_for(decided, "the vote to close and be tallied", timeout_s=30)
    s.agents = [kept["issuer"], ident(99).agent_id]  # this node; the absent peer
    for agent, name in zip(s.agents, ("me", "the absent one"), strict=True):
        r = proc.http.post("/v1/names", json={"agent": agent, "name": name})
        assert r.status_code == 200, r.text
    return s


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    home = tmp_path_factory.mktemp("schema") / "home"
    Home.init(home)
    config = home / "config.toml"
    # (no clock allowance: the vote can be tallied a moment after it closes)
    config.write_text(edit_config(config.read_text(), {"trust": {"skew_allowance_s": 0}}))
    proc = Proc(home, [ABSENT_PEER])
    proc.start()
    try:
        yield _seed(proc)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def api_schema(node: Seeded) -> Any:
    return schemathesis.openapi.from_url(f"{node.proc.api}/openapi.json")


def _operations(api_schema: Any) -> list[Any]:
    ops = [result.ok() for result in api_schema.get_all_operations()]
    return sorted((op for op in ops if op.path != "/v1/events"), key=lambda op: op.label)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_documented(api_schema: Any, node: Seeded, mode: GenerationMode) -> None:
    """Generated requests, valid (`positive`) or not (`negative`), each sent with
    the read token and then with the write token."""
    ops = _operations(api_schema)
    assert len(ops) >= 16
    sent: list[str] = []
    for op in ops:
        @settings(max_examples=SCHEMA_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            for token in (node.read, node.write):  # (the read token first: it changes nothing)
                response = case.call_and_validate(
                    base_url=node.proc.api, headers={"Authorization": f"Bearer {token}"},
                    checks=CHECKS)
                sent.append(f"{case.operation.label} {response.status_code}")

        check()
    assert len(sent) >= 2 * len(ops)


@pytest.mark.slow
@pytest.mark.parametrize("role", ["read", "write"])
def test_answers_about_real_tokens_are_documented(api_schema: Any, node: Seeded,
                                                  role: str) -> None:
    token = node.read if role == "read" else node.write
    headers = {"Authorization": f"Bearer {token}"}
    calls = [("/v1/tokens/{cid}", {"cid": c}, {}) for c in node.cids]
    calls += [("/v1/proposals/{cid}", {"cid": p}, {"explain": explain})
              for p in node.proposals for explain in (False, True)]
    calls += [("/v1/trust/history", {}, {"agent": a}) for a in node.agents]
    calls += [(path, {}, {}) for path in ("/v1/names", "/v1/communities", "/v1/verdicts",
                                          "/v1/conflicts", "/v1/trust", "/v1/proposals")]
    for path, params, query in calls:
        case = api_schema[path]["GET"].Case(path_parameters=params, query=query)
        response = case.call_and_validate(base_url=node.proc.api, headers=headers, checks=CHECKS)
        assert response.status_code == 200, response.text
    tally = api_schema["/v1/proposals/{cid}/tally"]["POST"].Case(
        path_parameters={"cid": node.proposals[0]})
    response = tally.call_and_validate(base_url=node.proc.api, headers=headers, checks=CHECKS)
    # the node tallied at closing, so there is nothing new to publish
    assert response.status_code == (403 if role == "read" else 409), response.text
    name = api_schema["/v1/names"]["POST"].Case(body={"agent": node.agents[1],
                                                      "name": f"named by {role}"})
    response = name.call_and_validate(base_url=node.proc.api, headers=headers, checks=CHECKS)
    assert response.status_code == (403 if role == "read" else 200), response.text


def test_every_operation_documents_what_it_answers(node: Seeded) -> None:
    """A route without a response model would be described as `{}` (any body),
    which no answer can fail: every 2xx names a schema or a non-JSON type."""
    described = httpx.get(f"{node.proc.api}/openapi.json").json()
    for path, item in described["paths"].items():
        for method, op in item.items():
            ok = {c: r for c, r in op["responses"].items() if c.startswith("2")}
            assert ok, (path, method)
            for r in ok.values():
                for media, content in r["content"].items():
                    assert content.get("schema") not in (None, {}), (path, method, media)
            security = {name for req in op["security"] for name in req}
            assert security == ({"readToken", "writeToken"} if method == "get"
                                else {"writeToken"}), (path, method)
