"""Five real `troth run` processes on loopback (docs/architecture.md; docs/libp2p.md).

One is stopped while the others issue 500 tokens, restarted, and catches up by
sync; one is killed with SIGKILL while it issues, restarted, and its chain has
no reused seq; all end with the same token set.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.store import Store
from node.store.home import Home
from tests.harness import Proc, wait_for


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
