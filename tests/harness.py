"""What tests share to drive troth: bare cores in a small network, and real
`troth run` processes.

`Net` is a small deterministic network for bare cores. Not the simulator
(sim/ is): just enough to shuttle outputs between cores with seeded loss,
duplication and reordering, in virtual time.

`Proc` is a real `troth run` process on loopback with a client of its API;
`troth_run`, `launch` and `runtime_info` are its start-up, for tests that run
the process elsewhere (in a network namespace: tests/netns.py,
tests/test_relay_processes.py).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import wire
from node.core import Core, CoreParams, Output, Publish, Send
from node.store.home import Home

ROOT = Path(__file__).resolve().parent.parent
TROTH = [sys.executable, "-m", "node"]
# Generous: on a 2-core machine shared with other test runs, starting a node
# (imports) has taken over 20 s; it takes ~2 s on an idle one.
WAIT_S = 60.0


def ident(i: int) -> wire.Identity:
    return wire.Identity.from_seed(bytes([i % 256, i // 256]) + bytes(30))


@dataclass
class Net:
    cores: dict[str, Core]
    seed: int = 0
    loss: float = 0.0
    dup: float = 0.0
    reorder: bool = False
    now: float = 0.0
    links: set[tuple[str, str]] = field(default_factory=set)
    queue: list[tuple[str, str, bytes, bool]] = field(default_factory=list)
    bytes_moved: int = 0
    frames_moved: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @classmethod
    def of(cls, n: int, params: CoreParams | None = None, **kw: object) -> Net:
        cores = {}
        for i in range(n):
            c = Core(ident(i + 1), params)
            assert c.agent_id is not None
            cores[c.agent_id] = c
        return cls(cores=cores, **kw)  # type: ignore[arg-type]

    def connect(self, a: str, b: str) -> None:
        self.links.add((a, b))
        self.links.add((b, a))
        self.route(a, self.cores[a].peer_up(b, self.now))
        self.route(b, self.cores[b].peer_up(a, self.now))

    def connect_all(self) -> None:
        ids = sorted(self.cores)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                self.connect(a, b)

    def route(self, src: str, outs: list[Output]) -> None:
        for o in outs:
            if isinstance(o, Send):
                self._enqueue(src, o.peer, o.data, gossip=False)
            elif isinstance(o, Publish):
                for (x, y) in sorted(self.links):
                    if x == src:
                        self._enqueue(src, y, o.data, gossip=True)

    def _enqueue(self, src: str, dst: str, data: bytes, *, gossip: bool) -> None:
        if (src, dst) not in self.links:
            return
        if self.loss and self.rng.random() < self.loss:
            return
        self.queue.append((src, dst, data, gossip))
        if self.dup and self.rng.random() < self.dup:
            self.queue.append((src, dst, data, gossip))

    def deliver_all(self, limit: int = 1_000_000) -> None:
        n = 0
        while self.queue:
            if self.reorder:
                i = self.rng.randrange(len(self.queue))
                src, dst, data, gossip = self.queue.pop(i)
            else:
                src, dst, data, gossip = self.queue.pop(0)
            self.bytes_moved += len(data)
            self.frames_moved += 1
            core = self.cores[dst]
            receive = core.receive_gossip if gossip else core.receive_frame
            self.route(dst, receive(src, data, self.now))
            core.check_invariants()
            n += 1
            assert n < limit, "message storm"

    def step(self, dt: float = 1.0) -> None:
        self.now += dt
        for cid in sorted(self.cores):
            self.route(cid, self.cores[cid].tick(self.now))
        self.deliver_all()

    def issue(self, agent: str, **kw: object) -> wire.Token:
        outs = self.cores[agent].issue(now=self.now, **kw)  # type: ignore[arg-type]
        self.route(agent, outs)
        return next(o.token for o in outs if type(o).__name__ == "TokenIssued")  # type: ignore[attr-defined]

    def converged(self) -> bool:
        sets = {frozenset(c.tokens) for c in self.cores.values()}
        return len(sets) == 1

    def run_until_converged(self, max_steps: int = 200, dt: float = 1.0) -> int:
        self.deliver_all()
        for i in range(max_steps):
            if self.converged() and not any(c.pending_count() for c in self.cores.values()):
                return i
            self.step(dt)
        raise AssertionError(f"no convergence after {max_steps} steps")


# -- real `troth run` processes ---------------------------------------------------


def wait_for(cond: Any, what: str, timeout_s: float = WAIT_S, every_s: float = 0.05) -> Any:
    """Poll `cond()` until it is truthy (its value) or `timeout_s` passes (fail)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def troth_run(home: Path, *flags: str) -> list[str]:
    """The command line of `troth run` on `home`, syncing every 0.5 s, with `flags`."""
    return [*TROTH, "--home", str(home), "run", "--sync-interval", "0.5", *flags]


def launch(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start `cmd` from the checkout, its output appended to `log`."""
    with open(log, "ab") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))


def runtime_info(proc: subprocess.Popen[bytes], home: Home, log: Path) -> dict[str, Any] | None:
    """The node.json `proc` wrote once it was up, else None; fails if it exited."""
    if proc.poll() is not None:
        raise AssertionError(f"{home.path.name} exited: {log.read_text()[-3000:]}")
    info = home.runtime()
    return info if info and info.get("pid") == proc.pid else None


class Proc:
    """A `troth run` process on loopback, with a client of its API."""

    def __init__(self, home: Path, bootstrap: list[str]) -> None:
        self.home = Home(home)
        self.bootstrap = bootstrap
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "run.log"

    def start(self) -> None:
        self.launch()
        self.ready()

    def launch(self) -> None:
        """Start the process (`ready` waits for it: launch several, then wait)."""
        # --no-admission: four strangers issue 125 tokens each in
        # tests/test_multiprocess.py, past a stranger's quota
        # (tests/test_flood.py is where admission is tested).
        flags = ["--no-admission"]
        for b in self.bootstrap:
            flags += ["--bootstrap", b]
        self.proc = launch(troth_run(self.home.path, *flags), self.log)

    def ready(self) -> None:
        assert self.proc is not None
        proc = self.proc
        info = wait_for(lambda: runtime_info(proc, self.home, self.log),
                        f"{self.home.path} to start")
        self.api = str(info["api"])
        self.listen = list(info["listen"])
        self.http = httpx.Client(base_url=self.api, timeout=10,
                                 headers={"Authorization": f"Bearer {self.home.api_token()}"})

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.http.close()

    def promise(self, text: str) -> dict[str, Any]:
        r = self.http.post("/v1/promises", json={"text": text})
        r.raise_for_status()
        return dict(r.json())

    def ident(self) -> dict[str, Any]:
        return dict(self.http.get("/v1/id").json())
