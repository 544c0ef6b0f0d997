"""Five real `troth run` processes on loopback (docs/architecture.md; docs/libp2p.md).

One is stopped while the others issue 500 tokens, restarted, and catches up by
sync; one is killed with SIGKILL while it issues, restarted, and its chain has
no reused seq; all end with the same token set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.store import Store
from node.store.home import Home

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 60.0


def wait_for(cond: Any, what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


class Proc:
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
        # --no-admission: four strangers issue 125 tokens each here, past a
        # stranger's quota (tests/test_flood.py is where admission is tested).
        args = [sys.executable, "-m", "node", "--home", str(self.home.path), "run",
                "--sync-interval", "0.5", "--no-admission"]
        for b in self.bootstrap:
            args += ["--bootstrap", b]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                         cwd=ROOT)

    def ready(self) -> None:
        info = wait_for(lambda: self._info(), f"{self.home.path} to start")
        self.api = str(info["api"])
        self.listen = list(info["listen"])
        self.http = httpx.Client(base_url=self.api, timeout=10,
                                 headers={"Authorization": f"Bearer {self.home.api_token()}"})

    def _info(self) -> dict[str, Any] | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"node exited: {self.log.read_text()[-2000:]}")
        info = self.home.runtime()
        return info if info and info.get("pid") == self.proc.pid else None

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


@pytest.mark.slow
def test_five_processes_stop_restart_kill_and_converge(tmp_path: Path) -> None:
    procs: list[Proc] = []
    for i in range(5):
        Home.init(tmp_path / f"n{i}")
    first = Proc(tmp_path / "n0", [])
    first.start()
    procs.append(first)
    for i in range(1, 5):
        p = Proc(tmp_path / f"n{i}", [first.listen[0]])
        p.start()
        procs.append(p)
    try:
        wait_for(lambda: len(first.http.get("/v1/peers").json()) >= 4, "all to connect to n0")
        # -- n4 is stopped while the others issue 500 tokens
        n4 = procs[4]
        n4.stop()
        for k in range(500):
            procs[k % 4].promise(f"promise {k}")
        n4.start()
        target = 500
        wait_for(lambda: all(p.ident()["tokens"] == target for p in procs),
                 "every node, n4 included, to hold all 500 tokens")
        # -- n3 is killed with SIGKILL while it issues
        n3 = procs[3]
        handed: list[dict[str, Any]] = []
        stop = threading.Event()

        def issue_loop() -> None:
            while not stop.is_set():
                try:
                    handed.append(n3.promise(f"under fire {len(handed)}"))
                except httpx.HTTPError:
                    return

        t = threading.Thread(target=issue_loop)
        t.start()
        wait_for(lambda: len(handed) >= 20, "n3 to issue under load")
        n3.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        n3.proc.wait(timeout=30)  # type: ignore[union-attr]
        stop.set()
        t.join(timeout=30)
        n3.start()
        after, = [n3.promise("after the crash")]
        seqs = [h["seq"] for h in handed]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "answers in seq order"
        assert after["seq"] > seqs[-1], "no seq reused after SIGKILL"
        final = n3.ident()["tokens"]
        wait_for(lambda: len({(p.ident()["tokens"], p.ident()["frontier_digest"])
                              for p in procs}) == 1, "all nodes to hold the same token set")
        assert final >= target + len(handed) + 1
    finally:
        for p in procs:
            if p.proc is not None and p.proc.poll() is None:
                p.stop()
    # -- every store: verifies, one token per seq of n3's chain, nothing handed out lost
    n3_agent = Home(tmp_path / "n3").identity().agent_id
    for i in range(5):
        with Store(tmp_path / f"n{i}" / "store.sqlite") as st:
            assert st.check().ok
            chain = st.chain(n3_agent)
            assert [s for s, _ in chain] == list(range(1, len(chain) + 1))
            stored = dict(chain)
            for h in handed:
                assert stored[h["seq"]] == h["cid"]
