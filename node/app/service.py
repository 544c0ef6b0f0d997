"""What a user can ask of a node: the application facade over the engine.

Theory of operation: `NodeService` turns user intents (promise, fulfil, assess,
retract, show, verdicts, trust, log) into core calls and answers, as plain
JSON-ready dicts. It is synchronous and holds no I/O of its own: the runtime
gives it a clock and a `dispatch` function that takes the network outputs of
each call (publishes, sends). The HTTP API and the CLI are shells over it.

User errors raise `ServiceError(status, reason, detail)`; the engine's state is
untouched by a refused request (checks happen before anything is signed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import trust
import wire
from node.core import Output
from node.store.engine import Engine
from trust import governance as gov
from wire.cbor import dumps as cbor_dumps
from wire.limits import IAT_MAX_S, TEXT_MAX_CHARS, TOKEN_SIZE_MAX_BYTES, TRANSITION_ITEMS_MAX

__all__ = ["NodeService", "ServiceError", "token_json", "verdict_json", "opinion_json", "plain",
           "parse_fraction", "consensus_json", "key_json", "CLAIMS_ALLOWANCE_BYTES"]

LOG_LIMIT_MAX = 1000
# A due date (and a proposal's closing time) is an epoch second like a token's
# iat, so the profile's bound on iat bounds it too.
DUE_MAX = IAT_MAX_S
# A token's claims besides its body and deps (issuer, iat, seq, kind, prev,
# scope, about, the protected header and the signature) take under 400 bytes
# (docs/token-profile.md); a body is refused before signing when it and its
# deps would not fit in TOKEN_SIZE_MAX_BYTES with this much room to spare.
CLAIMS_ALLOWANCE_BYTES = 1024
# Bytes a deps entry takes in the token (a binary cid and its CBOR head).
DEP_BYTES = 40


class ServiceError(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    return v


def plain(v: Any) -> Any:
    """JSON-ready form of the governance values (dataclasses, bytes, sets)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (frozenset, set)):
        return sorted(plain(x) for x in v)
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [plain(x) for x in v]
    return v


def parse_fraction(text: object, what: str) -> tuple[int, int]:
    """'2/3', '67%' or [2, 3] -> (2, 3); a share of the electorate in 0..1."""
    try:
        if isinstance(text, (list, tuple)) and len(text) == 2:
            num, den = int(text[0]), int(text[1])
        elif isinstance(text, str) and text.endswith("%"):
            num, den = int(text[:-1]), 100
        elif isinstance(text, str) and "/" in text:
            a, b = text.split("/", 1)
            num, den = int(a), int(b)
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise ServiceError(400, "bad-fraction", f"{what} must be like 2/3 or 67%, "
                                                f"not {text!r}") from None
    if not (den > 0 and 0 <= num <= den):
        raise ServiceError(400, "bad-fraction", f"{what} must be between 0 and 1: {text!r}")
    if den > FRACTION_DEN_MAX:
        raise ServiceError(400, "bad-fraction", f"{what}: a denominator up to "
                                                f"{FRACTION_DEN_MAX:,} (e.g. 2/3 or 67%)")
    return num, den


FRACTION_DEN_MAX = 10**6  # finer shares mean nothing for an electorate of <= 4096


def _artifacts_json(arts: Any) -> Any:
    """Artifacts by cid and size, not as hex: they may fill the token."""
    if isinstance(arts, (list, tuple)) and all(isinstance(a, bytes) for a in arts):
        return [{"cid": wire.cid_of(a), "size_bytes": len(a)} for a in arts]
    return _jsonable(arts)


def _str_of(body: Mapping[str, Any], key: str) -> str | None:
    """A body field shown in lists (a promise's text, an assessment's reason):
    None unless it is text (a peer's token may put anything there)."""
    value = body.get(key)
    return value if isinstance(value, str) else None


def token_json(t: wire.Token) -> dict[str, Any]:
    # (artifacts are summarised, never hex-encoded first: this runs per listed token)
    body = {str(k): _artifacts_json(v) if k == "artifacts" else _jsonable(v)
            for k, v in t.body.items()}
    return {"cid": t.cid, "issuer": t.issuer, "seq": t.seq, "iat": t.iat, "kind": t.kind,
            "prev": t.prev, "scope": t.scope, "deps": list(t.deps), "about": t.about,
            "body": body, "size_bytes": len(t.raw)}


def verdict_json(v: trust.Verdict) -> dict[str, Any]:
    return {"cid": v.cid, "state": v.state, "confidence": round(v.confidence, 4),
            "evidence": list(v.evidence), "reason": v.reason, "basis": v.basis}


def key_json(key: trust.ConflictKey) -> dict[str, Any]:
    """A conflict set's key: one slot in a scope, or one issuer's chain position."""
    if isinstance(key, trust.SlotKey):
        return {"kind": "slot", "scope": key.scope, "slot": key.slot}
    return {"kind": "seq", "issuer": key.issuer, "seq": key.seq}


def consensus_json(c: trust.Consensus) -> dict[str, Any]:
    return {"key": key_json(c.key), "state": c.state, "leader": c.leader,
            "support": round(c.support, 4),
            "alternatives": [{"cid": cid, "support": round(s, 4)} for cid, s in c.alternatives]}


def opinion_json(agent: str, o: trust.Opinion) -> dict[str, Any]:
    return {"agent": agent, "belief": round(o.belief, 4), "disbelief": round(o.disbelief, 4),
            "uncertainty": round(o.uncertainty, 4), "base_rate": round(o.base_rate, 4),
            "expectation": round(o.expectation, 4)}


class NodeService:
    def __init__(self, engine: Engine, clock: Callable[[], float],
                 dispatch: Callable[[list[Output]], None]) -> None:
        if engine.identity is None:
            raise ValueError("a service needs an engine with an identity")
        self.engine = engine
        self.core = engine.core
        self.clock = clock
        self.dispatch = dispatch
        self.agent_id: str = engine.identity.agent_id

    # -- checks ----------------------------------------------------------
    def _cid(self, cid: object, what: str = "cid") -> str:
        if not isinstance(cid, str):
            raise ServiceError(400, "bad-cid", f"{what} must be a string")
        try:
            wire.cid_to_bytes(cid)
        except ValueError:
            raise ServiceError(400, "bad-cid", f"{what} is not a troth cid: {cid!r}") from None
        return cid

    def _held(self, cid: object, what: str = "cid") -> wire.Token:
        c = self._cid(cid, what)
        tok = self.core.tokens.get(c)
        if tok is None:
            raise ServiceError(404, "unknown-token", f"this node holds no token {c}")
        return tok

    def _text(self, text: object, what: str, *, required: bool = True) -> str | None:
        if text is None and not required:
            return None
        if not isinstance(text, str) or not text.strip():
            raise ServiceError(400, "bad-text", f"{what} must be non-empty text")
        if len(text) > TEXT_MAX_CHARS:
            raise ServiceError(400, "too-long", f"{what} has {len(text)} characters, "
                                                f"at most {TEXT_MAX_CHARS}")
        return text

    def _fits(self, body: Mapping[str, Any], deps: Sequence[str] = ()) -> None:
        """Refuse a body that would make a token over the profile's size limit."""
        size = len(cbor_dumps(dict(body))) + DEP_BYTES * len(deps) + CLAIMS_ALLOWANCE_BYTES
        if size > TOKEN_SIZE_MAX_BYTES:
            raise ServiceError(413, "token-too-large",
                               f"the token would be about {size:,} bytes; a token is at most "
                               f"{TOKEN_SIZE_MAX_BYTES:,} (wire/limits.py): deliver large "
                               "artifacts elsewhere and promise their cids in `out`")

    def _text_or_cid(self, value: object, what: str) -> str:
        """f1, f2 and `in` items: free text, or a cid naming a document."""
        return str(self._text(value, what))

    def _list(self, items: object, what: str) -> list[object]:
        if not isinstance(items, (list, tuple)):
            raise ServiceError(400, "bad-request", f"{what} must be a list")
        if len(items) > TRANSITION_ITEMS_MAX:
            raise ServiceError(400, "too-many", f"{what} has {len(items)} items, "
                                                f"at most {TRANSITION_ITEMS_MAX}")
        return list(items)

    def _issue(self, **kw: Any) -> dict[str, Any]:
        self._fits(kw.get("body") or {}, kw.get("deps") or ())
        try:
            token, outs = self.engine.issue(now=self.clock(), **kw)
        except ValueError as exc:
            raise ServiceError(400, "refused", str(exc)) from None
        self.dispatch(outs)
        return token_json(token)

    # -- intents ---------------------------------------------------------
    def promise(self, text: object, *, due: object = None, to: object = None,
                deps: object = (), scope: object = None, slot: object = None,
                f1: object = None, inputs: object = None, out: object = None,
                f2: object = None) -> dict[str, Any]:
        """A promise; with the transition tuple (docs/design.md, Tokens): "f1, given
        `in`, will produce `out` and next state f2". `out` names the artifacts
        by cid (`wire.cid_of` of their bytes) so a fulfil's can be checked."""
        body: dict[str, Any] = {"text": self._text(text, "text")}
        if f1 is not None:
            body["f1"] = self._text_or_cid(f1, "f1")
        if inputs is not None:
            body["in"] = [self._text_or_cid(x, "in") for x in self._list(inputs, "in")]
        if out is not None:
            body["out"] = [self._cid(c, "out") for c in self._list(out, "out")]
        if f2 is not None:
            body["f2"] = self._text_or_cid(f2, "f2")
        if due is not None:
            if isinstance(due, bool) or not isinstance(due, int) or not 0 <= due < DUE_MAX:
                raise ServiceError(400, "bad-due", "due must be epoch seconds (an integer "
                                                   f"below {DUE_MAX})")
            body["due"] = due
        if to is not None:
            if not isinstance(to, str):
                raise ServiceError(400, "bad-agent", "to must be an agent id")
            try:
                wire.agent_id_to_bytes(to)
            except wire.InvalidIdentity:
                raise ServiceError(400, "bad-agent", f"not an agent id: {to!r}") from None
            body["to"] = to
        if slot is not None:
            body["slot"] = self._text(slot, "slot")
        if not isinstance(deps, (list, tuple)):
            raise ServiceError(400, "bad-deps", "deps must be a list of cids")
        dep_cids = tuple(self._held(d, "dep").cid for d in deps)
        sc = self._held(scope, "scope").cid if scope is not None else None
        return self._issue(kind="promise", body=body, deps=dep_cids, scope=sc)

    def fulfil(self, cid: object, evidence: object = None,
               artifacts: object = None) -> dict[str, Any]:
        """Evidence that your promise was kept (again: more evidence is allowed).

        `artifacts`: the delivered outputs, inline (byte strings); an observer
        hashes them and compares with the promise's `out` cids."""
        arts: list[bytes] = []
        if artifacts is not None:
            for a in self._list(artifacts, "artifacts"):
                if not isinstance(a, bytes) or not a:
                    raise ServiceError(400, "bad-artifact", "each artifact is non-empty bytes")
                arts.append(a)
        p = self._own_promise(cid, "fulfil")
        _fulfils, retracts = self.core.observer.followups(p.cid)
        if retracts:
            raise ServiceError(409, "already-retracted", f"you retracted {p.cid} "
                               f"({retracts[0]}): a fulfilment now would contradict it")
        body: dict[str, Any] = {}
        if evidence is not None:
            body["evidence"] = self._text(evidence, "evidence")
        if arts:
            body["artifacts"] = arts
        return self._issue(kind="fulfil", about=p.cid, deps=(p.cid,), body=body, scope=p.scope)

    def retract(self, cid: object) -> dict[str, Any]:
        p = self._own_promise(cid, "retract")
        fulfils, retracts = self.core.observer.followups(p.cid)
        if retracts:
            raise ServiceError(409, "already-retracted",
                               f"you already retracted {p.cid} ({retracts[0]})")
        if fulfils:
            raise ServiceError(409, "already-fulfilled", f"you fulfilled {p.cid} "
                               f"({fulfils[0]}): it cannot be withdrawn now")
        return self._issue(kind="retract", about=p.cid, scope=p.scope)

    def assess(self, cid: object, verdict: object, reason: object = None) -> dict[str, Any]:
        tok = self._held(cid)
        if verdict not in ("kept", "broken"):
            raise ServiceError(400, "bad-verdict",
                               f"verdict must be kept or broken, not {verdict!r}")
        body: dict[str, Any] = {"verdict": verdict}
        if reason is not None:
            body["reason"] = self._text(reason, "reason")
        return self._issue(kind="assess", about=tok.cid, body=body, scope=tok.scope)

    def _own_promise(self, cid: object, verb: str) -> wire.Token:
        p = self._held(cid)
        if p.kind != "promise":
            raise ServiceError(400, "not-a-promise", f"{p.cid} is a {p.kind}, not a promise")
        if p.issuer != self.agent_id:
            raise ServiceError(403, "not-yours", f"only the promiser can {verb} a promise "
                                                 "(agents promise only about themselves); "
                                                 "use assess to give your verdict")
        return p

    # -- governance --------------------------------------------------------
    def _agent(self, agent: object, what: str) -> str:
        if not isinstance(agent, str):
            raise ServiceError(400, "bad-agent", f"{what} must be an agent id")
        try:
            wire.agent_id_to_bytes(agent)
        except wire.InvalidIdentity:
            raise ServiceError(400, "bad-agent", f"{what}: not an agent id: {agent!r}") from None
        return agent

    def charter(self, name: object, members: object, *, quorum: object = None,
                threshold: object = None, methods: object = None) -> dict[str, Any]:
        """Found a community. The founder is a member; the charter's cid is the scope."""
        title = self._text(name, "name")
        if not isinstance(members, (list, tuple)):
            raise ServiceError(400, "bad-members", "members must be a list of agent ids")
        agents = {self._agent(m, "member") for m in members} | {self.agent_id}
        kw: dict[str, Any] = {}
        if quorum is not None:
            kw["quorum"] = parse_fraction(quorum, "quorum")
        if threshold is not None:
            kw["threshold"] = parse_fraction(threshold, "threshold")
        if methods is not None:
            if not isinstance(methods, (list, tuple)) or not methods or \
                    not set(methods) <= set(gov.METHODS):
                raise ServiceError(400, "bad-methods", f"methods are some of {list(gov.METHODS)}")
            if len(set(methods)) != len(methods):
                raise ServiceError(400, "bad-methods", "each method at most once")
            kw["methods"] = list(methods)
        try:
            body = gov.charter_body(str(title), sorted(agents), **kw)
        except ValueError as exc:
            raise ServiceError(400, "bad-charter", str(exc)) from None
        # Members this node never heard from may not exist: a vote needing their
        # tallies could never be decided. Said, not refused (they may be offline).
        unheard = sorted(a for a in agents if a != self.agent_id and a not in self.core.heads)
        out = self._issue(kind="charter", body=body)
        warnings = []
        if len(agents) == 1:
            warnings.append("a community of one: only you vote; admit members with a "
                            "membership proposal (troth propose SCOPE TITLE --add AGENT)")
        if unheard:
            warnings.append(f"this node has no token from {len(unheard)} of the members "
                            f"yet: {', '.join(a[-8:] for a in unheard)} (check the ids)")
        if warnings:
            out["warnings"] = warnings
        return out

    def propose(self, scope: object, title: object, options: object, method: object = "single",
                *, closes: object = None, quorum: object = None, threshold: object = None,
                add: Sequence[object] = (), remove: Sequence[object] = ()) -> dict[str, Any]:
        sc = self._cid(scope, "scope")
        g = self.core.governance
        if g.charter(sc) is None:
            raise ServiceError(404, "unknown-scope", f"this node holds no charter {sc}")
        view = g.current_view(sc)
        if view is None:
            raise ServiceError(409, "no-view", f"no established membership view of {sc}")
        if self.agent_id not in view.members:
            raise ServiceError(403, "not-a-member", "only members of the current view propose")
        if not isinstance(options, (list, tuple)) or not all(isinstance(o, str) for o in options):
            raise ServiceError(400, "bad-options", "options must be a list of text")
        problem = gov.options_problem(options)
        if problem:
            raise ServiceError(400, "bad-options", problem)
        if method not in gov.METHODS:
            raise ServiceError(400, "bad-method", f"method must be one of {list(gov.METHODS)}")
        now = self.clock()
        if closes is None:
            closes = int(now) + 3600
        if isinstance(closes, bool) or not isinstance(closes, int) or not now < closes < DUE_MAX:
            raise ServiceError(400, "bad-closes", "closes must be a future time (epoch seconds "
                                                  f"below {DUE_MAX})")
        adds = [self._agent(a, "add") for a in add]
        removes = [self._agent(a, "remove") for a in remove]
        charter = g.charter(sc)
        assert charter is not None
        if adds or removes:
            if list(options) != ["yes", "no"] or method != "single":
                raise ServiceError(400, "bad-proposal", "a membership change is a single-choice "
                                                        "yes/no vote: give no options or method")
            both = sorted(set(adds) & set(removes))
            already = sorted(set(adds) & view.members)
            absent = sorted(set(removes) - view.members)
            for agents, why in ((both, "both added and removed"),
                                (already, "already members"), (absent, "not members")):
                if agents:
                    raise ServiceError(400, "bad-proposal", f"{why}: {agents}")
        base = charter.membership if adds or removes else charter.rules
        kw: dict[str, Any] = {}
        for name, text in (("quorum", quorum), ("threshold", threshold)):
            if text is not None:
                kw[name] = parse_fraction(text, name)
        tighten = gov.tighten_problem(base, **kw)  # the engine applies the same rule
        if tighten:
            raise ServiceError(400, "bad-fraction", tighten)
        try:
            body = gov.proposal_body(self._text(title, "title") or "", list(options), str(method),
                                     closes, add=adds, remove=removes, base=base, **kw)
        except ValueError as exc:
            raise ServiceError(400, "bad-proposal", str(exc)) from None
        return self._issue(kind="proposal", scope=sc, deps=(view.cid,), body=body)

    def vote(self, proposal: object, choices: object) -> dict[str, Any]:
        pc = self._cid(proposal, "proposal")
        p = self.core.governance.proposal(pc)
        if p is None:
            raise ServiceError(404, "unknown-proposal", f"this node holds no proposal {pc}")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ServiceError(400, "bad-choice", "give at least one choice")
        # Each choice is an option's name, or its index (an int, or digits that
        # name no option). A ballot the count would call spoiled is refused
        # here: published, it would supersede this voter's earlier valid one.
        picked: list[str] = []
        numeric_names = any(o.isdigit() for o in p.options)  # then digits are names only
        for c in choices:
            if isinstance(c, str) and c in p.options:
                picked.append(c)
            elif isinstance(c, str) and not numeric_names and c.isascii() and c.isdigit() \
                    and len(c) < 4 and int(c) < len(p.options):
                picked.append(p.options[int(c)])
            elif type(c) is int and 0 <= c < len(p.options):
                picked.append(p.options[c])
            else:
                shown = repr(c) if len(repr(c)) <= 80 else repr(c)[:77] + "..."
                raise ServiceError(400, "bad-choice", f"{shown} is not one of the options "
                                   f"{list(p.options)} (or their indexes 0..{len(p.options) - 1})")
        repeated = sorted({c for c in picked if picked.count(c) > 1})
        if repeated:
            raise ServiceError(400, "bad-choice", f"each option at most once: {repeated} "
                                                  "given more than once")
        if p.method == "single" and len(picked) != 1:
            raise ServiceError(400, "bad-choice", "a single-choice vote takes exactly one choice")
        now = self.clock()
        gv = self.core.governance
        notes: list[str] = []
        if now > p.closes + gv.params.skew_allowance_s:
            notes.append("the vote has closed: this ballot is kept but not counted")
        electorate = gv.electorate(pc)
        if electorate is not None and self.agent_id not in electorate:
            notes.append("you are not in this vote's electorate: this ballot is kept but "
                         "not counted")
        out = self._issue(kind="ballot", scope=p.scope, about=pc, deps=(pc,),
                          body=gov.ballot_body(picked))
        if notes:
            out["warnings"] = notes
        return out

    def communities(self) -> list[dict[str, Any]]:
        """Every community (charter) this node holds, with its current members."""
        g = self.core.governance
        rows = []
        for c in g.charters():
            view = g.current_view(c.cid)
            rows.append({"cid": c.cid, "name": c.name, "founder": c.issuer,
                         "founding_members": sorted(c.members), "methods": sorted(c.methods),
                         "rules": plain(c.rules),
                         "epoch": view.epoch if view is not None else None,
                         "members": sorted(view.members) if view is not None else []})
        return rows

    def proposals(self, scope: object = None) -> list[dict[str, Any]]:
        sc = self._cid(scope, "scope") if scope is not None else None
        if sc is not None and self.core.governance.charter(sc) is None:
            raise ServiceError(404, "unknown-scope", f"this node holds no charter {sc}")
        return [plain(info) for info in self.core.governance.proposals(sc, now=self.clock())]

    def tally(self, proposal: object, *, voter: object = None,
              explain: bool = False) -> dict[str, Any]:
        pc = self._cid(proposal, "proposal")
        g = self.core.governance
        if g.proposal(pc) is None:
            raise ServiceError(404, "unknown-proposal", f"this node holds no proposal {pc}")
        now = self.clock()
        out: dict[str, Any] = {"outcome": plain(g.outcome(pc, now)),
                               "proposal": plain(g.proposal(pc))}
        if explain:
            who = self._agent(voter, "voter") if voter is not None else self.agent_id
            out["explanation"] = plain(g.explain(pc, who, now))
        return out

    def publish_tally(self, proposal: object) -> list[dict[str, Any]]:
        """Publish this node's tally now (normally done by the node at closing)."""
        pc = self._cid(proposal, "proposal")
        plan = self.core.governance.tally_plan(pc, self.clock())
        if plan is None:
            raise ServiceError(409, "no-tally", "nothing to tally: the vote is open, this node "
                                                "is not in its electorate, or its tally stands")
        return [self._issue(kind="tally", scope=part.scope, about=part.about, deps=part.deps,
                            body=part.body) for part in plan.parts]

    # -- questions -------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters: tokens held and waiting, what the core received and
        refused, and admission's decisions by reason (docs/decisions/0006-admission.md)."""
        core = self.core
        st = core.stats
        adm = core.admission
        return {
            "tokens": len(core.tokens), "pending": core.pending_count(),
            "core": {"received_tokens": st.received_tokens, "duplicates": st.duplicate_tokens,
                     "rejected": st.rejected, "pending_dropped": st.pending_dropped,
                     "frames_in": st.frames_in, "frames_out": st.frames_out,
                     "bytes_in": st.bytes_in, "bytes_out": st.bytes_out},
            "admission": {"enabled": False} if adm is None else {"enabled": True,
                                                                  **adm.report(self.clock())},
        }

    def identity(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "tokens": len(self.core.tokens),
                "own_seq": self.core.own_seq(), "frontier_digest": self.core.digest().hex()}

    def show(self, cid: object) -> dict[str, Any]:
        tok = self._held(cid)
        out = token_json(tok)
        now = self.clock()
        obs = self.core.observer
        if tok.kind == "promise":
            out["verdict"] = verdict_json(obs.verdict(tok.cid, now))
            out["delivery"] = self._delivery(tok)
            out["assessments"] = [
                {"cid": a.cid, "assessor": a.issuer, "iat": a.iat,
                 "verdict": a.body.get("verdict"),
                 "reason": _str_of(a.body, "reason")}
                for a in obs.assessments(tok.cid)]
        out["support"] = round(obs.support(tok.cid, now), 4)
        out["accepted_by"] = sorted(obs.accepters(tok.cid))
        out["conflicts"] = [consensus_json(obs.consensus(k, now))
                            for k in obs.conflict_keys_of(tok.cid)]
        return out

    def _delivery(self, p: wire.Token) -> dict[str, Any]:
        """Promised `out` cids beside the artifacts the promiser's fulfils
        delivered, as the observer reads them (the one reader of both)."""
        detail = self.core.observer.promise_detail(p.cid)
        promised = list(detail.out) if detail is not None else []
        delivered = [{"fulfil": f, "artifacts": list(cids)}
                     for f, cids in (detail.delivered if detail is not None else ()) if cids]
        got = {c for d in delivered for c in d["artifacts"]}
        return {"out": promised, "delivered": delivered,
                "missing": [c for c in promised if c not in got],
                "unpromised": sorted(got - set(promised))}

    def conflicts(self, scope: object = None) -> list[dict[str, Any]]:
        """Every conflict set (slot claims in a scope, equivocated chain positions)
        with its leader, state and each rival's support and accepters."""
        sc = self._held(scope, "scope").cid if scope is not None else None
        obs = self.core.observer
        now = self.clock()
        rows = []
        for key in sorted(obs.conflict_keys(), key=repr):
            rivals = [r for r in obs.rivals(key, now) if r.cid in self.core.tokens]
            if sc is not None and not (key.scope == sc if isinstance(key, trust.SlotKey) else
                                       any(self.core.tokens[r.cid].scope == sc for r in rivals)):
                continue
            c = consensus_json(obs.consensus(key, now))
            c["threshold"] = round(obs.params.consensus_threshold, 4)
            c["rivals"] = [{"cid": r.cid, "issuer": self.core.tokens[r.cid].issuer,
                            "text": _str_of(self.core.tokens[r.cid].body, "text"),
                            "support": round(r.support, 4), "accepted_by": sorted(r.accepters),
                            "split": sorted(r.split)} for r in rivals]
            rows.append(c)
        return rows

    def verdicts(self, agent: object = None) -> list[dict[str, Any]]:
        obs = self.core.observer
        now = self.clock()
        if agent is not None:
            cids = obs.promises_of(self._agent(agent, "agent"))
        else:
            cids = tuple(sorted(obs.promises()))
        rows = []
        for cid in cids:
            v = verdict_json(obs.verdict(cid, now))
            tok = self.core.tokens[cid]
            body = tok.body
            v.update(issuer=tok.issuer, iat=tok.iat, scope=tok.scope, text=_str_of(body, "text"),
                     due=body.get("due") if type(body.get("due")) is int else None,
                     to=_str_of(body, "to"), slot=_str_of(body, "slot"))
            rows.append(v)
        return rows

    def trust(self, agent: object = None) -> list[dict[str, Any]]:
        obs = self.core.observer
        now = self.clock()
        if agent is not None:
            agents = [self._agent(agent, "agent")]
        else:
            agents = sorted(obs.agents())
        return [opinion_json(a, obs.trust(a, now)) for a in agents]

    def log(self, limit: object = 20) -> list[dict[str, Any]]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LOG_LIMIT_MAX:
            raise ServiceError(400, "bad-limit", f"limit must be 1..{LOG_LIMIT_MAX}")
        toks = list(self.core.tokens.values())[-limit:]
        return [token_json(t) for t in reversed(toks)]
