"""`troth` commands about tokens and this node's view of them: promise,
fulfil, assess, retract, show, conflicts, watch, verdicts, trust."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import click

from .cli_common import _call, _client, _id, _json, _refused, cli, emit, emit_rows


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
    emit_rows(ctx, "/v1/conflicts", _conflict_lines, "no conflict sets", scope=scope)


def _conflict_lines(c: dict[str, Any]) -> str:
    lines = [f"{c['state']:<10} {_key_text(c['key'])}: leader {c['leader']} "
             f"({c['support']:.2f}, settled at {c['threshold']:.2f})"]
    for r in c["rivals"]:
        split = f" (also accept a rival: {_agents(r['split'])})" if r["split"] else ""
        lines.append(f"  {r['support']:.2f}  {r['cid']}  by {r['issuer'][-8:]}, accepted "
                     f"by {_agents(r['accepted_by'])}{split}")
    return "\n".join(lines)


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

    # Ctrl-C ends the process at once. watch only reads, and click.echo has
    # flushed every line it printed, so there is nothing to clean up; letting
    # KeyboardInterrupt unwind through the HTTP client instead can hang on a
    # lock it held when the signal arrived.
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    client = _client(ctx)
    try:
        for event in client.events():
            click.echo(json.dumps(event, sort_keys=True) if _json(ctx) else _event_line(event))
    except ClientError as exc:
        raise _refused(ctx, exc) from None
    if not _json(ctx):
        click.echo("the node ended the stream (it is stopping)", err=True)


@cli.command()
@click.option("--agent", help="Only this agent's promises.")
@click.pass_context
def verdicts(ctx: click.Context, agent: str | None) -> None:
    """This node's verdict on every promise it knows."""
    emit_rows(ctx, "/v1/verdicts", lambda r: f"{r['state']:<8} {r['confidence']:.2f}  "
              f"{r['cid']}  {r['issuer'][-8:]}  {(r.get('text') or '')[:50]}",
              "no promises", agent=agent)


@cli.command("trust")
@click.argument("agent", required=False)
@click.pass_context
def trust_(ctx: click.Context, agent: str | None) -> None:
    """This node's trust opinion of every agent (or one)."""
    emit_rows(ctx, "/v1/trust", lambda r: f"{r['agent']}  b={r['belief']:.3f} "
              f"d={r['disbelief']:.3f} u={r['uncertainty']:.3f}  E={r['expectation']:.3f}",
              "no agents", agent=agent)
