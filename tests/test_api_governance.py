"""Governance requests the API refuses with a clear 400/404, changing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import ident
from tests.test_api import UNKNOWN, Served, api  # noqa: F401 - `api` is the fixture

CLOSES = 1_800_003_600


async def _charter(api: Served, **extra: Any) -> str:  # noqa: F811
    r = await api.post("/v1/charters", {"name": "garden", **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["cid"])


def _agent(i: int) -> str:
    return ident(i).agent_id


@pytest.mark.parametrize(("body", "reason", "needle"), [
    ({"threshold": "1/10"}, "bad-fraction", "only tighten the charter's threshold"),
    ({"quorum": "0%", "threshold": "2/3"}, "bad-fraction", "only tighten the charter's quorum"),
    ({"quorum": "9" * 30 + "/" + "9" * 30}, "bad-fraction", "a denominator up to"),
    ({"options": ["a", "b"], "add": ["AGENT"]}, "bad-proposal", "yes/no vote"),
    ({"method": "approval", "add": ["AGENT"]}, "bad-proposal", "yes/no vote"),
    ({"add": ["AGENT"], "remove": ["AGENT"]}, "bad-proposal", "both added and removed"),
    ({"add": ["ME"]}, "bad-proposal", "already members"),
    ({"remove": ["AGENT"]}, "bad-proposal", "not members"),
    ({"options": ["a", "x" * 300]}, "bad-options", "1 to"),
    ({"options": ["a", "a"]}, "bad-options", "each option once"),
    ({"closes": 2**41}, "bad-closes", "future time"),
])
async def test_bad_proposals_are_refused(api: Served, body: dict[str, Any],  # noqa: F811
                                         reason: str, needle: str) -> None:
    scope = await _charter(api, quorum="1/4", threshold="1/2")
    seq = api.service.core.own_seq()
    who = {"AGENT": _agent(7), "ME": api.service.agent_id}
    for k in ("add", "remove"):
        if k in body:
            body = {**body, k: [who[a] for a in body[k]]}
    r = await api.post("/v1/proposals", {"scope": scope, "title": "t", "closes": CLOSES, **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == reason and needle in r.json()["detail"], r.text
    assert api.service.core.own_seq() == seq and len(api.service.core.tokens) == seq


async def test_tighter_rules_and_a_real_membership_change_are_accepted(
        api: Served) -> None:  # noqa: F811
    scope = await _charter(api, quorum="1/4", threshold="1/2")
    r = await api.post("/v1/proposals", {"scope": scope, "title": "t", "closes": CLOSES,
                                         "quorum": "1/2", "threshold": "3/4"})
    assert r.status_code == 201 and r.json()["body"]["threshold"] == [3, 4]
    r = await api.post("/v1/proposals", {"scope": scope, "title": "admit", "closes": CLOSES,
                                         "add": [_agent(7)]})
    assert r.status_code == 201 and r.json()["body"]["membership"]["add"] == [_agent(7)]


async def test_charter_methods_once_each_and_proposals_of_an_unknown_scope(
        api: Served) -> None:  # noqa: F811
    r = await api.post("/v1/charters", {"name": "c", "methods": ["single", "single"]})
    assert r.status_code == 400 and r.json()["error"] == "bad-methods"
    r = await api.get("/v1/proposals", params={"scope": UNKNOWN})
    assert r.status_code == 404 and r.json()["error"] == "unknown-scope"
    assert api.service.core.own_seq() == 0


async def test_a_charter_naming_unheard_members_says_so(api: Served) -> None:  # noqa: F811
    r = await api.post("/v1/charters", {"name": "c", "members": [_agent(7)]})
    assert r.status_code == 201
    assert "no token from 1 of the members" in r.json()["warnings"][0]
    alone = await api.post("/v1/charters", {"name": "solo"})
    assert alone.status_code == 201
    assert [w.split(":")[0] for w in alone.json()["warnings"]] == ["a community of one"]
