"""The CLI's client of a running node's HTTP API.

Finds the node through its home (`node.json` written by `troth run`, and the
token files) and turns every failure into `ClientError` with a message a
person can act on: no node running, wrong token, a refused request.

Least privilege: a GET is sent with the read token (`api-read-token`), and
only other methods with the write token (`api-token`), each file read when a
request first needs it, so a command that only reads never loads the token
that can sign. Every POST carries an `Idempotency-Key`, a fresh uuid4 per
request; a request that fails in transit (refused connection, timeout, cut
connection) is sent again up to `ATTEMPTS` times with the same key, so a retry
never signs twice (node/app/idempotency.py).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from node.store.home import READ_METHODS, Home, HomeError

__all__ = ["Client", "ClientError"]

TIMEOUT_S = 15.0
# Sends of one request at most, and the pause before each resend.
ATTEMPTS = 3
RETRY_PAUSE_S = (0.2, 1.0)


class ClientError(Exception):
    """The node could not be asked, or refused: `status` 0 when it was never reached."""

    def __init__(self, message: str, *, status: int = 0, error: str = "unreachable",
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.detail = detail if detail is not None else message


class Client:
    def __init__(self, home: Home) -> None:
        try:
            home.require()
        except HomeError as exc:
            raise ClientError(str(exc)) from None
        info = home.runtime()
        if info is None or not _alive(info.get("pid")):
            raise ClientError(f"no node is running for {home.path} "
                              f"(start one with `troth run --home {home.path}`)")
        self.home = home
        self.url = str(info["api"])
        self.info = info
        self._http = httpx.Client(base_url=self.url, timeout=TIMEOUT_S)

    def _auth(self, method: str) -> dict[str, str]:
        try:
            token = (self.home.api_read_token() if method in READ_METHODS
                     else self.home.api_token())
        except HomeError as exc:
            raise ClientError(str(exc)) from None
        return {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, **kw: Any) -> Any:
        headers = self._auth(method)
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        for attempt in range(ATTEMPTS):
            try:
                r = self._http.request(method, path, headers=headers, **kw)
                break
            except httpx.TransportError as exc:
                if attempt + 1 == ATTEMPTS:
                    raise ClientError(f"cannot reach the node at {self.url}: {exc}") from None
                time.sleep(RETRY_PAUSE_S[attempt])
        if r.status_code >= 400:
            self._raise(r)
        return r.json()

    def events(self, path: str = "/v1/events") -> Iterator[dict[str, Any]]:
        """Server-Sent Events from `path`, each `data:` JSON, until the node ends
        the stream (comment lines, the keepalives, are skipped)."""
        try:
            with self._http.stream("GET", path, headers=self._auth("GET"),
                                   timeout=httpx.Timeout(TIMEOUT_S, read=None)) as r:
                if r.status_code >= 400:
                    r.read()
                    self._raise(r)
                data: list[str] = []
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        yield dict(json.loads("\n".join(data)))
                        data = []
        except httpx.HTTPError as exc:
            raise ClientError(f"lost the node at {self.url}: {exc}") from None

    def _raise(self, r: httpx.Response) -> None:
        try:
            err = r.json()
            code, detail = str(err.get("error")), str(err.get("detail"))
        except (ValueError, AttributeError):
            code, detail = "refused", r.text[:200]
        raise ClientError(f"the node refused ({r.status_code}) {code}: {detail}",
                          status=r.status_code, error=code, detail=detail)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
