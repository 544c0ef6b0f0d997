"""Token bodies of the governance kinds: for each, its builder and its parser.

Theory of operation: a `charter`, `proposal`, `ballot` or `tally` token
carries a CBOR map body (conventions: docs/governance.md, Tokens). For each
kind this module holds the builder the node signs with and the parser every
observer reads with, side by side. The parsers are lenient where a signed
token from a peer must still be judged (a bad proposal is kept and shown as
`invalid`, a bad ballot is `spoiled`); they never raise.

Invariants: every builder passes its output through its own parser before
returning and raises ValueError for anything the parser refuses (as
wire.sign_token decodes its own output), so this node never signs a body it
would itself reject. A builder may refuse more than its parser (text lengths
for people, unknown methods, a loosened rule): what this node signs is
stricter than what it reads. Parsers depend on the body alone; judgements
that need other tokens (the charter, the view, the proposal of a ballot)
are views.py's, counting.py's and tallies.py's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .rules import frac, tighten_problem
from .types import (
    DEFAULT_MEMBERSHIP_PASS,
    DEFAULT_PASS,
    DEFAULT_QUORUM,
    DEFAULT_THRESHOLD,
    MEMBERS_MAX,
    MEMBERSHIP_OPTIONS,
    METHODS,
    NAME_MAX_CHARS,
    OPTION_MAX_CHARS,
    OPTIONS_MAX,
    TALLY_PARTS_MAX,
    TITLE_MAX_CHARS,
    Charter,
    Frac,
    Proposal,
    Rules,
    TallyClaim,
    TallyResult,
)

__all__ = ["charter_body", "parse_charter", "proposal_body", "parse_proposal_body",
           "ProposalBody", "ballot_body", "parse_ballot_body", "choice", "tally_body",
           "parse_tally_body", "options_problem"]


def text(v: Any) -> str:
    """A text field, or "" when it is not text (a peer's body is read, never refused)."""
    return v if isinstance(v, str) else ""


def agents(v: Any) -> frozenset[str] | None:
    """A list of agent ids (non-empty text, at most MEMBERS_MAX), or None."""
    if not isinstance(v, (tuple, list)) or len(v) > MEMBERS_MAX:
        return None
    if not all(isinstance(m, str) and m for m in v):
        return None
    return frozenset(v)


def options_problem(v: Any) -> str | None:
    """Why `v` is not a proposal's options (for people), or None if it is."""
    if not isinstance(v, (tuple, list)) or not 2 <= len(v) <= OPTIONS_MAX:
        n = len(v) if isinstance(v, (tuple, list)) else "no list"
        return f"2 to {OPTIONS_MAX} options, not {n}"
    for o in v:
        if not isinstance(o, str) or not 0 < len(o) <= OPTION_MAX_CHARS:
            what = len(o) if isinstance(o, str) else type(o).__name__
            return f"an option is 1 to {OPTION_MAX_CHARS} characters of text, not {what}"
    if len(set(v)) != len(v):
        return "each option once"
    return None


# -- charter -----------------------------------------------------------------------


def charter_body(name: str, members: Iterable[str], *, quorum: Frac = DEFAULT_QUORUM,
                 threshold: Frac = DEFAULT_THRESHOLD, pass_share: Frac = DEFAULT_PASS,
                 methods: Iterable[str] = METHODS,
                 membership_pass: Frac = DEFAULT_MEMBERSHIP_PASS) -> dict[str, Any]:
    """Body of a `charter` token (scope: none; deps: none)."""
    body: dict[str, Any] = {
        "name": name, "members": sorted(set(members)), "quorum": list(quorum),
        "threshold": list(threshold), "pass": list(pass_share), "methods": list(methods),
        "membership": {"pass": list(membership_pass)},
    }
    if frac(body["quorum"]) is None or frac(body["threshold"]) is None:
        raise ValueError(f"bad quorum/threshold: {quorum!r} {threshold!r}")
    if frac(body["pass"]) is None or frac(body["membership"]["pass"]) is None:
        raise ValueError(f"bad pass share: {pass_share!r} {membership_pass!r}")
    if not body["members"] or not set(body["methods"]) <= set(METHODS):
        raise ValueError(f"charter needs members and known methods: {body!r}")
    if len(name) > NAME_MAX_CHARS:
        raise ValueError(f"a charter's name is at most {NAME_MAX_CHARS} characters")
    if parse_charter(body, cid="", issuer="") is None:
        raise ValueError(f"charter body does not parse: {body!r}")
    return body


def parse_charter(body: Mapping[str, Any], *, cid: str, issuer: str) -> Charter | None:
    """The charter a body founds (cid: the token's, which is the scope), or None."""
    members = agents(body.get("members"))
    if not members:
        return None
    quorum = frac(body.get("quorum", list(DEFAULT_QUORUM)))
    threshold = frac(body.get("threshold", list(DEFAULT_THRESHOLD)))
    pass_share = frac(body.get("pass", list(DEFAULT_PASS)))
    methods = body.get("methods", METHODS)
    mrule = body.get("membership", {})
    if quorum is None or threshold is None or pass_share is None:
        return None
    if not isinstance(methods, (tuple, list)) or not set(methods) <= set(METHODS):
        return None
    if not isinstance(mrule, Mapping):
        return None
    mpass = frac(mrule.get("pass", list(DEFAULT_MEMBERSHIP_PASS)))
    mquorum = frac(mrule.get("quorum", list(quorum)))
    mthreshold = frac(mrule.get("threshold", list(threshold)))
    if mpass is None or mquorum is None or mthreshold is None:
        return None
    return Charter(cid=cid, issuer=issuer, name=text(body.get("name")), members=members,
                   rules=Rules(quorum=quorum, threshold=threshold, pass_share=pass_share),
                   methods=frozenset(methods),
                   membership=Rules(quorum=mquorum, threshold=mthreshold, pass_share=mpass))


# -- proposal ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalBody:
    """What a proposal's body says on its own; `problems` are the body's own faults.

    quorum/threshold: None when not given; `fractions_malformed` when one is
    given but is no share (then neither counts: the charter's rules apply).
    """

    title: str
    options: tuple[str, ...]
    method: str
    closes: int
    quorum: Frac | None
    threshold: Frac | None
    fractions_malformed: bool
    membership: bool
    add: frozenset[str]
    remove: frozenset[str]
    problems: tuple[str, ...]


def proposal_body(title: str, options: Sequence[str], method: str, closes: int, *,
                  quorum: Frac | None = None, threshold: Frac | None = None,
                  add: Iterable[str] = (), remove: Iterable[str] = (),
                  base: Rules | None = None) -> dict[str, Any]:
    """Body of a `proposal` (scope: charter cid; deps: (view cid,) from `current_view`).

    A membership change (add/remove) is a yes/no single-choice proposal.
    `base`, when given, is the rules the proposal counts under (the charter's
    `rules`, or its `membership` rules for a membership change): a quorum or
    threshold that would loosen them is refused (rules.tighten_problem).
    """
    body: dict[str, Any] = {"title": title, "options": list(options), "method": method,
                            "closes": int(closes)}
    if quorum is not None:
        body["quorum"] = list(quorum)
    if threshold is not None:
        body["threshold"] = list(threshold)
    add_l, remove_l = sorted(set(add)), sorted(set(remove))
    if add_l or remove_l:
        body["membership"] = {"add": add_l, "remove": remove_l}
        body["options"] = list(MEMBERSHIP_OPTIONS)
        body["method"] = "single"
    problem = options_problem(body["options"])
    if problem or body["method"] not in METHODS:
        raise ValueError(problem or f"method must be one of {list(METHODS)}, not {method!r}")
    if len(title) > TITLE_MAX_CHARS:
        raise ValueError(f"a title is at most {TITLE_MAX_CHARS} characters")
    parsed = parse_proposal_body(body)
    if parsed.fractions_malformed:
        raise ValueError(f"bad quorum/threshold: {quorum!r} {threshold!r}")
    if parsed.problems:
        raise ValueError("; ".join(parsed.problems))
    if base is not None:
        problem = tighten_problem(base, quorum=parsed.quorum, threshold=parsed.threshold)
        if problem:
            raise ValueError(problem)
    return body


def parse_proposal_body(body: Mapping[str, Any]) -> ProposalBody:
    """Read a proposal's body; never refuses (faults go to `problems`)."""
    membership = body.get("membership")
    add = remove = frozenset[str]()
    problems: list[str] = []
    if membership is not None:
        a = agents(membership.get("add", ())) if isinstance(membership, Mapping) else None
        r = agents(membership.get("remove", ())) if isinstance(membership, Mapping) else None
        if a is None or r is None or not (a or r):
            problems.append("malformed membership change")
        else:
            add, remove = a, r
    raw_options = body.get("options", MEMBERSHIP_OPTIONS if membership is not None else None)
    options = () if options_problem(raw_options) else tuple(raw_options)
    if not options:
        problems.append(f"options must be 2..{OPTIONS_MAX} distinct names")
    closes = body.get("closes")
    if type(closes) is not int:
        problems.append("closes must be an integer time")
    quorum = frac(body["quorum"]) if "quorum" in body else None
    threshold = frac(body["threshold"]) if "threshold" in body else None
    malformed = ("quorum" in body and quorum is None) or (
        "threshold" in body and threshold is None)
    return ProposalBody(title=text(body.get("title")), options=options,
                        method=text(body.get("method")),
                        closes=closes if type(closes) is int else 0, quorum=quorum,
                        threshold=threshold, fractions_malformed=malformed,
                        membership=membership is not None, add=add, remove=remove,
                        problems=tuple(problems))


# -- ballot ------------------------------------------------------------------------


def ballot_body(choice: Sequence[int | str]) -> dict[str, Any]:
    """Body of a `ballot` (scope: proposal's scope; about and deps: the proposal).

    Option names or indexes, in any number: whether they fit the proposal
    (its options and method) is judged when counting (`choice`), since a
    spoiled ballot is a fact too (it replaces the voter's earlier one).
    """
    body = {"choice": list(choice)}
    if parse_ballot_body(body) is None:
        raise ValueError(f"a choice is a list of option names or indexes, not {choice!r}")
    return body


def parse_ballot_body(body: Mapping[str, Any]) -> tuple[int | str, ...] | None:
    """The ballot's choice as given (names or indexes >= 0), or None if it names nothing."""
    raw = body.get("choice")
    if not isinstance(raw, (tuple, list)):
        return None
    if not all((type(c) is int and c >= 0) or isinstance(c, str) for c in raw):
        return None
    return tuple(raw)


def choice(proposal: Proposal, body: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The ballot's choice as option indexes, or None if it is spoiled."""
    raw = parse_ballot_body(body)
    if raw is None:
        return None
    out: list[int] = []
    for c in raw:
        if type(c) is int and 0 <= c < len(proposal.options):
            out.append(c)
        elif isinstance(c, str) and c in proposal.options:
            out.append(proposal.options.index(c))
        else:
            return None
    if len(set(out)) != len(out):
        return None
    if proposal.method == "single" and len(out) != 1:
        return None
    if proposal.method == "ranked" and not out:
        return None
    if proposal.method == "approval":
        out.sort()
    return tuple(out)


# -- tally -------------------------------------------------------------------------


def tally_body(res: TallyResult, part: int = 1, parts: int = 1) -> dict[str, Any]:
    """Body of one tally token: the count of `res`'s cut, part `part` of `parts`.

    Scope: the proposal's; about: the proposal; deps: this part's share of the
    cut plus the proposal (tallies.split_parts).
    """
    body: dict[str, Any] = {"result": res.result, "quorum": res.quorum_met,
                            "counts": list(res.counts), "cut": res.digest,
                            "ballots": res.ballots}
    if parts > 1:
        body["part"] = [part, parts]
    if parse_tally_body(body, res.options) is None:
        raise ValueError(f"tally body does not parse: part {part} of {parts}")
    return body


def parse_tally_body(body: Mapping[str, Any], options: Sequence[str]) -> TallyClaim | None:
    """What a tally body claims about a proposal with these options, or None."""
    result = body.get("result")
    quorum = body.get("quorum")
    counts = body.get("counts")
    digest = body.get("cut")
    n = body.get("ballots")
    part = body.get("part", (1, 1))
    if not (result is None or (isinstance(result, str) and result in options)):
        return None
    if type(quorum) is not bool or type(n) is not int or n < 0:
        return None
    if not isinstance(counts, (tuple, list)) or not all(type(x) is int for x in counts):
        return None
    if type(digest) is not bytes or len(digest) != 32:
        return None
    if not (isinstance(part, (tuple, list)) and len(part) == 2
            and all(type(x) is int for x in part) and 1 <= part[0] <= part[1] <= TALLY_PARTS_MAX):
        return None
    return TallyClaim(result=result, quorum_met=quorum, counts=tuple(counts), ballots=n,
                      digest=digest, part=part[0], parts=part[1])
