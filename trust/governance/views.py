"""Membership views (epochs) and a proposal read in the context of its community.

Theory of operation: a charter opens view 0 of its community (its cid is the
scope); a membership proposal that is decided "yes" here opens the next view
by applying its add/remove to the view it built on. A proposal builds on
exactly one view (its deps name the charter or one membership proposal of
the same scope) and its electorate is that view's members. Views are
observer-relative: one exists here once its membership proposal is decided
here (docs/governance.md, Membership). The engine holds the tokens and
memoises; this module holds the rules that need the charter and the views:
`proposal_in_context` (what makes a proposal invalid, and the rules it counts
by), `next_members` and `current`.

Invariants: pure functions of their arguments; a proposal's problems are
listed in a fixed order (body faults first), so its `problem` text is the
same on every observer holding the same tokens; the tighten rule is
rules.proposal_rules, the same predicate the node's service asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import wire

from .bodies import parse_proposal_body
from .rules import proposal_rules
from .types import MEMBERSHIP_OPTIONS, Charter, Proposal, Rules, View

__all__ = ["proposal_in_context", "is_membership_token", "next_members", "current"]


def proposal_in_context(tok: wire.Token, charter: Charter | None,
                        is_membership: Callable[[str], bool]) -> Proposal:
    """The proposal token `tok` read under its scope's `charter` (None: not known here).

    `is_membership(cid)` says whether cid is a membership proposal of the same
    scope (a view this proposal may build on).
    """
    body = parse_proposal_body(tok.body)
    problems = list(body.problems)
    view: str | None = None
    rules = Rules()
    if tok.scope is None:
        problems.append("no scope (a proposal belongs to a charter)")
    elif charter is None:
        problems.append("scope is not a known, well-formed charter")
    else:
        base = charter.membership if body.membership else charter.rules
        if body.fractions_malformed:
            problems.append("malformed quorum/threshold")
            rules = proposal_rules(base, quorum=None, threshold=None)
        else:
            rules = proposal_rules(base, quorum=body.quorum, threshold=body.threshold)
        if body.method not in charter.methods:
            problems.append(f"method {body.method!r} not allowed by the charter")
        if body.membership and (body.method != "single" or body.options != MEMBERSHIP_OPTIONS):
            problems.append("a membership change is a single-choice yes/no proposal")
        views = [d for d in tok.deps if d == tok.scope or is_membership(d)]
        if len(views) != 1:
            problems.append("deps must name exactly one view (charter or membership "
                            "proposal of this scope)")
        else:
            view = views[0]
    return Proposal(cid=tok.cid, scope=tok.scope, issuer=tok.issuer, iat=tok.iat, view=view,
                    title=body.title, options=body.options, method=body.method,
                    closes=body.closes, rules=rules, add=body.add, remove=body.remove,
                    problem="; ".join(problems) if problems else None)


def is_membership_token(tok: wire.Token | None, scope: str | None) -> bool:
    """Whether tok is a membership proposal of `scope` (its body has a membership change)."""
    return tok is not None and tok.scope == scope and "membership" in tok.body


def next_members(parent: frozenset[str], p: Proposal) -> frozenset[str]:
    """The members of the view a decided membership proposal opens."""
    return (parent - p.remove) | p.add


def current(views: Iterable[View]) -> View | None:
    """The view a new proposal should build on: highest epoch, then smallest cid."""
    vs = tuple(views)
    if not vs:
        return None
    top = max(v.epoch for v in vs)
    return min((v for v in vs if v.epoch == top), key=lambda v: v.cid)
