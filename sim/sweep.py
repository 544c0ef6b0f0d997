"""Parameter sweeps: a grid of (parameter values x seeds), run in parallel.

Theory of operation: the grid is the cartesian product of `--param` values
times `--seeds` seeds; each cell is an independent, picklable job
(`runner.run_job`) submitted to a `concurrent.futures.Executor`: a local
process pool, or a Dask cluster through `distributed.Client.get_executor()`
(Dask's futures executor), so the same code serves both. Results come back in
any order and are sorted by (params, seed) before anything is written, so the
table does not depend on scheduling. `aggregate` turns rows into mean, sample
standard deviation and a 95% confidence interval (Student t) per cell.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from concurrent.futures import Executor, as_completed
from typing import Any

from .runner import run_job

__all__ = ["grid", "run_grid", "aggregate", "T95"]

# Two-sided 95% Student t quantiles by degrees of freedom (1..30); z beyond.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def grid(params: list[tuple[str, list[Any]]], seeds: list[int]) -> list[tuple[dict[str, Any],
                                                                             int]]:
    names = [p for p, _ in params]
    cells = itertools.product(*[vals for _, vals in params]) if params else [()]
    return [(dict(zip(names, combo, strict=True)), s) for combo in cells for s in seeds]


def run_grid(scenario: str, params: list[tuple[str, list[Any]]], seeds: list[int],
             executor: Executor, *, nodes: int | None = None,
             on_done: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    cells = grid(params, seeds)
    futures = {}
    for cell, seed in cells:
        job = (scenario, sorted(cell.items()), seed, nodes)
        futures[executor.submit(run_job, job)] = (cell, seed)
    rows = []
    for k, fut in enumerate(as_completed(futures), 1):
        cell, seed = futures[fut]
        metrics = fut.result()
        rows.append({**{f"param:{p}": v for p, v in cell.items()}, **metrics})
        if on_done:
            on_done(k, len(cells))
    keys = [f"param:{p}" for p, _ in params]
    rows.sort(key=lambda r: (tuple(_order(r[k]) for k in keys), r["seed"]))
    return rows


def _numeric(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _order(v: Any) -> tuple[int, float, str]:
    """A parameter value's place in the tables: numbers by value (4 before 10; 1 and 1.0
    stay two cells), then text."""
    return (0, float(v), repr(v)) if _numeric(v) else (1, 0.0, str(v))


def aggregate(rows: list[dict[str, Any]], params: list[str]) -> list[dict[str, Any]]:
    """Mean, sd and 95% CI half-width of every numeric metric, per parameter cell."""
    keys = [f"param:{p}" for p in params]
    cells: dict[tuple[tuple[int, float, str], ...], list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault(tuple(_order(r[k]) for k in keys), []).append(r)
    out = []
    for _, rs in sorted(cells.items()):
        row: dict[str, Any] = {p: rs[0][k] for p, k in zip(params, keys, strict=True)}
        row["runs"] = len(rs)
        row["violations"] = sum(1 for r in rs if r.get("violation"))
        metric_names = sorted({m for r in rs for m, v in r.items()
                               if _numeric(v) and not m.startswith("param:") and m != "seed"})
        for m in metric_names:
            xs = [float(r[m]) for r in rs if _numeric(r.get(m)) and not math.isnan(r[m])]
            n = len(xs)
            mean = sum(xs) / n if n else math.nan
            sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
            t = T95[n - 2] if 2 <= n <= 31 else 1.96
            row[f"{m}_mean"] = mean
            row[f"{m}_sd"] = sd
            row[f"{m}_ci95"] = t * sd / math.sqrt(n) if n > 1 else math.nan
        out.append(row)
    return out
