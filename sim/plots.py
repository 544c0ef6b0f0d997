"""Figures for a run and for a sweep (matplotlib, Agg backend: no display).

Theory of operation: plain functions from data already computed (an Outcome's
series, a sweep table) to PNG files; nothing here touches the model. Styling
aims at a paper figure: labelled axes with units, no chart junk, 150 dpi.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_run", "plot_sweep"]

DPI = 150


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_run(out: Any, outdir: Path, title: str) -> list[Path]:
    """Latency CDF, convergence over time, per-node traffic, trust by group."""
    paths = []
    lat = sorted(out.latencies)
    if lat:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        n = len(lat)
        ax.plot([x * 1000 for x in lat], [(i + 1) / n for i in range(n)], lw=1.5)
        ax.set_xscale("log")
        ax.set_xlabel("dissemination latency (ms, log scale)")
        ax.set_ylabel("fraction of (token, node) pairs")
        ax.set_title(f"{title}: latency CDF")
        ax.grid(True, which="both", alpha=0.3)
        paths.append(_save(fig, outdir / "latency_cdf.png"))
    tl = out.timeline
    if tl:
        fig, ax1 = plt.subplots(figsize=(5, 3.5))
        ts = [r["t_s"] for r in tl]
        ax1.plot(ts, [r["held_frac"] for r in tl], label="tokens held / issued (faithful)")
        ax1.step(ts, [r["converged"] for r in tl], where="post", label="converged", alpha=0.7)
        ax1.plot(ts, [r["up_nodes"] / max(1.0, max(x["up_nodes"] for x in tl)) for r in tl],
                 ls=":", label="nodes up (share)")
        ax1.set_xlabel("virtual time (s)")
        ax1.set_ylim(-0.05, 1.05)
        ax1.set_title(f"{title}: convergence")
        ax1.legend(fontsize=7, loc="lower right")
        ax1.grid(True, alpha=0.3)
        paths.append(_save(fig, outdir / "convergence.png"))
        fig, ax = plt.subplots(figsize=(5, 3.5))
        dt = [b["t_s"] - a["t_s"] for a, b in zip(tl, tl[1:], strict=False)]
        rate = [(b["bytes_out"] - a["bytes_out"]) / d / 1024 for a, b, d in
                zip(tl, tl[1:], dt, strict=False) if d > 0]
        ax.plot(ts[1:len(rate) + 1], rate)
        ax.set_xlabel("virtual time (s)")
        ax.set_ylabel("network traffic (KiB/s, all nodes)")
        ax.set_title(f"{title}: traffic")
        ax.grid(True, alpha=0.3)
        paths.append(_save(fig, outdir / "traffic.png"))
    if out.bytes_per_node:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.hist([b / 1024 for b in out.bytes_per_node], bins=40)
        ax.set_xlabel("bytes sent per node (KiB)")
        ax.set_ylabel("nodes")
        ax.set_title(f"{title}: per-node cost")
        paths.append(_save(fig, outdir / "bytes_per_node.png"))
    if out.trust_by_label:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        labels = sorted(out.trust_by_label)
        ax.boxplot([out.trust_by_label[k] for k in labels])
        ax.set_xticks(range(1, len(labels) + 1), labels)
        ax.set_ylabel("trust expectation (one observer)")
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}: trust by group")
        paths.append(_save(fig, outdir / "trust_by_group.png"))
    return paths


def plot_sweep(summary: list[dict[str, Any]], x: str, series: str | None, metrics: list[str],
               outdir: Path) -> list[Path]:
    """One figure per metric: mean +- 95% CI against the swept parameter `x`."""
    paths = []
    for metric in metrics:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in summary:
            groups.setdefault(str(row.get(series, "")) if series else "", []).append(row)
        plotted = False
        for label, rows in sorted(groups.items()):
            rows = [r for r in rows if not math.isnan(r.get(f"{metric}_mean", math.nan))]
            if not rows:
                continue
            try:
                rows.sort(key=lambda r: float(r[x]))
                xs: list[Any] = [float(r[x]) for r in rows]
            except (TypeError, ValueError):
                xs = [str(r[x]) for r in rows]
            ys = [r[f"{metric}_mean"] for r in rows]
            ci = [r[f"{metric}_ci95"] if not math.isnan(r[f"{metric}_ci95"]) else 0.0
                  for r in rows]
            ax.errorbar(xs, ys, yerr=ci, marker="o", capsize=3,
                        label=f"{series}={label}" if series else None)
            plotted = True
        if not plotted:
            plt.close(fig)
            continue
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        # Two short lines: a long metric and field name fit the figure's width.
        ax.set_title(f"{metric}\nvs {x} (mean, 95% CI)", fontsize=9)
        ax.grid(True, alpha=0.3)
        if series:
            ax.legend(fontsize=7)
        safe = metric.replace("/", "_")
        paths.append(_save(fig, outdir / f"sweep_{safe}.png"))
    return paths
