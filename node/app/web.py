"""The node's web app (static files) and its promise-graph picture.

Theory of operation: the app is the static files under `static/` in this
package: `index.html` served at `/`, the rest under `APP_PREFIX`, all without
auth and without a build step (plain JavaScript modules, no third-party
code; docs/decisions/0014-web-app.md). They hold no data: the app calls the
same `/v1/...` routes as the CLI with a token the user gives it. The read
token arrives in the URL fragment (`troth web` opens `/#read=TOKEN`; a
fragment never reaches the server or its logs) and is kept in sessionStorage;
the write token is asked for when an action needs it, kept in sessionStorage,
never put in a URL. `PAGE_HEADERS` confine the page: scripts, styles and
requests from this origin only, no inline script. `graph_svg` draws the promise graph
server-side as SVG: one column per agent, one row per token in apply order,
promises coloured by this node's verdict, solid arrows for `deps` (builds on,
i.e. accepts), dashed for `about`. Pure and deterministic: same tokens and
verdicts, same picture.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles

import wire

__all__ = ["APP_DIR", "APP_PREFIX", "PAGE_HEADERS", "AppFiles", "graph_svg", "GRAPH_TOKENS_MAX"]

APP_DIR = Path(__file__).resolve().parent / "static"
APP_PREFIX = "/app"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class AppFiles(StaticFiles):
    """The app's modules, revalidated on every load: after an upgrade the
    browser must not mix the new page with old modules from its cache."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Any, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

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
