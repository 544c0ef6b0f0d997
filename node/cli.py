"""The `troth` command line.

Theory of operation: one click group; each command is a thin shell over the
node's public API (the store, the engine, later the running node's HTTP API).
Human output by default, `--json` on every command for scripts. Errors a user
can cause (bad arguments, missing files, a corrupt store) end with a one-line
message and exit status 1 or 2, never a traceback. Command groups that belong to
layers above node/ (the simulator) register through the `troth.commands` entry
point group, so node/ never imports them.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from .store import Store, StoreError

__all__ = ["main", "cli"]


def emit(ctx: click.Context, human: str, data: Any) -> None:
    """Print `data` as JSON under --json, else the human text."""
    if ctx.find_root().params.get("as_json"):
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(human)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.version_option(package_name="troth")
@click.pass_context
def cli(ctx: click.Context, as_json: bool) -> None:
    """troth: a peer-to-peer promise network node."""
    ctx.ensure_object(dict)


@cli.group()
def store() -> None:
    """Inspect a node's durable store."""


@store.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def store_check(ctx: click.Context, path: Path) -> None:
    """Re-verify every stored token, its index columns and its chain links."""
    if not path.exists():
        raise click.ClickException(f"no store at {path}")
    try:
        with Store(path) as st:
            report = st.check()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    lines = [f"{report.tokens} tokens checked: " + ("ok" if report.ok else
                                                    f"{len(report.problems)} problems")]
    lines += [f"  {p}" for p in report.problems]
    emit(ctx, "\n".join(lines), {"tokens": report.tokens, "ok": report.ok,
                                 "problems": report.problems})
    if not report.ok:
        ctx.exit(1)


@cli.command()
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(2, 20))
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the nodes' stores here (default: a temporary directory).")
@click.pass_context
def demo(ctx: click.Context, nodes: int, workdir: Path | None) -> None:
    """Run a small promise network end to end and show each node's view."""
    from .demo import run_demo

    result = run_demo(nodes=nodes, workdir=workdir, echo=None if _json(ctx) else click.echo)
    if _json(ctx):
        click.echo(json.dumps(result, indent=2, sort_keys=True))


def _json(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("as_json"))


def _load_plugins() -> None:
    for ep in entry_points(group="troth.commands"):
        cmd = ep.load()
        if isinstance(cmd, click.Command):
            cli.add_command(cmd, ep.name)


def main(argv: list[str] | None = None) -> None:
    _load_plugins()
    try:
        cli.main(args=argv, prog_name="troth", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
