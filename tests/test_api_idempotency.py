"""Idempotent POSTs: a retry with the same Idempotency-Key gets the first answer
and signs nothing, across a double click, a dropped connection and `kill -9`."""

from __future__ import annotations

import shutil
import signal
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from node.app.client import Client
from node.app.idempotency import Idempotency
from node.app.service import NodeService
from node.core import Publish
from node.store import Store
from node.store import answers as answers_module
from node.store.answers import AnswerLog
from node.store.engine import Engine
from node.store.home import Home
from tests.harness import Proc, ident
from tests.test_api import UNKNOWN, Served, api

__all__ = ["api"]  # (the served app fixture of tests/test_api.py)


async def _post(api: Served, path: str, body: Any, key: str) -> httpx.Response:
    return await api.client.post(path, json=body, headers={"Idempotency-Key": key})


async def test_a_retry_gets_the_first_answer_and_signs_nothing(api: Served) -> None:
    key = str(uuid.uuid4())
    first = await _post(api, "/v1/promises", {"text": "fix the fence"}, key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await _post(api, "/v1/promises", {"text": "fix the fence"}, key)
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert api.service.core.own_seq() == 1
    assert len([o for o in api.published if isinstance(o, Publish)]) == 1
    # the same key for another body or another route: refused, nothing signed
    for path, body in (("/v1/promises", {"text": "fix the gate"}),
                       ("/v1/retract", {"cid": first.json()["cid"]})):
        r = await _post(api, path, body, key)
        assert r.status_code == 422 and r.json()["error"] == "idempotency-key-reused", path
    assert api.service.core.own_seq() == 1
    # without a key every POST signs (raw API users may leave it out)
    await api.post("/v1/promises", {"text": "fix the fence"})
    await api.post("/v1/promises", {"text": "fix the fence"})
    assert api.service.core.own_seq() == 3


async def test_a_double_click_signs_once(api: Served) -> None:
    key = str(uuid.uuid4())
    answers: list[httpx.Response] = []

    async def click() -> None:
        answers.append(await _post(api, "/v1/charters", {"name": "garden club"}, key))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(click)
    assert [r.status_code for r in answers] == [201] * 5
    assert len({r.content for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == 4
    assert api.service.core.own_seq() == 1


async def test_a_refusal_before_signing_frees_the_key(api: Served) -> None:
    key = str(uuid.uuid4())
    r = await _post(api, "/v1/promises", {"text": "x", "deps": [UNKNOWN]}, key)
    assert r.status_code == 404
    fixed = await _post(api, "/v1/promises", {"text": "x"}, key)  # the corrected retry
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers
    assert api.service.core.own_seq() == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
async def test_a_malformed_key_is_400(api: Served, key: str) -> None:
    r = await api.client.post("/v1/promises", json={"text": "x"},
                              headers={"Idempotency-Key": key.encode()})  # type: ignore[dict-item]
    assert r.status_code == 400 and r.json()["error"] == "bad-request", r.text
    assert api.service.core.own_seq() == 0


def _open(path: Path) -> tuple[Engine, Idempotency]:
    engine = Engine(Store(path), ident(1))
    service = NodeService(engine, lambda: 1_800_000_000.0, lambda outs: None)
    idem = Idempotency(AnswerLog(engine.store), service)
    idem.resolve_interrupted()
    return engine, idem


class _Killed(BaseException):
    """Stands for the process dying at this point (nothing after it runs)."""


def test_a_request_cut_off_after_signing_is_answered_after_the_restart(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    engine, idem = _open(db)

    def sign_then_die() -> Any:
        idem.service.promise("fix the fence")
        raise _Killed

    def die_before_signing() -> Any:
        raise _Killed

    for key, call in (("signed", sign_then_die), ("unsigned", die_before_signing)):
        with pytest.raises(_Killed):
            idem.run(key, "/v1/promises", {"text": "fix the fence"}, call)
    with pytest.raises(Exception, match="in-progress"):  # (until the node restarts)
        idem.run("signed", "/v1/promises", {"text": "fix the fence"}, sign_then_die)
    engine.close()
    engine, idem = _open(db)  # the restart: resolved before anything can sign
    try:
        reply = idem.run("signed", "/v1/promises", {"text": "fix the fence"}, sign_then_die)
        assert reply.replayed and reply.status == 201
        token = engine.core.tokens[engine.store.chain(idem.service.agent_id)[0][1]]
        assert '"cid":"' + token.cid + '"' in reply.body
        fresh = idem.run("unsigned", "/v1/promises", {"text": "x"},
                         lambda: idem.service.promise("x"))  # the key was freed
        assert not fresh.replayed and engine.core.own_seq() == 2
    finally:
        engine.close()


def test_answers_are_kept_a_day_and_bounded(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers_module, "ANSWERS_MAX", 3)
    with Store(tmp_path / "store.sqlite") as store:
        log = AnswerLog(store)
        for i in range(5):
            log.reserve(f"k{i}", "f", base_seq=0, many=False, now=float(i))
            log.answer(f"k{i}", 201, "{}")
        assert [k for k in ("k0", "k1", "k2", "k3", "k4") if log.get(k)] == ["k2", "k3", "k4"]
        log.reserve("open", "f", base_seq=0, many=False, now=10.0)  # (never answered)
        log.reserve("late", "f", base_seq=0, many=False, now=10.0 + answers_module.RETENTION_S)
        assert sorted(a.key for a in (log.get(k) for k in ("k4", "open", "late")) if a) == [
            "late", "open"]  # old answers go; a reservation waits for its restart


@pytest.mark.slow
def test_kill_9_then_the_retry_gets_the_first_answer(tmp_path: Path) -> None:
    Home.init(tmp_path / "n")
    node = Proc(tmp_path / "n", [])
    node.start()
    try:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = node.http.post("/v1/promises", json={"text": "fix the fence"}, headers=key)
        twice = node.http.post("/v1/promises", json={"text": "fix the fence"}, headers=key)
        assert first.status_code == twice.status_code == 201
        assert twice.content == first.content and node.ident()["own_seq"] == 1
        assert node.proc is not None
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=30)
        node.start()
        again = node.http.post("/v1/promises", json={"text": "fix the fence"}, headers=key)
        assert again.status_code == 201 and again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert node.ident()["own_seq"] == 1
        _retry_through_a_dropped_answer(node)
    finally:
        node.stop()
    with Store(tmp_path / "n" / "store.sqlite") as st:
        assert [s for s, _ in st.chain(node.home.identity().agent_id)] == [1, 2]


def _retry_through_a_dropped_answer(node: Proc) -> None:
    """The CLI's client, through a proxy that loses the node's first answer:
    the client sends the request again with its key, and one token is signed."""
    proxy = _DropFirstAnswer(node.api)
    home = Home(node.home.path.parent / "via-proxy")
    home.path.mkdir()
    for f in ("identity.pem", "api-token", "api-read-token"):
        shutil.copy(node.home.path / f, home.path / f)
    home.write_runtime({**(node.home.runtime() or {}), "api": proxy.url})
    try:
        out = Client(home).post("/v1/promises", {"text": "once, through a bad link"})
    finally:
        proxy.close()
    assert proxy.dropped == 1 and proxy.forwarded == 2
    assert out["seq"] == 2 and node.ident()["own_seq"] == 2


class _DropFirstAnswer:
    """A TCP proxy to the node: the first connection's request reaches the node,
    whose answer is read and thrown away (the client sees the connection cut)."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.forwarded = self.dropped = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                request = _read_message(conn)
                if not request:
                    continue
                with socket.create_connection(self.target) as upstream:
                    upstream.sendall(request)
                    answer = _read_message(upstream)
                self.forwarded += 1
                if self.dropped == 0:
                    self.dropped += 1
                    continue  # (closed without a byte of the answer)
                conn.sendall(answer)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


def _read_message(sock: socket.socket) -> bytes:
    """One HTTP/1.1 message with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
