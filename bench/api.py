"""The cost of the API's access checks and idempotency keys, over real HTTP.

One node service over a real SQLite store (WAL, synchronous=FULL), served by
hypercorn on 127.0.0.1 twice: once with the tokens re-read from the home's
files when they change (`ApiTokenFiles`: two `stat` calls a request, as
`troth run` serves it) and once with fixed tokens. Rounds interleave the
variants so load on the machine hits both alike; figures are medians of
per-request latencies, as ratios to the same-run baseline:

- `keyed_post_vs_plain`: a POST /v1/promises with an Idempotency-Key (one
  more commit to reserve the key, one to keep the answer) against one without.
- `replay_vs_keyed_post`: the same POST sent again with its key (a lookup,
  nothing signed) against the first.
- `token_files_get_vs_fixed`: GET /v1/id checked against the token files
  against fixed tokens.

Last line: `keyed_post_vs_plain: <ratio>`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve

from node.app.api import make_app
from node.app.service import NodeService
from node.store import Store
from node.store.engine import Engine
from node.store.home import ApiTokenFiles, ApiTokens, Home


async def _timed(fn: Callable[..., Awaitable[httpx.Response]], path: str, expect: int,
                 **kw: Any) -> float:
    t0 = time.perf_counter()
    r = await fn(path, **kw)
    elapsed = time.perf_counter() - t0
    assert r.status_code == expect, r.text
    return elapsed


async def run(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home, identity = Home.init(Path(tmp) / "home")
        engine = Engine(Store(home.store_path), identity)
        service = NodeService(engine, time.time, lambda outs: None)
        write = home.api_token()
        cfg = HyperConfig()
        cfg.bind = ["127.0.0.1:0"]
        cfg.accesslog = None
        try:
            async with trio.open_nursery() as nursery:
                files_url = (await nursery.start(
                    serve, make_app(service, ApiTokenFiles(home)), cfg))[0]
                fixed_url = (await nursery.start(
                    serve, make_app(service, ApiTokens(write, home.api_read_token())), cfg))[0]
                auth = {"Authorization": f"Bearer {write}"}
                async with httpx.AsyncClient(base_url=files_url, headers=auth) as files, \
                        httpx.AsyncClient(base_url=fixed_url, headers=auth) as fixed:
                    times: dict[str, list[float]] = {k: [] for k in (
                        "plain", "keyed", "replay", "get_files", "get_fixed")}
                    for i in range(rounds):
                        body = {"text": f"promise {i}"}
                        key = {"Idempotency-Key": str(uuid.uuid4())}
                        times["plain"].append(await _timed(
                            files.post, "/v1/promises", 201, json=body))
                        times["keyed"].append(await _timed(
                            files.post, "/v1/promises", 201, json=body, headers=key))
                        times["replay"].append(await _timed(
                            files.post, "/v1/promises", 201, json=body, headers=key))
                        times["get_files"].append(await _timed(files.get, "/v1/id", 200))
                        times["get_fixed"].append(await _timed(fixed.get, "/v1/id", 200))
                nursery.cancel_scope.cancel()
        finally:
            engine.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"post_plain_ms": med["plain"] * 1e3, "post_keyed_ms": med["keyed"] * 1e3,
            "get_fixed_ms": med["get_fixed"] * 1e3,
            "replay_vs_keyed_post": med["replay"] / med["keyed"],
            "token_files_get_vs_fixed": med["get_files"] / med["get_fixed"],
            "keyed_post_vs_plain": med["keyed"] / med["plain"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    figures = trio.run(run, args.rounds)
    for name, value in figures.items():  # (the headline, keyed_post_vs_plain, last)
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
