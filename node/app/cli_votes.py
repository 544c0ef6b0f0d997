"""`troth` commands of community governance: charter, propose, vote,
proposals, tally."""

from __future__ import annotations

from typing import Any

import click

from .cli_common import _call, _id, cli, emit, emit_rows

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
    emit_rows(ctx, "/v1/proposals",
              lambda r: f"{r['state']:<13} {r['result'] or '':<10} {r['cid']}  {r['title']}",
              "no proposals", scope=scope)


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
