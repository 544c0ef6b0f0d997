"""The `troth` command line.

Theory of operation: one click group (node/app/cli_common.py); each command
is a thin shell over the node's public API (the store, or the running node's
HTTP API). This module holds the node's own commands (init, run, id, web,
name, token, peers, log, store, demo) and `main`; cli_tokens.py the commands about tokens
and this node's view, cli_votes.py those of communities and votes.
Human output by default, `--json` on every command for scripts. Errors a user
can cause (bad arguments, missing files, a corrupt store) end with a one-line
message and exit status 1 or 2, never a traceback. Command groups that belong to
layers above node/ (the simulator) register through the `troth.commands` entry
point group, so node/ never imports them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from node.store import Store, StoreError
from node.store.home import (
    Config,
    ConfigError,
    Home,
    HomeError,
    bootstrap_problem,
    parse_host_port,
    relay_problem,
    resolve_home,
)

from . import cli_tokens, cli_votes  # noqa: F401 - their commands register on `cli`
from .cli_common import (
    _call,
    _client,
    _home,
    _json,
    _passphrase,
    cli,
    emit,
    emit_rows,
    passphrase_option,
)
from .cli_tokens import _token_line

__all__ = ["main", "cli"]


# -- node lifecycle -------------------------------------------------------

@cli.command()
@passphrase_option
@click.option("--force", is_flag=True, help="Replace an existing identity.")
@click.pass_context
def init(ctx: click.Context, passphrase_file: Path | None, force: bool) -> None:
    """Create a node home: identity, config.toml, API tokens (write and read)."""
    home_path = resolve_home(ctx.find_root().params.get("home_dir"))
    try:
        home, identity = Home.init(home_path, _passphrase(passphrase_file), force=force)
    except HomeError as exc:
        raise click.ClickException(str(exc)) from None
    moved = "".join(f"\nmoved aside: {p}" for p in home.moved_aside)
    emit(ctx, f"initialised {home.path}\nagent id: {identity.agent_id}{moved}\n"
              f"edit {home.config_path}, then: troth --home {home.path} run",
         {"home": str(home.path), "agent_id": identity.agent_id,
          "config": str(home.config_path), "moved_aside": [str(p) for p in home.moved_aside]})


@cli.command()
@click.option("--listen", multiple=True,
              help="libp2p multiaddr to listen on, e.g. /ip4/0.0.0.0/tcp/4001 (repeatable; "
                   "overrides config.toml).")
@click.option("--announce", multiple=True,
              help="A public address that reaches this node, e.g. a port forward: "
                   "/ip4/203.0.113.7/tcp/4001 (repeatable; overrides config.toml).")
@click.option("--api", "api_addr", help="HOST:PORT of the local HTTP API (loopback only).")
@click.option("--bootstrap", multiple=True, help="Peer multiaddr with /p2p/<id> (repeatable).")
@click.option("--relay", "serve_relay", is_flag=True, default=None,
              help="Serve as a relay for other members (config: network.relay).")
@click.option("--relay-via", multiple=True,
              help="Relay multiaddr with /p2p/<id> to hold a slot on when not reachable "
                   "from outside (repeatable; config: network.relays).")
@click.option("--sync-interval", type=click.FloatRange(0.1, 3600), help="Seconds.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--no-admission", is_flag=True,
              help="Store and relay every valid token, strangers' too "
                   "([admission] enabled = false).")
@passphrase_option
@click.pass_context
def run(ctx: click.Context, listen: tuple[str, ...], announce: tuple[str, ...],
        api_addr: str | None, bootstrap: tuple[str, ...],
        serve_relay: bool | None, relay_via: tuple[str, ...],
        sync_interval: float | None, log_level: str | None, no_admission: bool,
        passphrase_file: Path | None) -> None:
    """Run the node until SIGINT/SIGTERM."""
    import logging

    import trio

    from .runtime import Runtime

    home = _home(ctx)
    try:
        identity = home.identity(_passphrase(passphrase_file))
        config: Config = home.config()
        host = port = None
        if api_addr is not None:
            host, port = parse_host_port(api_addr, lambda what: ConfigError(f"--api: {what}"))
        config = config.override(
            listen=listen or None, announce=announce or None, api_host=host, api_port=port,
            bootstrap=tuple(bootstrap) or None, relay=serve_relay,
            relays=tuple(relay_via) or None, sync_interval_s=sync_interval,
            log_level=log_level)
        if no_admission:
            config = replace(config, admission=None)
    except HomeError as exc:
        raise click.ClickException(str(exc)) from None
    for flag, values in (("--listen", listen), ("--announce", announce)):
        for value in values:
            if not value.startswith("/"):
                raise click.BadParameter(f"{value!r}: a multiaddr such as "
                                         "/ip4/127.0.0.1/tcp/4001", param_hint=flag)
    for b in bootstrap:  # (config.toml's own were checked when it was read)
        problem = bootstrap_problem(b)
        if problem:
            raise click.BadParameter(f"{b!r}: {problem}", param_hint="--bootstrap")
    for r in relay_via:
        problem = relay_problem(r)
        if problem:
            raise click.BadParameter(f"{r!r}: {problem}", param_hint="--relay-via")
    logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("libp2p").setLevel(logging.WARNING)
    # Its TCP dialer logs an unstructured ERROR for every failed dial before it
    # raises; the runtime catches that and logs event=dial_failed with a backoff.
    logging.getLogger("libp2p.transport.tcp.tcp").setLevel(logging.CRITICAL)
    # Its relay logs an ERROR whenever a member closes a finished hop stream,
    # and for every circuit that ends; relaying.py logs what matters.
    logging.getLogger("libp2p.relay.circuit_v2").setLevel(logging.CRITICAL)
    runtime = Runtime(home, identity, config)
    from node.net.p2p import P2PError
    from node.store.engine import EngineFailed

    try:
        trio.run(runtime.run)
    except P2PError as exc:
        raise click.ClickException(f"network: {exc}") from None
    except (StoreError, HomeError) as exc:
        raise click.ClickException(str(exc)) from None
    except EngineFailed as exc:
        hint = ("free space on the disk holding the store, then restart: nothing stored is lost"
                if exc.reason == "disk-full" else "restart to recover from the store")
        raise click.ClickException(f"stopped: {exc} ({hint})") from None
    except OSError as exc:  # e.g. the API's port is taken
        raise click.ClickException(f"cannot start: {exc.strerror or exc}"
                                   + (f" ({exc.filename})" if exc.filename else "")) from None


# -- talking to the running node --------------------------------------------

@cli.command("id")
@click.pass_context
def id_(ctx: click.Context) -> None:
    """This node's agent id and the addresses other nodes can bootstrap from."""
    out = _call(ctx, "GET", "/v1/id")
    lines = [out["agent_id"], *(f"  {a}" for a in out["listen"])]
    if out.get("relayed"):
        lines += ["through relays:", *(f"  {a}" for a in out["relayed"])]
    if "reachability" in out:
        lines.append(f"reachability: {out['reachability']} ({out['reachability_source']})")
    if out.get("relay", {}).get("serving"):
        relay = out["relay"]
        lines.append(f"relay for others: {relay['reservations']} reservations, "
                     f"{relay['circuits']} circuits")
    emit(ctx, "\n".join(lines), out)


@cli.command()
@click.option("--no-open", is_flag=True, help="Only print the URL.")
@click.pass_context
def web(ctx: click.Context, no_open: bool) -> None:
    """Open this node's web app, read-only (the read token rides in the URL
    fragment, which the browser never sends to the server); actions in the app
    ask for the write token (the home's api-token)."""
    import webbrowser

    client = _client(ctx)
    home = _home(ctx)
    try:
        url = f"{client.url}/#read={home.api_read_token()}"
    except HomeError as exc:
        raise click.ClickException(str(exc)) from None
    opened = not no_open and webbrowser.open(url)
    emit(ctx, ("opened " if opened else "open ") + url, {"url": url, "opened": opened})


@cli.command("name")
@click.argument("agent", required=False)
@click.argument("name", required=False)
@click.option("--remove", is_flag=True, help="Forget AGENT's name.")
@click.pass_context
def name_(ctx: click.Context, agent: str | None, name: str | None, remove: bool) -> None:
    """Name AGENT NAME locally (a petname, shown by the web app instead of the
    id; it never leaves this node). Without arguments: every name."""
    if agent is None:
        names = _call(ctx, "GET", "/v1/names")
    elif remove == (name is not None):
        raise click.UsageError("give AGENT NAME, or AGENT --remove")
    else:
        names = _call(ctx, "POST", "/v1/names", json={"agent": agent, "name": name})
    emit(ctx, "\n".join(f"{n}  {a}" for a, n in names.items()) or "no names", names)


@cli.group()
def token() -> None:
    """The local API's bearer tokens: api-token (write: everything) and
    api-read-token (read: GET routes only)."""


@token.command("show")
@click.option("--read", is_flag=True, help="The read token instead of the write token.")
@click.pass_context
def token_show(ctx: click.Context, read: bool) -> None:
    """Print one token (the write token unless --read)."""
    home = _home(ctx)
    try:
        home.require()
        value = home.api_read_token() if read else home.api_token()
    except HomeError as exc:
        raise click.ClickException(str(exc)) from None
    emit(ctx, value, {"role": "read" if read else "write", "token": value})


@token.command("rotate")
@click.option("--read", "which", flag_value="read", help="Replace the read token only.")
@click.option("--write", "which", flag_value="write", help="Replace the write token only.")
@click.option("--all", "which", flag_value="all", default=True,
              help="Replace both (the default).")
@click.pass_context
def token_rotate(ctx: click.Context, which: str) -> None:
    """Replace tokens with fresh random ones. A running node accepts the new
    ones and refuses the old from its next request on (it re-reads a token
    file when the file changes); pages and scripts holding an old one get 401."""
    home = _home(ctx)
    try:
        home.require()
    except HomeError as exc:
        raise click.ClickException(str(exc)) from None
    paths = home.rotate_api_tokens(write=which in ("write", "all"), read=which in ("read", "all"))
    emit(ctx, "\n".join(f"replaced {p}" for p in paths), {"replaced": [str(p) for p in paths]})


@cli.command()
@click.pass_context
def peers(ctx: click.Context) -> None:
    """Known peers: liveness (alive / suspected / unreachable / failed), how each
    is reached (direct, relayed via whom, or not connected), addresses tried."""
    emit_rows(ctx, "/v1/peers", _peer_lines, "no peers")


def _peer_lines(row: dict[str, Any]) -> str:
    reached = row.get("reached", "not connected")
    if reached == "relayed":
        reached = f"relayed via {row.get('via')}"
    elif reached == "direct" and row.get("remote_addr"):
        reached = f"direct {row['remote_addr']}"
    if row.get("never_reached"):
        reached = f"never reached: {row.get('last_dial_error') or 'dialling'}"
    seen = row.get("last_seen_s_ago")
    head = (f"{row['state']:<12} {row['peer']}  {reached}"
            + (f"  phi={row['phi']}" if row.get("phi") is not None else "")
            + (f"  last seen {seen:.0f}s ago" if seen is not None and not row["connected"]
               else ""))
    addrs = [f"    {a['addr']}  {a['outcome']}"
             + (f" {a['last_tried_s_ago']:.0f}s ago" if a.get("last_tried_s_ago") is not None
                else "")
             + (f": {a['error']}" if a.get("error") else "")
             + f"  (from {a['source']})"
             for a in row.get("addrs", ())]
    return "\n".join([head, *addrs])


def _duration(seconds: float) -> str:
    """Seconds as a person reads them: "24 h", "3 h 20 min", "5 min 3 s", "12 s"."""
    s = round(seconds)
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    if h:
        return f"{h} h" + (f" {m} min" if m else "")
    if m:
        return f"{m} min" + (f" {sec} s" if sec else "")
    return f"{sec} s"


@cli.command()
@click.pass_context
def stats(ctx: click.Context) -> None:
    """What this node took in and what it ignored, and why (admission, gossip)."""
    s = _call(ctx, "GET", "/v1/stats")
    lines = [f"tokens held {s['tokens']:,}, waiting for parents {s['pending']:,}"]
    adm = s["admission"]
    if adm["enabled"]:
        lines.append(f"horizon {adm['horizon']:,} agents (hops <= {adm['hops_max']})")
        lines.append("admitted  " + ", ".join(f"{r} {n:,}" for r, n in adm["admitted"].items()))
        lines.append("ignored   " + (", ".join(f"{r} {n:,}" for r, n in adm["ignored"].items())
                                     or "nothing"))
        refill = adm["stranger_budget_refill_in_s"]
        lines.append(f"strangers' budget {adm['stranger_budget_used']:,} of "
                     f"{adm['stranger_budget']:,} tokens per "
                     f"{_duration(adm['stranger_budget_window_s'])}, "
                     f"{adm['stranger_budget_left']:,} left"
                     + ("" if refill is None else f", the next back in {_duration(refill)}")
                     + f" ({adm['strangers_held']:,} strangers, quota "
                       f"{adm['stranger_quota']:,} each)")
    else:
        lines.append("admission off: every valid token is stored and relayed")
    g = s.get("gossip") or {}
    if g:
        lines.append(f"gossip    delivered {g['delivered']:,}, rejected {g['rejected']:,}, "
                     f"ignored {g['ignored']:,} (unverified), over a neighbour's rate "
                     f"{g['rate_limited']:,}; signatures checked {g['verified']:,}")
        lines.extend(f"  rate-limited {n:,} from {p}" for p, n in g["rate_limited_by_peer"].items())
    emit(ctx, "\n".join(lines), s)


@cli.command("log")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def log_(ctx: click.Context, limit: int) -> None:
    """The most recent tokens this node holds."""
    emit_rows(ctx, "/v1/log", _token_line, "no tokens", limit=limit)


@cli.group()
def store() -> None:
    """Check or repair a node's durable store."""


def _store_path(ctx: click.Context, path: Path | None) -> Path:
    path = path if path is not None else _home(ctx).store_path
    if not path.exists():
        raise click.ClickException(f"no store at {path}")
    return path


@store.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def store_check(ctx: click.Context, path: Path | None) -> None:
    """Re-verify every stored token (bytes, signature, cid, index columns, chain
    links) and the file's structure; name the damaged tokens. Exit 1 if any.
    PATH: a store file [default: the home's]."""
    path = _store_path(ctx, path)
    try:
        with Store(path, readonly=True) as st:  # (inspection: no migration, no writes)
            report = st.check()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    lines = [f"{report.tokens} tokens checked: " + ("ok" if report.ok else
                                                    f"{len(report.problems)} problems")]
    lines += [f"  {p}" for p in report.problems]
    if not report.ok:
        lines.append(f"repair with: troth store repair {path}")
    emit(ctx, "\n".join(lines), {"tokens": report.tokens, "ok": report.ok,
                                 "problems": report.problems,
                                 "damaged": report.damaged_cids})
    if not report.ok:
        ctx.exit(1)


@store.command("repair")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def store_repair(ctx: click.Context, path: Path | None) -> None:
    """Rebuild a damaged store from its intact tokens (the damaged file is kept
    beside it); the node fetches the rest from peers by sync when it next runs.
    The node must be stopped. PATH: a store file [default: the home's]."""
    from node.store.repair import repair_store

    path = _store_path(ctx, path)
    lock = Home(path.parent).try_lock()  # (a running node holds it)
    if lock is None:
        raise click.ClickException(f"a troth node is running on {path.parent}: stop it first")
    try:
        rep = repair_store(path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        lock.close()
    data = {"path": str(rep.path), "backup": str(rep.backup) if rep.backup else None,
            "kept": rep.kept, "dropped": [str(d) for d in rep.dropped],
            "own_seq": rep.own_seq, "own_seq_floor": rep.own_seq_floor}
    if rep.backup is None:
        emit(ctx, f"{path}: {rep.kept} tokens, intact: nothing to repair", data)
        return
    lines = [f"rebuilt {path}: kept {rep.kept} tokens, left out {len(rep.dropped)} "
             "(the node fetches them from peers by sync when it runs)",
             f"the damaged file is kept as {rep.backup}"]
    lines += [f"  {d}" for d in rep.dropped]
    if rep.own_seq_floor > rep.own_seq:
        lines.append(f"this node's own chain is held to seq {rep.own_seq} of {rep.own_seq_floor}: "
                     "it signs nothing until sync has fetched the rest")
    emit(ctx, "\n".join(lines), data)


@cli.command()
@click.option("--nodes", default=5, show_default=True, type=click.IntRange(5, 10))
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the nodes' stores here (default: a temporary directory).")
@click.pass_context
def demo(ctx: click.Context, nodes: int, workdir: Path | None) -> None:
    """Run a small promise network end to end and show each node's view."""
    from .demo import DemoError, run_demo

    try:
        result = run_demo(nodes=nodes, workdir=workdir,
                          echo=None if _json(ctx) else click.echo)
    except DemoError as exc:
        raise click.ClickException(f"demo failed: {exc}") from None
    if _json(ctx):
        click.echo(json.dumps(result, indent=2, sort_keys=True))


def _load_plugins() -> None:
    for ep in entry_points(group="troth.commands"):
        try:
            cmd = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
            click.echo(f"troth: command group {ep.name!r} unavailable: {exc}", err=True)
            continue
        if isinstance(cmd, click.Command):
            cli.add_command(cmd, ep.name)
    _accept_anywhere(cli)


def _to_root(name: str) -> Any:
    def put(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value:  # given after the command: it wins over the group's (and $TROTH_HOME)
            ctx.find_root().params[name] = value
        return value
    return put


def _accept_anywhere(group: click.Group) -> None:
    """`--home` and `--json` after the command too (`troth init --home DIR`, as the
    hints and the issue spell it); the value lands where the group's would."""
    for cmd in group.commands.values():
        if isinstance(cmd, click.Group):  # (and on the group: `troth sim --json list`)
            _accept_anywhere(cmd)
        names = {n for p in cmd.params for n in getattr(p, "opts", ())}
        if "--home" not in names:
            cmd.params.append(click.Option(
                ["--home"], type=click.Path(path_type=Path), expose_value=False,
                callback=_to_root("home_dir"), help="The node's home (as before the command)."))
        if "--json" not in names:
            cmd.params.append(click.Option(
                ["--json"], is_flag=True, expose_value=False, callback=_to_root("as_json"),
                help="Machine-readable JSON output (as before the command)."))


_accept_anywhere(cli)


def main(argv: list[str] | None = None) -> None:
    _load_plugins()
    try:
        cli.main(args=argv, prog_name="troth", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
