"""The benchmarks still run (tiny sizes): a benchmark that crashes measures nothing.

Figures are not asserted here (speed is measured by the benchmarks themselves,
docs/benchmarks.md); only that each completes and prints its headline line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _bench(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                         env=ENV, cwd=ROOT, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_bench_net_runs() -> None:
    out = _bench("bench.net", "--tokens", "5", "--throughput-tokens", "20",
                 "--raw-throughput", "20", "--window", "20", "--batch", "10",
                 "--rss-tokens", "200")
    assert "propagation_p50_vs_raw:" in out and "throughput_vs_ingest:" in out


@pytest.mark.slow
def test_bench_net_procs_runs() -> None:
    out = _bench("bench.net_procs", "--tokens", "40", "--raw-tokens", "10", "--rate", "200",
                 "--batch", "10", "--rounds", "1")
    assert "round 0 troth" in out and "delivered 100.0%" in out
    assert out.strip().splitlines()[-1].startswith("procs_throughput_tokens_per_s:")


def test_bench_sim_throughput_runs() -> None:
    out = _bench("bench.sim", "throughput", "--nodes", "40", "--tokens", "200")
    assert "deliveries 8,000 (expected 8,000)" in out and "sim_deliveries_per_s:" in out


def test_bench_ingest_runs() -> None:  # Engine.receive_gossip_many, as bench/net.py uses it
    out = _bench("bench.ingest", "--tokens", "1000", "--repeat", "1")
    assert "ingest_vs_raw_verify:" in out and "ingest_1_verify_threads_vs_raw_verify:" in out
    assert "ingest_1_verify_processes_vs_raw_verify:" in out


def test_bench_sync_runs() -> None:  # the core's receive_frame, frame by frame
    out = _bench("bench.sync", "--tokens", "1000", "--missing", "20")
    assert "sync_bytes_vs_missing:" in out


def test_bench_api_runs() -> None:
    out = _bench("bench.api", "--rounds", "3")
    assert out.strip().splitlines()[-1].startswith("keyed_post_vs_plain:")


@pytest.mark.slow
def test_bench_relay_runs() -> None:
    out = _bench("bench.relay", "--messages", "5", "--rate", "50", "--seconds", "0.5",
                 "--rounds", "1")
    assert "relayed_latency_vs_direct:" in out and "relay_cpu_vs_hub:" in out
