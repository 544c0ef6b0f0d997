"""Sweeps (local processes and a local Dask cluster), replay, and the CLI outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from node.app.cli import cli
from sim.cli import sim as sim_group
from sim.sweep import aggregate, grid, run_grid

cli.add_command(sim_group, "sim")
TINY = ["--nodes", "6", "--set", "scenario.duration_s=120", "--set", "workload.stop_s=40"]


def test_grid_is_the_product_times_seeds() -> None:
    g = grid([("a", [1, 2]), ("b", ["x", "y", "z"])], [1, 2])
    assert len(g) == 12 and g[0] == ({"a": 1, "b": "x"}, 1)


def test_aggregate_mean_and_ci() -> None:
    rows = [{"param:p": 1, "seed": s, "m": float(s), "violation": None} for s in (1, 2, 3)]
    (row,) = aggregate(rows, ["p"])
    assert row["m_mean"] == 2.0 and row["runs"] == 3
    assert abs(row["m_ci95"] - 4.303 * 1.0 / 3 ** 0.5) < 1e-9


def test_run_writes_metrics_series_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["sim", "run", "baseline", "--seed", "3", "--out", str(out),
                                   "--no-progress", *TINY])
    assert res.exit_code == 0, res.output
    assert "trace digest:" in res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["seed"] == 3 and m["digest"] in res.output
    for f in ("timeseries.csv", "nodes.csv", "latency_cdf.png", "convergence.png",
              "bytes_per_node.png"):
        assert (out / f).stat().st_size > 0, f


def test_json_output() -> None:
    res = CliRunner().invoke(cli, ["--json", "sim", "run", "baseline", "--no-plots", *TINY])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["violation"] is None


def test_violation_exits_1_with_a_replay_hint() -> None:
    res = CliRunner().invoke(cli, [
        "sim", "run", "baseline", "--no-plots", "--nodes", "5", "--set", "core.sync=false",
        "--set", "dissemination.model=\"none\"", "--set", "scenario.duration_s=150",
        "--set", "workload.stop_s=40", "--set", "checks.converge_within_s=20"])
    assert res.exit_code == 1
    assert "INVARIANT VIOLATED" in res.output and "troth sim replay" in res.output


def test_replay_dumps_nodes_deterministically() -> None:
    args = ["sim", "replay", "churn", "--seed", "2", "--until", "600", "--node", "0",
            "--node", "3", "--nodes", "8", "--set", "scenario.duration_s=150",
            "--set", "workload.stop_s=60"]
    a = CliRunner().invoke(cli, args)
    b = CliRunner().invoke(cli, args)
    assert a.exit_code == 0, a.output
    assert a.output == b.output
    d = json.loads(a.output)
    assert d["events"] == 600 and [n["index"] for n in d["nodes"]] == [0, 3]
    assert "heads" in d["nodes"][0] or not d["nodes"][0]["up"]


def _sweep(out: Path, param: str, seeds: int, workers: int) -> tuple[Any, list[Any]]:
    """`troth sim sweep baseline --param PARAM` on the tiny network: (result, summary)."""
    res = CliRunner().invoke(cli, ["sim", "sweep", "baseline", "--param", param, "--seeds",
                                   str(seeds), "--workers", str(workers), "--out", str(out),
                                   *TINY])
    assert res.exit_code == 0, res.output
    return res, json.loads((out / "summary.json").read_text())


def test_sweep_on_local_processes(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    _res, summary = _sweep(out, "network.loss=0.0,0.2", seeds=2, workers=2)
    assert [r["network.loss"] for r in summary] == [0.0, 0.2]
    assert all(r["runs"] == 2 for r in summary)
    assert (out / "runs.csv").exists() and (out / "sweep_delivery_ratio.png").exists()


def test_sweep_on_a_local_dask_cluster_matches_local_processes() -> None:
    from concurrent.futures import ProcessPoolExecutor

    from distributed import Client, LocalCluster

    params = [("network.loss", [0.0, 0.1])]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        dask_rows = run_grid("baseline", params, [1], client.get_executor(), nodes=6)
    with ProcessPoolExecutor(max_workers=1) as ex:
        local_rows = run_grid("baseline", params, [1], ex, nodes=6)
    assert [r["digest"] for r in dask_rows] == [r["digest"] for r in local_rows]


def test_bad_sweep_parameter_exits_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["sim", "sweep", "baseline", "--param", "network.los=0,1",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 2 and "did you mean 'loss'" in res.output


VIOLATING = ["--nodes", "5", "--set", "core.sync=false", "--set", "dissemination.model=\"none\"",
             "--set", "scenario.duration_s=150", "--set", "workload.stop_s=40",
             "--set", "checks.converge_within_s=20"]


def test_the_replay_hint_repeats_the_overrides_and_reaches_the_violation() -> None:
    import shlex

    res = CliRunner().invoke(cli, ["--json", "sim", "run", "baseline", "--no-plots",
                                   "--seed", "4", *VIOLATING])
    assert res.exit_code == 1
    hint = next(line for line in res.output.splitlines() if line.startswith("replay: "))
    argv = shlex.split(hint.removeprefix("replay: troth "))
    assert argv[-2:] == ["--node", "N"]
    argv[-1] = "0"
    before = json.loads(CliRunner().invoke(cli, argv).output)
    assert before["violation"] is None and before["next_event"].split()[1] == "sample"
    # One more event (the sample) breaks the same invariant in the replayed run.
    argv[argv.index("--until") + 1] = str(before["events"] + 1)
    at = json.loads(CliRunner().invoke(cli, argv).output)
    assert at["violation"]["invariant"] == "convergence"
    assert at["violation"]["event_index"] == before["events"] + 1
    # The overrides came along: the replayed network has the run's 5 nodes, not 64.
    everyone = json.loads(CliRunner().invoke(cli, argv[:-2]).output)["nodes"]
    assert [n["index"] for n in everyone] == [0, 1, 2, 3, 4]


def test_bad_seeds_and_output_directories_exit_2_before_running(tmp_path: Path) -> None:
    for args, message in (
            (["sim", "run", "baseline", "--seed", "-5"], "-5 is not in the range 0<=x<="),
            (["sim", "run", "baseline", "--seed", str(2**64)], "is not in the range 0<=x<="),
            (["sim", "replay", "baseline", "--seed", "-1", "--until", "3"], "not in the range"),
            (["sim", "sweep", "baseline", "--param", "network.loss=0,1", "--seed-base",
              str(2**63 - 1), "--seeds", "2", "--out", str(tmp_path / "s")],
             f"--seed-base {2**63 - 1} + --seeds 2 goes past")):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2 and message in res.output, (args, res.output)
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = CliRunner().invoke(cli, ["sim", "run", "baseline", "--out", str(blocker / "x"),
                                   *TINY])
    assert res.exit_code == 2 and "--out" in res.output and "cannot write" in res.output
    assert "trace digest" not in res.output  # refused before the run


def test_sweep_refuses_contradictory_or_unknown_options(tmp_path: Path) -> None:
    cases = {
        ("--set", "network.loss"): "expected table.field=value",
        ("--set", "network.loss=0.3"): "both swept (--param) and fixed (--set)",
        ("--metric", "delivery_ration"): "did you mean 'delivery_ratio'",
        ("--param", "network.loss=0.5"): "given twice",
    }
    for extra, message in cases.items():
        res = CliRunner().invoke(cli, ["sim", "sweep", "baseline", "--param",
                                       "network.loss=0,0.1", "--out", str(tmp_path / "s"),
                                       *TINY, *extra])
        assert res.exit_code == 2 and message in res.output, (extra, res.output)
        assert isinstance(res.exception, SystemExit)  # (not an uncaught error)
    assert not (tmp_path / "s").exists()


def test_sweep_tables_order_numbers_by_value(tmp_path: Path) -> None:
    res, summary = _sweep(tmp_path, "network.connections=10,4", seeds=1, workers=1)
    assert [r["network.connections"] for r in summary] == [4, 10]
    assert "scenario.duration_s=" not in res.output  # fixed --set values are not cells


def test_sweep_cli_on_a_dask_scheduler_address(tmp_path: Path) -> None:
    from distributed import LocalCluster

    args = ["sim", "sweep", "baseline", "--param", "network.loss=0.0,0.1", "--seeds", "1",
            *TINY]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        res = CliRunner().invoke(cli, [*args, "--dask", cluster.scheduler_address,
                                       "--out", str(tmp_path / "dask")])
    assert res.exit_code == 0, res.output
    local = CliRunner().invoke(cli, [*args, "--workers", "1", "--out", str(tmp_path / "loc")])
    assert local.exit_code == 0, local.output
    runs = json.loads((tmp_path / "dask" / "summary.json").read_text())
    assert [r["runs"] for r in runs] == [1, 1]
    assert len(_digests(tmp_path / "dask")) == 2
    assert _digests(tmp_path / "dask") == _digests(tmp_path / "loc")


def _digests(d: Path) -> list[str]:
    import csv

    with (d / "runs.csv").open() as f:
        return [row["digest"] for row in csv.DictReader(f)]


def test_sweep_metric_present_only_with_observers_is_known(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["sim", "sweep", "baseline", "--param",
                                   "metrics.observers=0,2", "--seeds", "1", "--workers", "1",
                                   "--metric", "trust_honest_mean", "--out", str(tmp_path),
                                   *TINY])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["metrics.observers"] for r in summary] == [0, 2]
    assert summary[0]["trust_honest_mean_mean"] is None  # (nan: no observer to ask)
    assert 0 < summary[1]["trust_honest_mean_mean"] < 1
    assert (tmp_path / "sweep_trust_honest_mean.png").stat().st_size > 0


def test_an_unreachable_dask_scheduler_is_one_line_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import sim.cli

    monkeypatch.setattr(sim.cli, "DASK_CONNECT_S", 1.0)
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "sw"
    res = CliRunner().invoke(cli, ["sim", "sweep", "baseline", "--param", "network.loss=0,0.1",
                                   "--dask", f"tcp://127.0.0.1:{port}", "--out", str(out),
                                   *TINY])
    assert res.exit_code == 2, res.output
    assert f"--dask tcp://127.0.0.1:{port}: cannot reach the scheduler" in res.output
    assert isinstance(res.exception, SystemExit) and not out.exists()
