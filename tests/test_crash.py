"""Durability: a node killed with SIGKILL at random moments never loses a token
it handed out and never signs two tokens with one seq (docs/architecture.md, Outputs contract)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.store import Store
from tests.harness import ident

ROOT = Path(__file__).resolve().parent.parent
KILLS = 50


def _start(db: Path, *mode: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "tests.crash_issuer", str(db), "1", *mode],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)


@pytest.mark.slow
def test_kill_loop_never_loses_or_reuses_a_seq(tmp_path: Path) -> None:
    db = tmp_path / "node.sqlite"
    rng = random.Random(20261122)
    handed_out: dict[int, str] = {}
    for _ in range(KILLS):
        proc = _start(db)
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("ready"), ready
        resumed_at = int(ready.split()[1])
        # The node resumes exactly after the last token it ever handed out.
        assert resumed_at >= max(handed_out, default=0)
        # Let it issue for a random while, then kill it mid-flight.
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        for line in out.splitlines():
            parts = line.split()
            if len(parts) != 2:
                continue  # the kill may cut the last line short
            seq, cid = int(parts[0]), parts[1]
            if len(cid) != 59:
                continue
            assert handed_out.setdefault(seq, cid) == cid, f"seq {seq} signed twice"
    assert len(handed_out) > KILLS  # it did make progress between kills
    with Store(db) as store:
        chain = store.chain(ident(1).agent_id)
        report = store.check()
    assert report.ok, report.problems
    seqs = [s for s, _ in chain]
    assert seqs == list(range(1, len(seqs) + 1)), "one token per seq, no gaps"
    stored = dict(chain)
    for seq, cid in handed_out.items():
        assert stored.get(seq) == cid, f"handed-out token {seq} lost or replaced"


@pytest.mark.slow
def test_kill_loop_never_loses_a_token_it_reported_received(tmp_path: Path) -> None:
    """Received tokens commit without an fsync of their own (ADR 0019); a
    SIGKILL right after `receive_gossip` returned loses none of them."""
    db = tmp_path / "node.sqlite"
    rng = random.Random(20261204)
    received: set[str] = set()
    own = 0
    for _ in range(KILLS // 2):
        proc = _start(db, "receive")
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("ready")
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and len(parts[1]) == 59:
                if parts[0] == "got":
                    received.add(parts[1])
                else:
                    own += 1
    assert received and own, "it did make progress between kills"
    with Store(db) as store:
        report = store.check()
        missing = [cid for cid in received if store.get(cid) is None]
    assert report.ok, report.problems
    assert not missing, f"{len(missing)} of {len(received)} reported tokens lost"
