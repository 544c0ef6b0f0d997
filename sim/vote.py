"""The `[vote]` scenario section: a community vote played by simulated agents.

Theory of operation (docs/sim.md, "Votes"). `VotePlay` is the script and the
record of one vote; the world calls it from its agent actions and samples.

- The proposer (the first node of an honest member group) issues a charter
  whose founding members are every node of the `vote.members` groups, then
  `vote.proposals` proposals under its current view, closing `closes_after_s`
  later on its clock. The charter's rules are written here (QUORUM, THRESHOLD,
  PASS_SHARE), so the simulator knows them without asking trust/.
- Members vote at seeded times in the voting window; some change their mind
  (a second on-time ballot with another choice), some also vote after
  closes + skew allowance (late: kept, never counted). Ballot stuffers
  (non-member groups) vote for the last option. Equivocating voters (member
  groups of behaviour `equivocator`) sign a ballot, lose it by a lost write
  (`Agents.lost_write`, the existing mechanism), restart and sign another
  ballot at the same seq: both must be void.
- Every ballot that became durable is recorded with what it was meant to be
  (`BallotRecord.what`). The ground truth of a proposal is computed from that
  record alone: per member that did not equivocate, the on-time ballot (iat <=
  closes + skew allowance) highest in its chain; counted with the charter's
  rules by a plain count (single, approval) or a plain Schulze (ranked). It
  never calls trust.governance.
- At every sample each honest observer's `core.governance.outcome(p, local
  now)` is asked until it is `decided` (time to decided); at the end the
  final outcomes are compared with the truth and with each other, and every
  stuffed, equivocated or late ballot is looked for in each observer's cut.

Randomness: one stream per node (`vote/i`), drawn only by this module, so a
scenario without [vote] draws nothing and runs exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trust
from trust.governance import ballot_body, charter_body, proposal_body

from .events import A_BALLOT, A_CHARTER, A_PROPOSAL, Act
from .loop import Loop
from .metrics import percentile
from .rng import Random, stream
from .simnode import SimNode

if TYPE_CHECKING:
    from node.core import Core

    from .agents import Agents
    from .scenario import VoteConfig

__all__ = ["VotePlay", "BallotRecord", "truth_count", "QUORUM", "THRESHOLD", "PASS_SHARE",
           "FIRST", "REVOTE", "LATE", "STUFFED", "EQUIVOCATED"]

# The charter's rules (written into the charter body by the proposer).
QUORUM = (1, 2)
THRESHOLD = (2, 3)
PASS_SHARE = (0, 1)
# Cores in the world run with the default trust parameters.
SKEW_S = trust.Params().skew_allowance_s
# A voter that does not hold the proposal yet tries again this much later.
RETRY_S = 1.0

# What a ballot was meant to be.
FIRST, REVOTE, LATE, STUFFED, EQUIVOCATED = "first", "revote", "late", "stuffed", "equivocated"


@dataclass(frozen=True, slots=True, kw_only=True)
class BallotRecord:
    cid: str
    voter: int  # node index
    proposal: int  # index of the proposal (0-based)
    seq: int
    iat: int
    choice: tuple[int, ...]  # option indexes
    what: str


def _schulze_winner(d: list[list[int]]) -> int:
    """Schulze's winner (first potential winner in option order), written plainly."""
    k = len(d)
    p = [[d[i][j] if i != j and d[i][j] > d[j][i] else 0 for j in range(k)] for i in range(k)]
    for m in range(k):
        for i in range(k):
            for j in range(k):
                if len({i, j, m}) == 3:
                    p[i][j] = max(p[i][j], min(p[i][m], p[m][j]))
    return next(i for i in range(k) if all(p[i][j] >= p[j][i] for j in range(k) if j != i))


def truth_count(method: str, options: int, electorate: int,
                choices: list[tuple[int, ...]]) -> tuple[bool, int | None, tuple[int, ...]]:
    """(quorum met, winner index or None, counts) of the counted choices, by the charter's
    rules: counts per option (single, approval) or the pairwise matrix (ranked)."""
    qn, qd = QUORUM
    quorum = len(choices) * qd >= qn * electorate
    if method == "ranked":
        d = [[0] * options for _ in range(options)]
        for c in choices:
            order = list(c) + [j for j in range(options) if j not in c]
            for a, i in enumerate(order[:len(c)]):
                for j in order[a + 1:]:
                    d[i][j] += 1
        flat = tuple(x for row in d for x in row)
        return quorum, (_schulze_winner(d) if choices else None), flat
    votes = [0] * options
    for c in choices:
        for i in c:
            votes[i] += 1
    if not choices:
        return quorum, None, tuple(votes)
    top = max(votes)
    pn, pd = PASS_SHARE
    if top * pd <= pn * len(choices):
        return quorum, None, tuple(votes)
    return quorum, votes.index(top), tuple(votes)


class VotePlay:
    """The vote of one run: its script (agent actions) and its record (ground truth)."""

    def __init__(self, cfg: VoteConfig, *, name: str, seed: int, nodes: list[SimNode],
                 loop: Loop, agents: Agents) -> None:
        self.cfg = cfg
        self.name = name  # the scenario's (the charter is named after it)
        self.seed = seed
        self.nodes = nodes
        self.loop = loop
        self.agents = agents  # who issues the tokens (and loses the equivocators' writes)
        self.members = [n.index for n in nodes if n.group in cfg.members]
        self.member_set = frozenset(self.members)
        self.equivocators = frozenset(i for i in self.members
                                      if nodes[i].behaviour.name == "equivocator")
        self.stuffers = [n.index for n in nodes if n.group in cfg.stuffers]
        self.proposer = next(i for i in self.members if nodes[i].behaviour.name == "honest")
        stuffer_set = frozenset(self.stuffers)
        self.observers = [n.index for n in nodes
                          if n.behaviour.label == "honest" and n.index not in stuffer_set]
        self.scope: str | None = None
        self.proposals: list[str] = []
        self.closes: list[int] = []  # epoch seconds on the proposer's clock
        self.close_t: list[float] = []  # virtual time of closing (proposer's clock)
        self.ballots: list[BallotRecord] = []
        self._last: dict[tuple[int, int], tuple[int, ...]] = {}  # (voter, k) -> latest choice
        self.decided_at: dict[tuple[int, int], float] = {}  # (observer, k) -> sample time
        self._rngs: dict[int, Random] = {}

    # -- the script --------------------------------------------------------------
    def _rng(self, i: int) -> Random:
        r = self._rngs.get(i)
        if r is None:
            r = self._rngs[i] = stream(self.seed, "vote", i)
        return r

    def schedule(self) -> None:
        cfg, schedule = self.cfg, self.loop.schedule
        schedule(cfg.charter_at_s, Act(self.proposer, A_CHARTER))
        schedule(cfg.propose_at_s, Act(self.proposer, A_PROPOSAL))

    def act(self, node: SimNode, action: int, arg: Any, t: float) -> None:
        if not node.up or node.core is None:
            return
        if action == A_CHARTER:
            members = [self.nodes[i].agent for i in self.members]
            tok = self.agents.issue(node, t, kind="charter", body=charter_body(
                f"sim-{self.name}", members, quorum=QUORUM, threshold=THRESHOLD,
                pass_share=PASS_SHARE))
            if tok is not None:
                self.scope = tok.cid
        elif action == A_PROPOSAL:
            self._propose(node, t)
        else:
            self._ballot(node, arg[0], arg[1], t)

    def _propose(self, node: SimNode, t: float) -> None:
        core = node.core
        assert core is not None
        if self.scope is None:
            return
        cfg = self.cfg
        for k in range(cfg.proposals):
            view = core.governance.current_view(self.scope)
            if view is None:
                return
            closes = int(node.local(t) + cfg.closes_after_s)
            body = proposal_body(f"proposal {k + 1}", cfg.options, cfg.method, closes)
            tok = self.agents.issue(node, t, kind="proposal", body=body, deps=(view.cid,),
                                   scope=self.scope)
            if tok is None:
                return
            self.proposals.append(tok.cid)
            self.closes.append(closes)
            self.close_t.append(node.virtual(float(closes)))
            self._schedule_ballots(len(self.proposals) - 1, t)

    def _schedule_ballots(self, k: int, t: float) -> None:
        cfg, schedule = self.cfg, self.loop.schedule
        end = t + cfg.vote_window_s
        late_local = self.closes[k] + SKEW_S + cfg.late_after_s
        for i in self.members:
            node = self.nodes[i]
            if not node.behaviour.issues:
                continue
            rng = self._rng(i)
            if i in self.equivocators:
                at = cfg.equivocate_at_s or end - cfg.vote_window_s * rng.random()
                schedule(at, Act(i, A_BALLOT, (k, EQUIVOCATED)))
                continue
            first = end - cfg.vote_window_s * rng.random()  # in (t, end]
            schedule(first, Act(i, A_BALLOT, (k, FIRST)))
            if rng.random() < cfg.revote_prob:
                schedule(end - (end - first) * rng.random(), Act(i, A_BALLOT, (k, REVOTE)))
            if rng.random() < cfg.late_prob:
                schedule(node.virtual(late_local), Act(i, A_BALLOT, (k, LATE)))
        for i in self.stuffers:
            if self.nodes[i].behaviour.issues:
                at = end - cfg.vote_window_s * self._rng(i).random()
                schedule(at, Act(i, A_BALLOT, (k, STUFFED)))

    def _choice(self, rng: Random, what: str, last: tuple[int, ...] | None) -> tuple[int, ...]:
        cfg = self.cfg
        n = len(cfg.options)
        method = cfg.method
        if what in (STUFFED, EQUIVOCATED) or (what != FIRST and last is None):
            # the last option first (stuffers; an equivocator's second ballot)
            return (n - 1,) if method != "ranked" else (n - 1, *range(n - 1))
        if what == FIRST:
            yes = rng.random() < cfg.yes_prob
            top = 0 if yes else 1 + rng.randrange(n - 1)
            if method == "single":
                return (top,)
            if method == "approval":
                return tuple(i for i in range(n)
                             if (yes if i == 0 else rng.random() < 1.0 - cfg.yes_prob))
            rest = [i for i in range(n) if i != top]
            rng.shuffle(rest)
            return (top, *rest)
        assert last is not None  # a change of mind: another choice than the latest
        if method == "single":
            j = rng.randrange(n - 1)
            return (j + (j >= last[0]),)
        if method == "approval":
            return tuple(i for i in range(n) if i not in last)
        return tuple(reversed(last))

    def _ballot(self, node: SimNode, k: int, what: str, t: float) -> None:
        core = node.core
        assert core is not None
        p = self.proposals[k]
        if not core.has(p):  # not here yet (a partition, a slow link): try again soon
            self.loop.schedule(t + RETRY_S, Act(node.index, A_BALLOT, (k, what)))
            return
        rng = self._rng(node.index)
        key = (node.index, k)
        if what == EQUIVOCATED:
            # Sign one ballot, lose it (lost write), restart, sign another at that seq.
            if self._cast(node, k, (0,) if self.cfg.method != "ranked" else
                          tuple(range(len(self.cfg.options))), what, t) is None:
                return
            self.agents.lost_write(node, t)
            if node.core is not None and node.core.has(p):
                self._cast(node, k, self._choice(rng, what, None), what, t)
            return
        choice = self._choice(rng, what, self._last.get(key))
        if self._cast(node, k, choice, what, t) is not None and what != LATE:
            self._last[key] = choice

    def _cast(self, node: SimNode, k: int, choice: tuple[int, ...], what: str,
              t: float) -> str | None:
        p = self.proposals[k]
        names = [self.cfg.options[i] for i in choice]
        tok = self.agents.issue(node, t, kind="ballot", body=ballot_body(names), deps=(p,),
                               about=p, scope=self.scope)
        if tok is None:
            return None
        self.ballots.append(BallotRecord(cid=tok.cid, voter=node.index, proposal=k, seq=tok.seq,
                                         iat=tok.iat, choice=choice, what=what))
        return tok.cid

    # -- ground truth ---------------------------------------------------------------
    def truth(self, k: int) -> tuple[bool, int | None, tuple[int, ...]]:
        """What counting the on-time, non-equivocating members' latest ballots gives."""
        choices = [b.choice for b in self._latest_on_time(k)]
        return truth_count(self.cfg.method, len(self.cfg.options), len(self.members), choices)

    def expected(self, k: int) -> tuple[str, str | None]:
        """The (state, result) every honest observer should end with."""
        quorum, winner, _ = self.truth(k)
        if not quorum:
            return "failed-quorum", None
        return "decided", None if winner is None else self.cfg.options[winner]

    def uncountable(self) -> list[BallotRecord]:
        """Ballots that must never be counted: stuffed, equivocated, late."""
        return [b for b in self.ballots if b.what in (STUFFED, EQUIVOCATED, LATE)]

    # -- measuring --------------------------------------------------------------------
    def _live_observers(self, t: float) -> Iterator[tuple[int, Core, float]]:
        """(index, core, local time at `t`) of each observer node that is up."""
        for i in self.observers:
            node = self.nodes[i]
            if node.up and node.core is not None:
                yield i, node.core, node.local(t)

    def sample(self, t: float) -> None:
        """First sample time at which each observer sees each proposal decided."""
        for i, core, local in self._live_observers(t):
            for k, p in enumerate(self.proposals):
                # Nothing decides before members tally (after closing): no need to ask.
                if (i, k) in self.decided_at or not core.has(p) or local <= self.closes[k]:
                    continue
                if core.governance.outcome(p, local).state == "decided":
                    self.decided_at[(i, k)] = t

    def metrics(self, t: float) -> dict[str, Any]:
        cfg = self.cfg
        by_what = {w: sum(1 for b in self.ballots if b.what == w)
                   for w in (FIRST, REVOTE, LATE, STUFFED, EQUIVOCATED)}
        m: dict[str, Any] = {
            "vote_proposals": len(self.proposals), "vote_members": len(self.members),
            "vote_observers": len(self.observers), "vote_ballots": len(self.ballots),
            "vote_ballots_first": by_what[FIRST], "vote_ballots_revote": by_what[REVOTE],
            "vote_ballots_stuffed": by_what[STUFFED],
            "vote_ballots_equivocated": by_what[EQUIVOCATED], "vote_ballots_late": by_what[LATE],
        }
        expected = [self.expected(k) for k in range(len(self.proposals))]
        truths = [self.truth(k) for k in range(len(self.proposals))]
        m["vote_truth"] = ",".join(r if r is not None else s if s != "decided" else "none"
                                   for s, r in expected)
        m["vote_counted_truth"] = sum(len(self._latest_on_time(k))
                                      for k in range(len(self.proposals)))
        bad = self.uncountable()
        finals: list[dict[tuple[str, str | None], int]] = [{} for _ in self.proposals]
        correct = decided = own_ok = asked = bad_counted = late_pairs = late_kept = 0
        for _i, core, local in self._live_observers(t):
            for k, p in enumerate(self.proposals):
                asked += 1
                o = core.governance.outcome(p, local)
                if o.state in ("decided", "failed-quorum"):
                    decided += 1
                    key = (o.state, o.result)
                    finals[k][key] = finals[k].get(key, 0) + 1
                correct += (o.state, o.result) == expected[k]
                own_ok += o.own is not None and o.own.counts == truths[k][2]
                cut = set(core.governance.cut_for(p))
                bad_counted += sum(1 for b in bad if b.proposal == k and b.cid in cut)
            for b in bad:
                if b.what == LATE:
                    late_pairs += 1
                    late_kept += core.has(b.cid)
        n_obs = asked // len(self.proposals) if self.proposals else 0
        m["vote_agreement"] = (sum(max(f.values(), default=0) for f in finals)
                               / (n_obs * len(self.proposals)) if n_obs else math.nan)
        m["vote_correct_frac"] = correct / asked if asked else math.nan
        m["vote_decided_frac"] = decided / asked if asked else math.nan
        m["vote_own_count_correct_frac"] = own_ok / asked if asked else math.nan
        m["vote_bad_counted"] = bad_counted
        m["vote_late_kept_frac"] = late_kept / late_pairs if late_pairs else math.nan
        after = sorted(at - self.close_t[k] for (_, k), at in self.decided_at.items())
        m["vote_decided_p50_s"] = percentile(after, 50)
        m["vote_decided_p90_s"] = percentile(after, 90)
        m["vote_decided_max_s"] = after[-1] if after else math.nan
        m["vote_method"] = cfg.method
        return m

    def _latest_on_time(self, k: int) -> list[BallotRecord]:
        latest: dict[int, BallotRecord] = {}
        for b in self.ballots:
            if (b.proposal == k and b.voter in self.member_set and b.voter not in self.equivocators
                    and b.iat <= self.closes[k] + SKEW_S
                    and (b.voter not in latest or b.seq > latest[b.voter].seq)):
                latest[b.voter] = b
        return [latest[v] for v in sorted(latest)]
