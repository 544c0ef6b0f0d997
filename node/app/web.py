"""The node's web page and its promise-graph picture.

Theory of operation: `PAGE` is one static HTML document (no build step, no
external assets, no token in it) served at `/` without auth; its script reads
the read token from the URL fragment, `/#read=TOKEN` (`troth web` prints such
a URL: fragments never reach the server or its logs), or asks for it, keeps it
in sessionStorage, and calls the same GET `/v1/...` endpoints as the CLI. The
read token can show everything and sign nothing (node/app/api.py).
`graph_svg` draws the promise graph server-side as SVG: one column per agent,
one row per token in apply order, promises coloured by this node's verdict,
solid arrows for `deps` (builds on, i.e. accepts), dashed for `about`. Pure
and deterministic: same tokens and verdicts, same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import wire

__all__ = ["PAGE", "graph_svg", "GRAPH_TOKENS_MAX"]

# A picture of more tokens than this is unreadable; the newest are drawn.
GRAPH_TOKENS_MAX = 200

_KIND_COLOUR = {"promise": "#ffffff", "fulfil": "#9be9a8", "assess": "#c6d7f5",
                "retract": "#f5b7b1", "charter": "#f9e79f", "proposal": "#f8c471",
                "ballot": "#d7bde2", "tally": "#a3e4d7"}
_VERDICT_COLOUR = {"kept": "#2e9e44", "broken": "#c0392b", "pending": "#95a5a6"}
_COL_W = 150
_ROW_H = 34
_TOP = 60
_LEFT = 20


def graph_svg(tokens: Sequence[wire.Token], verdicts: Mapping[str, str],
              names: Mapping[str, str] | None = None) -> str:
    """SVG of the last GRAPH_TOKENS_MAX tokens; `verdicts`: promise cid -> state."""
    toks = list(tokens)[-GRAPH_TOKENS_MAX:]
    names = names or {}
    agents: list[str] = []
    for t in toks:
        if t.issuer not in agents:
            agents.append(t.issuer)
    col = {a: i for i, a in enumerate(agents)}
    pos: dict[str, tuple[int, int]] = {}
    for row, t in enumerate(toks):
        pos[t.cid] = (_LEFT + col[t.issuer] * _COL_W + _COL_W // 2, _TOP + row * _ROW_H)
    width = _LEFT * 2 + max(1, len(agents)) * _COL_W
    height = _TOP + max(1, len(toks)) * _ROW_H + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
           'markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
           'fill="#555"/></marker></defs>']
    for a, i in col.items():
        x = _LEFT + i * _COL_W + _COL_W // 2
        label = escape(names.get(a) or "…" + a[-8:])
        out.append(f'<text x="{x}" y="24" text-anchor="middle" font-weight="bold">{label}</text>')
        out.append(f'<line x1="{x}" y1="34" x2="{x}" y2="{height - 10}" stroke="#eee"/>')
    for t in toks:
        x2, y2 = pos[t.cid]
        for d in t.deps:
            if d in pos:
                x1, y1 = pos[d]
                out.append(f'<line x1="{x2}" y1="{y2}" x2="{x1}" y2="{y1 + 9}" stroke="#555" '
                           'marker-end="url(#arrow)"><title>builds on (accepts)</title></line>')
        if t.about is not None and t.about in pos and t.about not in t.deps:
            x1, y1 = pos[t.about]
            out.append(f'<line x1="{x2}" y1="{y2}" x2="{x1}" y2="{y1 + 9}" stroke="#888" '
                       'stroke-dasharray="4 3" marker-end="url(#arrow)"><title>about'
                       '</title></line>')
    for t in toks:
        x, y = pos[t.cid]
        fill = _KIND_COLOUR.get(t.kind, "#eeeeee")
        stroke = _VERDICT_COLOUR.get(verdicts.get(t.cid, ""), "#555")
        sw = 3 if t.cid in verdicts else 1
        text = t.body.get("text") or t.body.get("title") or t.body.get("name") or ""
        tip = escape(f"{t.kind} #{t.seq} {t.cid}" + (f"\n{text}" if isinstance(text, str)
                                                     and text else ""))
        out.append(f'<g><title>{tip}</title><rect x="{x - 55}" y="{y - 9}" width="110" '
                   f'height="18" rx="9" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
                   f'<text x="{x}" y="{y + 4}" text-anchor="middle">{escape(t.kind)} '
                   f'#{t.seq}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>troth node</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
 h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.6rem; }
 table { border-collapse: collapse; font-size: 0.9rem; }
 td, th { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
 code { font-size: 0.8rem; } .kept { color: #2e9e44; } .broken { color: #c0392b; }
 .pending { color: #7f8c8d; } .decided { color: #2e9e44; } .contested { color: #c0392b; }
 #err { color: #c0392b; } #graph { overflow: auto; border: 1px solid #eee; }
</style></head>
<body>
<h1>troth node <code id="agent"></code></h1>
<p id="err"></p>
<h2>Peers</h2><table id="peers"></table>
<h2>Proposals</h2><table id="proposals"></table>
<h2>Promises and this node's verdicts</h2><table id="verdicts"></table>
<h2>Trust</h2><table id="trust"></table>
<h2>Promise graph</h2><div id="graph"></div>
<script>
"use strict";
const frag = new URLSearchParams(location.hash.slice(1));
if (frag.get("read")) { sessionStorage.setItem("troth-read-token", frag.get("read"));
  history.replaceState(null, "", location.pathname); }
let token = sessionStorage.getItem("troth-read-token") ||
  prompt("Read token (`troth token show --read`, the api-read-token file):") || "";
sessionStorage.setItem("troth-read-token", token);
async function api(path) {
  const r = await fetch(path, {headers: {Authorization: "Bearer " + token}});
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return path.endsWith(".svg") ? r.text() : r.json();
}
function esc(s) { const d = document.createElement("div"); d.textContent = String(s ?? "");
  return d.innerHTML; }
function rows(id, head, data, cells) {
  document.getElementById(id).innerHTML = "<tr>" + head.map(h => "<th>" + h + "</th>").join("")
    + "</tr>" + data.map(d => "<tr>" + cells(d).map(c => "<td>" + c + "</td>").join("")
    + "</tr>").join("");
}
async function refresh() {
  try {
    const me = await api("/v1/id");
    document.getElementById("agent").textContent = me.agent_id + " (" + me.tokens + " tokens)";
    rows("peers", ["peer", "state", "phi"], await api("/v1/peers"),
      p => [esc(p.peer), esc(p.state), esc(p.phi)]);
    rows("proposals", ["title", "state", "result", "closes", "cid"], await api("/v1/proposals"),
      p => [esc(p.title), '<span class="' + esc(p.state) + '">' + esc(p.state) + "</span>",
            esc(p.result), esc(new Date(p.closes * 1000).toLocaleString()), "<code>" +
            esc(p.cid.slice(0, 20)) + "…</code>"]);
    rows("verdicts", ["promise", "by", "verdict", "confidence", "why"], await api("/v1/verdicts"),
      v => [esc(v.text), "<code>…" + esc(v.issuer.slice(-8)) + "</code>",
            '<span class="' + esc(v.state) + '">' + esc(v.state) + "</span>",
            esc(v.confidence), esc(v.reason)]);
    rows("trust", ["agent", "belief", "disbelief", "uncertainty", "expectation"],
      await api("/v1/trust"), t => ["<code>" + esc(t.agent) + "</code>", esc(t.belief),
      esc(t.disbelief), esc(t.uncertainty), esc(t.expectation)]);
    document.getElementById("graph").innerHTML = await api("/v1/graph.svg");
    document.getElementById("err").textContent = "";
  } catch (e) { document.getElementById("err").textContent = e.message; }
}
refresh(); setInterval(refresh, 5000);
</script></body></html>
"""
