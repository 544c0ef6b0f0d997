"""Least privilege on the local API: the read token, the write token, rotation.

In-process tests serve the app with hypercorn on 127.0.0.1 (tests/test_api.py's
fixture); the rest run `troth init`, `troth run` and the CLI as processes.
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

from node.app.api import make_app
from node.app.service import NodeService
from node.store import Store
from node.store.engine import Engine
from node.store.home import ApiTokenFiles, Home
from tests.harness import Proc, ident
from tests.test_api import READ_TOKEN, TOKEN, UNKNOWN, Served, api
from tests.test_cli import tj, troth

__all__ = ["api"]  # (the served app fixture of tests/test_api.py)

WRITES = [("/v1/promises", {"text": "x"}), ("/v1/fulfil", {"cid": UNKNOWN}),
          ("/v1/assess", {"cid": UNKNOWN, "verdict": "kept"}), ("/v1/retract", {"cid": UNKNOWN}),
          ("/v1/charters", {"name": "c"}), ("/v1/proposals", {"scope": UNKNOWN, "title": "t"}),
          ("/v1/ballots", {"proposal": UNKNOWN, "choices": ["yes"]}),
          (f"/v1/proposals/{UNKNOWN}/tally", None),
          ("/v1/names", {"agent": ident(2).agent_id, "name": "bob"})]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_read_token_reads_everything_and_signs_nothing(api: Served) -> None:
    promise = (await api.post("/v1/promises", {"text": "fix the fence"})).json()
    scope = (await api.post("/v1/charters", {"name": "club"})).json()["cid"]
    proposal = (await api.post("/v1/proposals", {"scope": scope, "title": "t"})).json()["cid"]
    before = api.service.core.own_seq()
    published = len(api.published)
    async with httpx.AsyncClient(base_url=api.url, headers=_bearer(READ_TOKEN)) as reader:
        schema = (await reader.get("/openapi.json")).json()
        gets = [p.replace("{cid}", proposal if p.startswith("/v1/proposals/") else
                          promise["cid"]) for p, item in schema["paths"].items()
                if "get" in item and p != "/v1/events"]
        gets = [f"{p}?agent={promise['issuer']}" if p == "/v1/trust/history" else p
                for p in gets]
        assert len(gets) >= 10
        for path in gets:
            r = await reader.get(path)
            assert r.status_code == 200, (path, r.text)
        async with reader.stream("GET", "/v1/events") as events:
            assert events.status_code == 200
        posts = [p for p, item in schema["paths"].items() if "post" in item]
        assert sorted(posts) == sorted(p.replace(UNKNOWN, "{cid}") for p, _ in WRITES)
        for path, body in WRITES:
            r = await reader.post(path, json=body)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"] == "forbidden" and "write token" in r.json()["detail"]
        for method in ("PUT", "DELETE", "PATCH"):
            r = await reader.request(method, "/v1/promises", json={"text": "x"})
            assert r.status_code == 403, method
        # refused on the headers: a body it never reads cannot make it 413 first
        r = await reader.post("/v1/promises", content=b"x" * 2_000_000)
        assert r.status_code == 403
    assert api.service.core.own_seq() == before and len(api.published) == published
    r = await api.get("/v1/log")  # the write token reads too
    assert r.status_code == 200 and r.json()[-1]["cid"] == promise["cid"]


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {READ_TOKEN}", "Bearer",
                                    f"Bearer {READ_TOKEN}x", f"Bearer {TOKEN[:-1]}"])
async def test_no_or_an_unknown_token_is_401(api: Served, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with httpx.AsyncClient(base_url=api.url) as anon:
        for r in (await anon.get("/v1/log", headers=headers),
                  await anon.post("/v1/promises", json={"text": "x"}, headers=headers)):
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
    assert api.service.core.own_seq() == 0


async def test_the_page_holds_no_token(api: Served) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anon:
        r = await anon.get("/")
        app = await anon.get("/app/js/api.js")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert TOKEN not in r.text and READ_TOKEN not in r.text
    assert TOKEN not in app.text and READ_TOKEN not in app.text
    # it takes the read token from the URL fragment (the browser stories: tests/web/)
    assert 'frag.get("read")' in app.text and '"troth-read-token"' in app.text


@pytest.fixture
async def served_home(tmp_path: Path) -> AsyncIterator[tuple[str, Home]]:
    """The app over a real home's token files, as `troth run` serves it."""
    home, identity = Home.init(tmp_path / "home")
    engine = Engine(Store(home.store_path), identity)
    service = NodeService(engine, lambda: 1_800_000_000.0, lambda outs: None)
    cfg = HyperConfig()
    cfg.bind = ["127.0.0.1:0"]
    cfg.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, make_app(service, ApiTokenFiles(home)), cfg)
        yield binds[0], home
        nursery.cancel_scope.cancel()
    engine.close()


async def test_rotation_counts_from_the_next_request(served_home: tuple[str, Home]) -> None:
    url, home = served_home
    old_read, old_write = home.api_read_token(), home.api_token()
    async with httpx.AsyncClient(base_url=url) as http:
        async def status(token: str, method: str = "GET") -> int:
            if method == "GET":
                return (await http.get("/v1/id", headers=_bearer(token))).status_code
            return (await http.post("/v1/promises", json={"text": "x"},
                                    headers=_bearer(token))).status_code

        assert await status(old_read) == 200 and await status(old_write) == 200
        home.rotate_api_tokens(read=True, write=False)
        new_read = home.api_read_token()
        assert new_read != old_read
        assert await status(old_read) == 401 and await status(new_read) == 200
        assert await status(new_read, "POST") == 403
        assert await status(old_write, "POST") == 201  # the write token is untouched
        home.rotate_api_tokens(read=False, write=True)
        assert await status(old_write, "POST") == 401 and await status(old_write) == 401
        assert await status(home.api_token(), "POST") == 201
        home.read_token_path.unlink()  # a deleted token file revokes the token
        assert await status(new_read) == 401 and await status(home.api_token()) == 200


def test_init_makes_both_tokens_and_token_show_prints_them(tmp_path: Path) -> None:
    home = tmp_path / "h"
    tj(home, "init")
    write, read = (home / "api-token"), (home / "api-read-token")
    for f in (write, read):
        assert f.stat().st_mode & 0o777 == 0o600
    assert write.read_text().strip() != read.read_text().strip()
    assert len(read.read_text().strip()) >= 40
    assert troth(home, "token", "show").stdout.strip() == write.read_text().strip()
    assert tj(home, "token", "show", "--read") == {"role": "read",
                                                  "token": read.read_text().strip()}
    for flag, changed in (("--read", {read}), ("--write", {write}), (None, {write, read})):
        before = {f: f.read_text() for f in (write, read)}
        out = tj(home, "token", "rotate", *([flag] if flag else []))
        assert {Path(p) for p in out["replaced"]} == changed, flag
        assert {f for f in (write, read) if f.read_text() != before[f]} == changed, flag
        assert all(f.stat().st_mode & 0o777 == 0o600 for f in (write, read))
    assert troth(tmp_path / "nowhere", "token", "show", check=False).returncode == 1


@pytest.mark.slow
def test_a_running_node_migrates_rotates_and_read_commands_never_need_the_write_token(
        tmp_path: Path) -> None:
    Home.init(tmp_path / "n")
    node = Proc(tmp_path / "n", [])
    home = node.home
    home.read_token_path.unlink()  # a home from before read tokens
    node.start()
    try:
        # -- migration: the node made the read token at start, and accepts it
        assert home.read_token_path.stat().st_mode & 0o777 == 0o600
        first_read = home.api_read_token()
        ok = httpx.get(f"{node.api}/v1/id", headers=_bearer(first_read))
        assert ok.status_code == 200
        # -- rotation through the CLI, honoured without a restart
        troth(home.path, "token", "rotate", "--read")
        assert httpx.get(f"{node.api}/v1/id", headers=_bearer(first_read)).status_code == 401
        assert httpx.get(f"{node.api}/v1/id",
                         headers=_bearer(home.api_read_token())).status_code == 200
        url = tj(home.path, "web", "--no-open")["url"]
        assert url == f"{node.api}/#read={home.api_read_token()}"
        # -- read commands with the write token gone: they never load it
        promised = tj(home.path, "promise", "fix the fence")
        aside = home.token_path.rename(home.path / "elsewhere")
        try:
            assert tj(home.path, "log")[0]["cid"] == promised["cid"]
            assert tj(home.path, "show", promised["cid"])["verdict"]["state"] == "pending"
            assert tj(home.path, "trust")[0]["agent"] == promised["issuer"]
            out = troth(home.path, "--json", "promise", "again", check=False)
            assert out.returncode == 1 and "api-token is missing" in out.stderr
        finally:
            aside.rename(home.token_path)
        assert tj(home.path, "promise", "again")["seq"] == promised["seq"] + 1
        assert json.loads(troth(home.path, "--json", "id").stdout)["own_seq"] == 2
    finally:
        node.stop()
