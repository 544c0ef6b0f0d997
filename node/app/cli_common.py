"""What every `troth` command shares: the root click group, `--json`
output, the home directory, and calls to the running node's API.

The commands live in node/app/cli.py (the node itself: init, run, id, peers,
log, store, demo), node/app/cli_tokens.py (promises, verdicts, trust,
conflicts, the event stream) and node/app/cli_votes.py (communities and
votes); each registers on the group defined here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from node.store.home import Home, resolve_home

__all__ = ["cli", "emit", "emit_rows", "passphrase_option"]


def _json(ctx: click.Context) -> bool:
    """Whether --json was given (on the root group)."""
    return bool(ctx.find_root().params.get("as_json"))


def emit(ctx: click.Context, human: str, data: Any) -> None:
    """Print `data` as JSON under --json, else the human text."""
    if _json(ctx):
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(human)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option("--home", "home_dir", envvar="TROTH_HOME", type=click.Path(path_type=Path),
              help="The node's home directory [default: $TROTH_HOME or ~/.troth].")
@click.version_option(package_name="troth")
@click.pass_context
def cli(ctx: click.Context, as_json: bool, home_dir: Path | None) -> None:
    """troth: a peer-to-peer promise network node."""
    ctx.ensure_object(dict)


def _id(text: str) -> str:
    """A cid or agent id as one URL path segment (`../log` stays a bad id, not a route)."""
    return quote(text, safe="")


def _home(ctx: click.Context) -> Home:
    return Home(resolve_home(ctx.find_root().params.get("home_dir")))


def _refused(ctx: click.Context, exc: Any) -> click.ClickException:
    """The one-line error; under --json also the error as JSON on stdout, for scripts."""
    if _json(ctx):
        click.echo(json.dumps({"error": exc.error, "detail": exc.detail, "status": exc.status},
                              sort_keys=True))
    return click.ClickException(str(exc))


def _client(ctx: click.Context) -> Any:
    from .client import Client, ClientError

    try:
        return Client(_home(ctx))
    except ClientError as exc:
        raise _refused(ctx, exc) from None


def _call(ctx: click.Context, method: str, path: str, **kw: Any) -> Any:
    from .client import ClientError

    client = _client(ctx)
    try:
        return client.request(method, path, **kw)
    except ClientError as exc:
        raise _refused(ctx, exc) from None


def emit_rows(ctx: click.Context, path: str, line: Callable[[dict[str, Any]], str], none: str,
              **filters: Any) -> None:
    """GET the list at `path` (the `filters` given, as query parameters) and
    print it one `line` a row, `none` when empty; under --json the rows."""
    rows = _call(ctx, "GET", path, params={k: v for k, v in filters.items() if v} or None)
    emit(ctx, "\n".join(line(r) for r in rows) or none, rows)


def _passphrase(passphrase_file: Path | None) -> str | None:
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text().rstrip("\n")
        except OSError as exc:
            raise click.ClickException(f"{passphrase_file}: {exc.strerror}") from None
        if not text:  # (an empty one would silently leave the key unencrypted)
            raise click.ClickException(f"{passphrase_file}: the passphrase file is empty")
        return text
    import os

    return os.environ.get("TROTH_PASSPHRASE") or None


passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the identity passphrase [default: $TROTH_PASSPHRASE].")

