"""`python -m bench.sim scale` (the command of the 100,000-node run) still runs.

A 100-node run of the same command: it completes without a violation, prints
the memory figures docs/benchmarks.md quotes, and ends with the trace digest
the session's starting code gave for the same command (so the bounded seen
cache and the hot-path changes moved nothing at this size either).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scale_command_runs_and_keeps_its_digest() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.sim", "scale", "--nodes", "100", "--rate", "2",
         "--stop", "5", "--assessments", "5", "--sync-interval", "20"],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "baseline at 100 nodes: 21 tokens" in text and "violation None" in text
    assert re.search(r"seen caches at the end: \d+ bytes per node", text)
    assert re.search(r"peak RSS per node: [\d.]+ KiB", text)
    assert "digest 8b3e39d7a896e7f80bec6d8870d2bf7df377cf281745e06428f42d4b71360989" in text
