"""`troth sim`: run, sweep and replay simulations (plugs into node/app/cli.py).

Theory of operation: thin click commands over sim.runner / sim.sweep /
sim.plots. This is the only layer of sim/ that reads the wall clock (for
events/s and the progress bar) or touches the file system. A bad scenario
file or override exits with status 2 and a one-line message; an invariant
violation prints the seed, the event and a replay command and exits 1.
`--json` (on `troth`) prints the metrics as JSON instead of the summary.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import itertools
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .fields import describe_fields
from .scenario import Scenario
from .scenario_file import ScenarioError, load_scenario, parse_override, scenario_names

if TYPE_CHECKING:
    from .world import World

__all__ = ["sim"]


def _json(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("as_json"))


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def _fail(ctx: click.Context, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    ctx.exit(2)
    raise AssertionError("unreachable")


def _overrides(ctx: click.Context, sets: tuple[str, ...]) -> list[tuple[str, Any]]:
    try:
        return [parse_override(s) for s in sets]
    except ScenarioError as exc:
        _fail(ctx, str(exc))


def _load(ctx: click.Context, scenario: str, sets: tuple[str, ...], nodes: int | None
          ) -> Scenario:
    try:
        return load_scenario(scenario, _overrides(ctx, sets), nodes=nodes)
    except ScenarioError as exc:
        _fail(ctx, str(exc))


def _out_dir(ctx: click.Context, outdir: Path) -> None:
    """Make the output directory before the run, so a bad --out costs no compute."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        probe = outdir / ".troth-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        _fail(ctx, f"--out {outdir}: cannot write there ({exc.strerror or exc})")


def _rerun_args(sets: tuple[str, ...], nodes: int | None) -> str:
    """The --set/--nodes options of this command line, for a replay line to repeat."""
    parts = [f"--set {shlex.quote(s)}" for s in sets]
    if nodes is not None:
        parts.append(f"--nodes {nodes}")
    return "".join(f" {p}" for p in parts)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        path.write_text("")
        return
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else
                            json.dumps(v) if isinstance(v, dict | list) else v)
                        for k, v in r.items()})


_SETS = click.option("--set", "sets", multiple=True, metavar="TABLE.FIELD=VALUE",
                     help="Override a scenario field (repeatable), e.g. network.loss=0.05.")
_NODES = click.option("--nodes", type=click.IntRange(1), default=None,
                      help="Rescale the [[agents]] groups to about this many nodes.")
DASK_CONNECT_S = 10.0  # how long --dask ADDRESS may take to answer
SEED_MAX = 2**63 - 1  # as `scenario.seed` in a file
_SEED = click.IntRange(0, SEED_MAX)


@click.group()
def sim() -> None:
    """Deterministic network simulations of troth nodes (docs/sim.md)."""


@sim.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """The scenarios shipped with troth."""
    rows = []
    for name in scenario_names():
        sc = load_scenario(name)
        rows.append({"name": name, "nodes": sc.nodes, "description": sc.description})
    if _json(ctx):
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            click.echo(f"{r['name']:<16} {r['nodes']:>6} nodes  {r['description']}")


@sim.command("fields")
def fields_cmd() -> None:
    """Every scenario field, its type, default, range and meaning."""
    click.echo(describe_fields())


def _progress_run(sc: Scenario, seed: int, show: bool, until: int | None = None) -> Any:
    from .runner import run_one

    if not show:
        return run_one(sc, seed, clock=time.perf_counter, until_event=until)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[vt]:>9.1f}/{task.total:.0f} virtual s"),
                  TextColumn("{task.fields[ev]:>10,} events"), TimeElapsedColumn(),
                  transient=True, console=None) as bar:
        task = bar.add_task(sc.name, total=sc.duration_s, vt=0.0, ev=0)

        def tick(t: float, events: int) -> None:
            bar.update(task, completed=t, vt=t, ev=events)

        return run_one(sc, seed, clock=time.perf_counter, progress=tick, until_event=until)


@sim.command("run")
@click.argument("scenario")
@click.option("--seed", type=_SEED, default=None, help="Master seed (default: the file's).")
@click.option("--out", "outdir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write metrics.json, CSV series and PNG plots here.")
@click.option("--plots/--no-plots", default=True, show_default=True)
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: when stderr is a terminal).")
@_SETS
@_NODES
@click.pass_context
def run_cmd(ctx: click.Context, scenario: str, seed: int | None, outdir: Path | None,
            plots: bool, progress: bool | None, sets: tuple[str, ...], nodes: int | None) -> None:
    """Run SCENARIO (a shipped name or a .toml path) once and report."""
    sc = _load(ctx, scenario, sets, nodes)
    seed = sc.seed if seed is None else seed
    if outdir is not None:
        _out_dir(ctx, outdir)
    show = sys.stderr.isatty() if progress is None else progress
    out = _progress_run(sc, seed, show and not _json(ctx))
    m = out.metrics
    # The summary and any violation first: a failed write must not lose them.
    if _json(ctx):
        click.echo(json.dumps(_clean(m), indent=2, sort_keys=True))
    else:
        click.echo(_summary(sc, m))
    if out.result.violation is not None:
        v = out.result.violation
        click.echo(f"\nINVARIANT VIOLATED: {v}", err=True)
        click.echo(f"replay: troth sim replay {shlex.quote(scenario)} --seed {seed} --until "
                   f"{max(0, v.event_index - 1)}{_rerun_args(sets, nodes)} --node N", err=True)
    if outdir is not None:
        try:
            (outdir / "metrics.json").write_text(json.dumps(_clean(m), indent=2,
                                                            sort_keys=True))
            _write_csv(outdir / "timeseries.csv", out.timeline)
            if out.trust_samples:  # (only with metrics.trust_every_s)
                _write_csv(outdir / "trust_timeseries.csv", out.trust_samples)
            _write_csv(outdir / "nodes.csv", [{"node": i, "msgs_out": a, "bytes_out": b}
                                              for i, (a, b) in enumerate(zip(
                                                  out.msgs_per_node, out.bytes_per_node,
                                                  strict=True))])
            if plots:
                from .plots import plot_run

                plot_run(out, outdir, sc.name)
        except OSError as exc:
            _fail(ctx, f"--out {outdir}: writing the results failed ({exc})")
    if out.result.violation is not None:
        ctx.exit(1)


def _fmt(v: Any, unit: str = "", scale: float = 1.0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v * scale:.3g}{unit}"
    return f"{v}{unit}"


def _summary(sc: Scenario, m: dict[str, Any]) -> str:
    lines = [
        f"scenario {sc.name}: {m['nodes']} nodes, seed {m['seed']}, {m['virtual_s']:.0f} "
        f"virtual s, {m['events']:,} events"
        + (f" in {m['wall_s']:.1f} s ({m['events_per_s']:,.0f} events/s)" if "wall_s" in m
           else ""),
        f"  tokens issued     {m['tokens_issued']} ({m['promises']} promises)",
        f"  delivery ratio    {_fmt(m['delivery_ratio'])}",
        f"  latency           p50 {_fmt(m['latency_p50_s'], ' ms', 1000)}  p90 "
        f"{_fmt(m['latency_p90_s'], ' ms', 1000)}  p99 {_fmt(m['latency_p99_s'], ' ms', 1000)}",
        f"  per node          {_fmt(m['msgs_per_node_mean'])} msgs, "
        f"{_fmt(m['bytes_per_node_mean'] / 1024 if m['bytes_per_node_mean'] else 0.0)} KiB "
        "sent (mean)",
        f"  converged         {_converged(m)}",
        f"  verdicts          agreement {_fmt(m.get('verdict_agreement'))}, accuracy "
        f"{_fmt(m.get('verdict_accuracy'))} (per observer: mean "
        f"{_fmt(m.get('verdict_accuracy_mean'))}, min {_fmt(m.get('verdict_accuracy_min'))})",
        f"  trust AUC         {_fmt(m.get('trust_auc'))} as promisers (honest "
        f"{_fmt(m.get('trust_honest_mean'))} vs malicious {_fmt(m.get('trust_malicious_mean'))}), "
        f"{_fmt(m.get('referral_auc'))} as assessors",
        f"  consensus settle  p50 {_fmt(m['consensus_settle_p50_s'], ' s')} "
        f"({_fmt(m['consensus_settled_frac'])} of tracked settled)",
        f"  invariants        {'VIOLATED' if m['violation'] else 'ok'}",
        f"trace digest: {m['digest']}",
    ]
    ff = m.get("false_fulfiller_auc")
    if isinstance(ff, float) and not math.isnan(ff):
        lines[-3:-3] = [f"  false fulfillers  trust AUC {_fmt(ff)} (honest vs false fulfillers)"]
    if "slot_sets" in m:
        lines[-2:-2] = [
            f"  slots             {m['slot_sets']} ({m['slot_rivalled']} rivalled, "
            f"{m['slot_contested']} contested at the end); settled readings agree "
            f"{_fmt(m['slot_agreement'])} (min {_fmt(m['slot_agreement_min'])}), leaders "
            f"{_fmt(m['slot_leader_agreement'])}",
            f"  slot settle       p50 {_fmt(m['slot_settle_p50_s'], ' s')}  p90 "
            f"{_fmt(m['slot_settle_p90_s'], ' s')} after the first claim "
            f"({_fmt(m['slot_settled_frac'])} settled at the end)",
        ]
    if "vote_proposals" in m:
        lines[-2:-2] = [
            f"  vote              {m['vote_proposals']} {m['vote_method']} proposal(s), "
            f"{m['vote_members']} members, {m['vote_observers']} honest observers; "
            f"ground truth {m['vote_truth']}",
            f"  vote outcome      decided {_fmt(m['vote_decided_frac'])}, same outcome "
            f"{_fmt(m['vote_agreement'])}, correct {_fmt(m['vote_correct_frac'])}, own count "
            f"correct {_fmt(m['vote_own_count_correct_frac'])}",
            f"  time to decided   p50 {_fmt(m['vote_decided_p50_s'], ' s')}  p90 "
            f"{_fmt(m['vote_decided_p90_s'], ' s')}  max {_fmt(m['vote_decided_max_s'], ' s')} "
            "after closing",
            f"  ballots           {m['vote_ballots']}: {m['vote_ballots_first']} first, "
            f"{m['vote_ballots_revote']} changed, {m['vote_ballots_stuffed']} stuffed, "
            f"{m['vote_ballots_equivocated']} equivocated, {m['vote_ballots_late']} late "
            f"(kept {_fmt(m['vote_late_kept_frac'])}); uncountable ones counted: "
            f"{m['vote_bad_counted']}",
        ]
    return "\n".join(lines)


def _metric_names(sc: Scenario, seed: int) -> set[str]:
    """The metrics a run of `sc` reports (from a run stopped before its first event)."""
    from .runner import run_one

    return set(run_one(sc, seed, clock=time.perf_counter, until_event=0).metrics)


def _converged(m: dict[str, Any]) -> str:
    if m["converged"]:
        text = f"True ({_fmt(m['converge_after_last_disruption_s'], ' s')} after the last " \
               "disruption"
    else:
        text = "False (not since the last disruption"
    if not math.isnan(m.get("converge_after_heal_s", math.nan)):
        text += f"; {_fmt(m['converge_after_heal_s'], ' s')} after the last heal"
    text += ")"
    if not m["converged"] and not m["convergence_checked"] and not m["violation"]:
        text += (f"; not a failure: the run ended {m['virtual_s'] - m['last_disruption_s']:.0f} "
                 f"s after the last disruption, within the {m['converge_bound_s']:g} s bound")
    return text


def _parse_param(ctx: click.Context, text: str) -> tuple[str, list[Any]]:
    if "=" not in text:
        _fail(ctx, f"--param {text!r}: expected table.field=v1,v2,...")
    key, _, vals = text.partition("=")
    try:
        values = [parse_override(f"{key}={v}")[1] for v in vals.split(",") if v.strip()]
    except ScenarioError as exc:
        _fail(ctx, f"--param {text!r}: {exc}")
    if not values:
        _fail(ctx, f"--param {text!r}: no values")
    return key.strip(), values


@sim.command("sweep")
@click.argument("scenario")
@click.option("--param", "params", multiple=True, required=True, metavar="TABLE.FIELD=V1,V2",
              help="A swept field and its values (repeatable: the grid is their product).")
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True,
              help="Seeds per cell (1..K).")
@click.option("--seed-base", type=_SEED, default=1, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True,
              help="Local worker processes.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Run on this Dask scheduler (tcp://host:8786), or 'local' for a "
                   "local Dask cluster of --workers processes.")
@click.option("--out", "outdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("sweep-out"), show_default=True)
@click.option("--metric", "metrics", multiple=True,
              help="Metrics to plot (default: a standard set).")
@_SETS
@_NODES
@click.pass_context
def sweep_cmd(ctx: click.Context, scenario: str, params: tuple[str, ...], seeds: int,
              seed_base: int, workers: int, dask_address: str | None, outdir: Path,
              metrics: tuple[str, ...], sets: tuple[str, ...], nodes: int | None) -> None:
    """Run SCENARIO over a parameter grid x seeds, in parallel; table + plots."""
    from .sweep import aggregate, run_grid

    grid_params = [_parse_param(ctx, p) for p in params]
    fixed = _overrides(ctx, sets)
    swept_names = [k for k, _ in grid_params]
    for name in {k for k in swept_names if swept_names.count(k) > 1}:
        _fail(ctx, f"--param {name} is given twice (give it once, with all its values)")
    for name, _v in fixed:
        if name in swept_names:
            _fail(ctx, f"{name} is both swept (--param) and fixed (--set): give one")
    if seed_base + seeds - 1 > SEED_MAX:
        _fail(ctx, f"--seed-base {seed_base} + --seeds {seeds} goes past {SEED_MAX}")
    # Validate every cell before spending any compute.
    first: Scenario | None = None
    for combo in itertools.product(*[v for _, v in grid_params]):
        overrides = fixed + list(zip(swept_names, combo, strict=True))
        try:
            sc = load_scenario(scenario, overrides, nodes=nodes)
        except ScenarioError as exc:
            _fail(ctx, str(exc))
        if first is None:
            first = sc
    assert first is not None
    known = _metric_names(first, seed_base) if metrics else set()
    for metric in metrics:
        if metric not in known:
            close = difflib.get_close_matches(metric, sorted(known), n=1)
            _fail(ctx, f"--metric {metric!r}: no such metric"
                  + (f" (did you mean {close[0]!r}?)" if close else "")
                  + "; metrics.json of a run lists them")
    _out_dir(ctx, outdir)
    # Fixed overrides travel as extra single-valued parameters.
    grid_params = [(k, [v]) for k, v in fixed] + grid_params
    seed_list = list(range(seed_base, seed_base + seeds))
    t0 = time.perf_counter()

    def done(k: int, n: int) -> None:
        if not _json(ctx):
            click.echo(f"  [{k}/{n}] runs done", err=True)

    if dask_address:
        from distributed import Client, LocalCluster

        cluster = None
        if dask_address == "local":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(dask_address, timeout=DASK_CONNECT_S)
            except (OSError, TimeoutError, ValueError) as exc:
                with contextlib.suppress(OSError):
                    outdir.rmdir()  # (made by the check above; left only if empty)
                _fail(ctx, f"--dask {dask_address}: cannot reach the scheduler ({exc})")
        try:
            rows = run_grid(scenario, grid_params, seed_list, client.get_executor(),
                            nodes=nodes, on_done=done)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("spawn")) as ex:
            rows = run_grid(scenario, grid_params, seed_list, ex, nodes=nodes, on_done=done)
    wall = time.perf_counter() - t0
    names = [k for k, _ in grid_params]
    summary = aggregate(rows, names)
    try:
        _write_csv(outdir / "runs.csv", rows)
        _write_csv(outdir / "summary.csv", summary)
        (outdir / "summary.json").write_text(json.dumps(_clean(summary), indent=2))
    except OSError as exc:
        _fail(ctx, f"--out {outdir}: writing the results failed ({exc})")
    swept = [k for k, v in grid_params if len(v) > 1] or swept_names
    plot_metrics = list(metrics) or [
        "delivery_ratio", "latency_p50_s", "latency_p99_s", "bytes_per_node_mean",
        "converge_after_last_disruption_s", "verdict_agreement", "trust_auc",
        "consensus_settle_p50_s", "events_per_s"]
    from .plots import plot_sweep

    x = swept[0]
    series = swept[1] if len(swept) > 1 else None
    plot_sweep(summary, x, series, plot_metrics, outdir)
    violations = sum(1 for r in rows if r.get("violation"))
    if _json(ctx):
        click.echo(json.dumps(_clean({"runs": len(rows), "wall_s": wall, "violations": violations,
                                      "summary": summary}), indent=2))
    else:
        click.echo(f"{len(rows)} runs ({len(summary)} cells x {seeds} seeds) in {wall:.1f} s, "
                   f"{violations} with an invariant violation; table and plots in {outdir}")
        for row in summary:
            cell = ", ".join(f"{k}={row[k]}" for k in swept)
            click.echo(f"  {cell}: delivery {_fmt(row.get('delivery_ratio_mean'))}, "
                       f"p50 {_fmt(row.get('latency_p50_s_mean'), ' ms', 1000)}, "
                       f"trust AUC {_fmt(row.get('trust_auc_mean'))}")
    if violations:
        ctx.exit(1)


@sim.command("replay")
@click.argument("scenario")
@click.option("--seed", type=_SEED, default=None)
@click.option("--until", "until", type=click.IntRange(0), required=True,
              help="Stop after this many events (a violation reports its event index).")
@click.option("--node", "node_ids", type=click.IntRange(0), multiple=True,
              help="Dump this node's state (repeatable; default: a summary of all).")
@_SETS
@_NODES
@click.pass_context
def replay_cmd(ctx: click.Context, scenario: str, seed: int | None, until: int,
               node_ids: tuple[int, ...], sets: tuple[str, ...], nodes: int | None) -> None:
    """Re-run SCENARIO with SEED up to event UNTIL and dump chosen nodes' state."""
    from .runner import run_one

    sc = _load(ctx, scenario, sets, nodes)
    seed = sc.seed if seed is None else seed
    worlds: list[World] = []
    out = run_one(sc, seed, until_event=until, keep_world=worlds)
    w = worlds[0]
    for i in node_ids:
        if i >= len(w.nodes):
            click.echo(f"error: no node {i} (the run has {len(w.nodes)})", err=True)
            ctx.exit(2)
    dump = {
        "scenario": sc.name, "seed": seed, "events": w.events, "time_s": w.now,
        "digest": out.result.digest,
        "violation": out.result.violation.to_dict() if out.result.violation else None,
        "next_event": _next_event(w),
        "nodes": [w.dump_node(i) for i in node_ids] if node_ids else [
            {"index": n.index, "up": n.up, "tokens": len(n.core.tokens) if n.core else None,
             "behaviour": n.behaviour.name} for n in w.nodes],
    }
    click.echo(json.dumps(_clean(dump), indent=2, sort_keys=True, default=str))


def _next_event(w: World) -> str | None:
    from .events import Frame, Gossip, describe

    nxt = w.loop.peek()
    if nxt is None:
        return None
    t, ev = nxt
    kind, i, _arg = describe(ev)
    return f"t={t:.6f} {kind} node {i}" + (
        f" from {ev.src}" if isinstance(ev, Gossip | Frame) else "")
