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
from urllib.parse import quote

import click

from node.store import Store, StoreError
from node.store.home import (
    Config,
    ConfigError,
    Home,
    HomeError,
    bootstrap_problem,
    parse_host_port,
    resolve_home,
)

__all__ = ["main", "cli"]


def emit(ctx: click.Context, human: str, data: Any) -> None:
    """Print `data` as JSON under --json, else the human text."""
    if ctx.find_root().params.get("as_json"):
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
    if ctx.find_root().params.get("as_json"):
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


# -- node lifecycle -------------------------------------------------------

@cli.command()
@passphrase_option
@click.option("--force", is_flag=True, help="Replace an existing identity.")
@click.pass_context
def init(ctx: click.Context, passphrase_file: Path | None, force: bool) -> None:
    """Create a node home: identity, config.toml, API token."""
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
@click.option("--listen", help="libp2p multiaddr to listen on (overrides config.toml).")
@click.option("--api", "api_addr", help="HOST:PORT of the local HTTP API (loopback only).")
@click.option("--bootstrap", multiple=True, help="Peer multiaddr with /p2p/<id> (repeatable).")
@click.option("--sync-interval", type=click.FloatRange(0.1, 3600), help="Seconds.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
@passphrase_option
@click.pass_context
def run(ctx: click.Context, listen: str | None, api_addr: str | None, bootstrap: tuple[str, ...],
        sync_interval: float | None, log_level: str | None,
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
            listen=(listen,) if listen else None, api_host=host, api_port=port,
            bootstrap=tuple(bootstrap) or None, sync_interval_s=sync_interval,
            log_level=log_level)
    except HomeError as exc:
        raise click.ClickException(str(exc)) from None
    if listen is not None and not listen.startswith("/"):
        raise click.BadParameter("a multiaddr such as /ip4/127.0.0.1/tcp/4001",
                                 param_hint="--listen")
    for b in bootstrap:  # (config.toml's own were checked when it was read)
        problem = bootstrap_problem(b)
        if problem:
            raise click.BadParameter(f"{b!r}: {problem}", param_hint="--bootstrap")
    logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("libp2p").setLevel(logging.WARNING)
    # Its TCP dialer logs an unstructured ERROR for every failed dial before it
    # raises; the runtime catches that and logs event=dial_failed with a backoff.
    logging.getLogger("libp2p.transport.tcp.tcp").setLevel(logging.CRITICAL)
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
        raise click.ClickException(f"stopped: {exc} (restart to recover from the store)") from None
    except OSError as exc:  # e.g. the API's port is taken
        raise click.ClickException(f"cannot start: {exc.strerror or exc}"
                                   + (f" ({exc.filename})" if exc.filename else "")) from None


# -- talking to the running node --------------------------------------------

@cli.command("id")
@click.pass_context
def id_(ctx: click.Context) -> None:
    """This node's agent id and the addresses other nodes can bootstrap from."""
    out = _call(ctx, "GET", "/v1/id")
    emit(ctx, f"{out['agent_id']}\n" + "\n".join(f"  {a}" for a in out["listen"]), out)


@cli.command()
@click.pass_context
def web(ctx: click.Context) -> None:
    """The URL of this node's web page (the API token rides in the URL fragment)."""
    client = _client(ctx)
    token = _home(ctx).api_token()
    url = f"{client.url}/#token={token}"
    emit(ctx, f"open {url}", {"url": url})


@cli.command()
@click.pass_context
def peers(ctx: click.Context) -> None:
    """Known peers and their liveness (alive / suspected / unreachable / failed)."""
    rows = _call(ctx, "GET", "/v1/peers")
    lines = [f"{r['state']:<12} {r['peer']}  "
             + (f"never reached (bootstrap): {r.get('last_dial_error') or 'dialling'}"
                if r.get("never_reached") else f"phi={r['phi']}")
             for r in rows] or ["no peers"]
    emit(ctx, "\n".join(lines), rows)


def _token_line(t: dict[str, Any]) -> str:
    text = t.get("body", {}).get("text") or t.get("body", {}).get("verdict") or ""
    return f"{t['cid']}  {t['kind']:<8} #{t['seq']:<4} {str(text)[:60]}"


def _read_file(value: str, hint: str) -> bytes:
    """The bytes of `@FILE` (or FILE); a missing file is a usage error."""
    path = Path(value[1:] if value.startswith("@") else value)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint=hint) from None


def _cid_or_file(value: str, hint: str) -> str:
    """CID as given (checked), or `@FILE`: the cid of that file's bytes."""
    import wire

    if value.startswith("@"):
        return wire.cid_of(_read_file(value, hint))
    try:
        wire.cid_to_bytes(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a cid (give a cid, or @FILE for the cid "
                                 "of a file's bytes)", param_hint=hint) from None
    return value


@cli.command()
@click.argument("text")
@click.option("--due", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M",
                                                    "%Y-%m-%dT%H:%M:%S"]),
              help="When it is due (local time).")
@click.option("--due-in", type=click.IntRange(0), help="Due in this many seconds.")
@click.option("--to", "to_agent", help="The promisee's agent id.")
@click.option("--deps", multiple=True, help="Cid this promise builds on (repeatable).")
@click.option("--scope", help="Community (charter cid).")
@click.option("--slot", help="Claim this slot: rival claims (in one scope) form a conflict set.")
@click.option("--f1", help="Transition: the function or current state (text or cid).")
@click.option("--in", "inputs", multiple=True, metavar="TEXT|CID|@FILE",
              help="Transition: an input (repeatable; @FILE is the cid of its bytes).")
@click.option("--out", "outs", multiple=True, metavar="CID|@FILE",
              help="Transition: an artifact you will deliver, by cid (repeatable; @FILE is "
                   "the cid of its bytes).")
@click.option("--f2", help="Transition: the next state (text or cid).")
@click.pass_context
def promise(ctx: click.Context, text: str, due: Any, due_in: int | None, to_agent: str | None,
            deps: tuple[str, ...], scope: str | None, slot: str | None, f1: str | None,
            inputs: tuple[str, ...], outs: tuple[str, ...], f2: str | None) -> None:
    """Promise something (agents promise only about themselves).

    With --f1/--in/--out/--f2 it is a transition: "f1, given in, will produce
    out and next state f2"; a fulfil carrying artifacts whose cids match every
    --out can be checked by anyone."""
    import time

    if due is not None and due_in is not None:
        raise click.UsageError("give --due or --due-in, not both")
    body: dict[str, Any] = {"text": text, "deps": list(deps)}
    if due is not None:
        body["due"] = int(due.timestamp())
    if due_in is not None:
        body["due"] = int(time.time()) + due_in
    if to_agent:
        body["to"] = to_agent
    if scope:
        body["scope"] = scope
    if slot is not None:
        body["slot"] = slot
    if f1 is not None:
        body["f1"] = f1
    if inputs:
        body["in"] = [_cid_or_file(x, "--in") if x.startswith("@") else x for x in inputs]
    if outs:
        body["out"] = [_cid_or_file(x, "--out") for x in outs]
    if f2 is not None:
        body["f2"] = f2
    out = _call(ctx, "POST", "/v1/promises", json=body)
    emit(ctx, _token_line(out), out)


@cli.command()
@click.argument("cid")
@click.option("--evidence", help="Evidence text, or @FILE to read it from a file.")
@click.option("--artifact", "artifacts", multiple=True, metavar="@FILE",
              help="A delivered artifact, carried inline (repeatable; all within the token "
                   "size limit).")
@click.pass_context
def fulfil(ctx: click.Context, cid: str, evidence: str | None,
           artifacts: tuple[str, ...]) -> None:
    """Publish evidence that your promise CID was kept."""
    import base64

    from wire.limits import TOKEN_SIZE_MAX_BYTES

    if evidence and evidence.startswith("@"):
        try:
            evidence = Path(evidence[1:]).read_text()
        except OSError as exc:
            raise click.ClickException(f"{evidence[1:]}: {exc.strerror}") from None
    blobs = [_read_file(a, "--artifact") for a in artifacts]
    if any(not b for b in blobs):
        raise click.BadParameter("an artifact file is empty", param_hint="--artifact")
    total = sum(len(b) for b in blobs)
    if total > TOKEN_SIZE_MAX_BYTES:  # (the node checks the exact token size)
        raise click.BadParameter(f"{total:,} bytes of artifacts cannot fit in one token (at "
                                 f"most {TOKEN_SIZE_MAX_BYTES:,} bytes): deliver them "
                                 "elsewhere and promise their cids", param_hint="--artifact")
    body: dict[str, Any] = {"cid": cid, "evidence": evidence}
    if blobs:
        body["artifacts"] = [base64.b64encode(b).decode() for b in blobs]
    out = _call(ctx, "POST", "/v1/fulfil", json=body)
    emit(ctx, _token_line(out), out)


@cli.command()
@click.argument("cid")
@click.argument("verdict", type=click.Choice(["kept", "broken"]))
@click.option("--reason")
@click.pass_context
def assess(ctx: click.Context, cid: str, verdict: str, reason: str | None) -> None:
    """Publish your own verdict on a token (a promise about your evaluation)."""
    out = _call(ctx, "POST", "/v1/assess", json={"cid": cid, "verdict": verdict,
                                                  "reason": reason})
    emit(ctx, _token_line(out), out)


@cli.command()
@click.argument("cid")
@click.pass_context
def retract(ctx: click.Context, cid: str) -> None:
    """Withdraw your promise CID (it counts as broken)."""
    out = _call(ctx, "POST", "/v1/retract", json={"cid": cid})
    emit(ctx, _token_line(out), out)


def _key_text(key: dict[str, Any]) -> str:
    if key["kind"] == "slot":
        return f"slot {key['slot']!r} in {key['scope']}"
    return f"seq {key['seq']} of {key['issuer']}"


def _agents(agents: list[str]) -> str:
    return ", ".join(a[-8:] for a in agents) or "nobody"


@cli.command()
@click.argument("cid")
@click.pass_context
def show(ctx: click.Context, cid: str) -> None:
    """One token, with this node's verdict on it and who builds on it."""
    out = _call(ctx, "GET", f"/v1/tokens/{_id(cid)}")
    body = out.get("body", {})
    lines = [_token_line(out), f"  issuer  {out['issuer']}"]
    if out.get("deps"):
        lines.append("  deps    " + ", ".join(out["deps"]))
    if out.get("about"):
        lines.append(f"  about   {out['about']}")
    for name in ("f1", "in", "f2"):
        if name in body:
            lines.append(f"  {name:<7} {body[name]}")
    for a in body.get("artifacts", ()):
        lines.append(f"  artifact {a['cid']} ({a['size_bytes']} bytes)")
    if "verdict" in out:
        v = out["verdict"]
        basis = f" [{v['basis']}]" if v.get("basis") else ""
        lines.append(f"  verdict {v['state']} ({v['confidence']:.2f}){basis}: {v['reason']}")
    d = out.get("delivery")
    if d and (d["out"] or d["delivered"]):
        got = {c for f in d["delivered"] for c in f["artifacts"]}
        lines.append("  promised -> delivered")
        for c in d["out"]:
            lines.append(f"    {c}  {'delivered' if c in got else 'not delivered'}")
        for c in d["unpromised"]:
            lines.append(f"    {c}  delivered, not promised")
    lines.append(f"  support {out['support']}  accepted by {_agents(out['accepted_by'])}")
    for c in out.get("conflicts", ()):
        lines.append(f"  conflict {_key_text(c['key'])}: {c['state']}, leader {c['leader']}")
    emit(ctx, "\n".join(lines), out)


@cli.command()
@click.option("--scope", help="Only this community's (charter cid) conflict sets.")
@click.pass_context
def conflicts(ctx: click.Context, scope: str | None) -> None:
    """Conflict sets (rival slot claims, equivocations): leader, state, support."""
    rows = _call(ctx, "GET", "/v1/conflicts", params={"scope": scope} if scope else None)
    lines = []
    for c in rows:
        lines.append(f"{c['state']:<10} {_key_text(c['key'])}: leader {c['leader']} "
                     f"({c['support']:.2f}, settled at {c['threshold']:.2f})")
        for r in c["rivals"]:
            split = f" (also accept a rival: {_agents(r['split'])})" if r["split"] else ""
            lines.append(f"  {r['support']:.2f}  {r['cid']}  by {r['issuer'][-8:]}, accepted "
                         f"by {_agents(r['accepted_by'])}{split}")
    emit(ctx, "\n".join(lines) or "no conflict sets", rows)


def _event_line(e: dict[str, Any]) -> str:
    kind = e.get("event")
    if kind == "token":
        return f"token     {e['kind']:<8} {e['cid']}  by {e['issuer'][-8:]} #{e['seq']}"
    if kind == "verdict":
        basis = f" [{e['basis']}]" if e.get("basis") else ""
        return (f"verdict   {e['state']:<8} {e['cid']}  {e['confidence']:.2f}{basis}: "
                f"{e['reason']}")
    if kind == "trust":
        return f"trust     {e['agent']}  E={e['expectation']:.3f}"
    if kind == "consensus":
        return (f"consensus {e['state']:<8} {_key_text(e['key'])}: leader {e['leader']} "
                f"({e['support']:.2f})")
    if kind == "outcome":
        return f"outcome   {e['state']:<8} {e['proposal']}  {e.get('result') or ''}"
    if kind == "lost":
        return f"lost      {e['count']} events (this watcher fell behind)"
    return json.dumps(e, sort_keys=True)


@cli.command()
@click.pass_context
def watch(ctx: click.Context) -> None:
    """Print this node's events as they happen (tokens, verdicts, trust,
    consensus, outcomes) until Ctrl-C. --json: one JSON object a line."""
    from .client import ClientError

    client = _client(ctx)
    try:
        for event in client.events():
            click.echo(json.dumps(event, sort_keys=True) if _json(ctx) else _event_line(event))
    except ClientError as exc:
        raise _refused(ctx, exc) from None
    except KeyboardInterrupt:
        return
    if not _json(ctx):
        click.echo("the node ended the stream (it is stopping)", err=True)


@cli.command()
@click.option("--agent", help="Only this agent's promises.")
@click.pass_context
def verdicts(ctx: click.Context, agent: str | None) -> None:
    """This node's verdict on every promise it knows."""
    rows = _call(ctx, "GET", "/v1/verdicts", params={"agent": agent} if agent else None)
    lines = [f"{r['state']:<8} {r['confidence']:.2f}  {r['cid']}  {r['issuer'][-8:]}  "
             f"{(r.get('text') or '')[:50]}" for r in rows] or ["no promises"]
    emit(ctx, "\n".join(lines), rows)


@cli.command("trust")
@click.argument("agent", required=False)
@click.pass_context
def trust_(ctx: click.Context, agent: str | None) -> None:
    """This node's trust opinion of every agent (or one)."""
    rows = _call(ctx, "GET", "/v1/trust", params={"agent": agent} if agent else None)
    lines = [f"{r['agent']}  b={r['belief']:.3f} d={r['disbelief']:.3f} "
             f"u={r['uncertainty']:.3f}  E={r['expectation']:.3f}" for r in rows] or ["no agents"]
    emit(ctx, "\n".join(lines), rows)


# -- governance -------------------------------------------------------------

@cli.group()
def charter() -> None:
    """Communities: found one with a charter (its cid is the community's scope)."""


@charter.command("create")
@click.argument("name")
@click.option("--member", "members", multiple=True, help="A founding member's agent id "
              "(repeatable; you are always a member).")
@click.option("--quorum", help="Share of the electorate that must vote, e.g. 1/2 or 50%.")
@click.option("--threshold", help="Share of members' tallies that decides, e.g. 2/3.")
@click.option("--methods", help="Allowed methods, comma-separated: single,approval,ranked.")
@click.pass_context
def charter_create(ctx: click.Context, name: str, members: tuple[str, ...], quorum: str | None,
                   threshold: str | None, methods: str | None) -> None:
    """Issue a charter token founding community NAME."""
    body: dict[str, Any] = {"name": name, "members": list(members)}
    if quorum:
        body["quorum"] = quorum
    if threshold:
        body["threshold"] = threshold
    if methods:
        body["methods"] = [m.strip() for m in methods.split(",") if m.strip()]
    out = _call(ctx, "POST", "/v1/charters", json=body)
    emit(ctx, f"community {name!r} founded\nscope: {out['cid']}\nmembers: "
              + ", ".join(out["body"]["members"])
              + "".join(f"\nnote: {w}" for w in out.get("warnings", ())), out)


@cli.command()
@click.argument("scope")
@click.argument("title")
@click.option("--option", "options", multiple=True, help="An option (repeatable; default yes/no).")
@click.option("--method", type=click.Choice(["single", "approval", "ranked"]), default="single",
              show_default=True)
@click.option("--closes", type=click.DateTime(formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S",
                                                       "%Y-%m-%d"]),
              help="Closing time (local time).")
@click.option("--closes-in", type=click.IntRange(1), help="Closes in this many seconds.")
@click.option("--quorum", help="Tighter quorum than the charter's, e.g. 3/4 (never looser).")
@click.option("--threshold", help="Tighter threshold than the charter's (never looser).")
@click.option("--add", multiple=True, help="Membership change: add this agent (yes/no vote).")
@click.option("--remove", multiple=True, help="Membership change: remove this agent.")
@click.pass_context
def propose(ctx: click.Context, scope: str, title: str, options: tuple[str, ...], method: str,
            closes: Any, closes_in: int | None, quorum: str | None, threshold: str | None,
            add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """Put a proposal to the community SCOPE."""
    import time

    body: dict[str, Any] = {"scope": scope, "title": title, "method": method,
                            "add": list(add), "remove": list(remove)}
    if options:
        body["options"] = list(options)
    if closes is not None and closes_in is not None:
        raise click.UsageError("give --closes or --closes-in, not both")
    if closes is not None:
        body["closes"] = int(closes.timestamp())
    if closes_in is not None:
        body["closes"] = int(time.time()) + closes_in
    if quorum:
        body["quorum"] = quorum
    if threshold:
        body["threshold"] = threshold
    out = _call(ctx, "POST", "/v1/proposals", json=body)
    b = out["body"]
    emit(ctx, f"proposal {out['cid']}\n  {b['title']}  [{b['method']}] options: "
              + ", ".join(b["options"]) + f"  closes {b['closes']}", out)


@cli.command()
@click.argument("proposal")
@click.argument("choices", nargs=-1, required=True)
@click.pass_context
def vote(ctx: click.Context, proposal: str, choices: tuple[str, ...]) -> None:
    """Vote on PROPOSAL (ranked: best first). A later vote replaces your earlier one.

    Each CHOICE is an option's name, or its index (0, 1, ...) when no option
    has a numeric name; each option at most once."""
    out = _call(ctx, "POST", "/v1/ballots", json={"proposal": proposal, "choices": list(choices)})
    chosen = out.get("body", {}).get("choice", list(choices))
    text = f"ballot {out['cid']} (#{out['seq']}): " + ", ".join(map(str, chosen))
    for w in out.get("warnings", ()):
        text += f"\nnote: {w}"
    emit(ctx, text, out)


@cli.command()
@click.argument("scope", required=False)
@click.pass_context
def proposals(ctx: click.Context, scope: str | None) -> None:
    """Proposals this node knows, with their state as this node sees it."""
    rows = _call(ctx, "GET", "/v1/proposals", params={"scope": scope} if scope else None)
    lines = [f"{r['state']:<13} {r['result'] or '':<10} {r['cid']}  {r['title']}"
             for r in rows] or ["no proposals"]
    emit(ctx, "\n".join(lines), rows)


@cli.command()
@click.argument("proposal")
@click.option("--explain", is_flag=True, help="Was my vote counted? Who counted it, and how "
              "disagreeing tallies differ.")
@click.option("--voter", help="Explain for this voter instead of yourself (implies "
              "--explain).")
@click.option("--publish", is_flag=True, help="Publish this node's tally now.")
@click.pass_context
def tally(ctx: click.Context, proposal: str, explain: bool, voter: str | None,
          publish: bool) -> None:
    """The outcome of PROPOSAL as this node sees it."""
    if publish:
        _call(ctx, "POST", f"/v1/proposals/{_id(proposal)}/tally")
    explain = explain or voter is not None  # (--voter asks for an explanation)
    params: dict[str, Any] = {"explain": explain}
    if voter:
        params["voter"] = voter
    out = _call(ctx, "GET", f"/v1/proposals/{_id(proposal)}", params=params)
    o = out["outcome"]
    p = out["proposal"]
    lines = [f"{p['title']}: {o['state']}" + (f" -> {o['result']}" if o["result"] else ""),
             f"  {o['reason']}",
             f"  electorate {o['electorate']}, {o['needed']} member tallies needed"]
    own = o.get("own")
    if own:
        counts = own["counts"] if p["method"] != "ranked" else "(pairwise matrix)"
        lines.append(f"  this node's count: {counts} over {list(p['options'])}, "
                     f"{own['ballots']} ballots")
    for s in o["support"]:
        lines.append(f"  {s['members']} member tallies say {s['result']}"
                     + ("" if s["quorum_met"] else " (quorum not met)"))
    for t in o["tallies"]:
        lines.append(f"  tally by {t['issuer'][-8:]}: {t['result']} [{t['status']}] "
                     f"{t['ballots']} ballots")
    if explain and "explanation" in out:
        e = out["explanation"]
        lines.append(f"  voter {e['voter']}:")
        for b in e["ballots"]:
            lines.append(f"    ballot #{b['seq']} {b['choice']}: {b['state']} ({b['reason']})")
        counted = e["counted"]
        for issuer, ballot in e["attestations"]:
            said = "counted it" if ballot and ballot == counted else (
                "counted another of its ballots" if ballot else "did not count it")
            lines.append(f"    tally of {issuer[-8:]} {said}")
        for d in e["differences"]:
            who = ", ".join(i[-8:] for i in d["issuers"])
            if d["missing"] or d["extra"]:
                lines.append(f"    tallies by {who} differ from this node's cut: missing "
                             f"{len(d['missing'])}, extra {len(d['extra'])}")
            else:
                lines.append(f"    tallies by {who} use the same cut as this node")
    emit(ctx, "\n".join(lines), out)


@cli.command("log")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def log_(ctx: click.Context, limit: int) -> None:
    """The most recent tokens this node holds."""
    rows = _call(ctx, "GET", "/v1/log", params={"limit": limit})
    emit(ctx, "\n".join(_token_line(t) for t in rows) or "no tokens", rows)


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
        with Store(path, readonly=True) as st:  # (inspection: no migration, no writes)
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


def _json(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("as_json"))


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
