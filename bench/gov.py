"""Benchmark of governance tallies (trust/governance/): full count vs one more ballot.

Workload (seeded, synthetic): one charter with 10,000 members, one
proposal, 10,000 ballots: 8,900 voters with one ballot, 500 who re-vote (500
superseded ballots) and 50 who equivocate (100 ballots at a forked seq).
Tokens are built as `wire.Token` values with real cids but no signatures:
this measures the governance engine, not Ed25519.

Figures (`name: value`; the headline, the incremental ratio, last):
- gov_full_outcome_s: a fresh engine observes every token and computes the
  outcome (the count from scratch);
- gov_count_cut_s: the pure `count(proposal, electorate, cut)` of the 10,000
  ballots (what any observer does to verify a tally);
- gov_one_more_ballot_s: median over 200 new voters of observe(ballot) +
  outcome (the incremental cost);
- gov_tally_plan_s: the tally this node would publish (cut, digest, parts);
- gov_judge_ms_per_tally: observing 100 members' 3-part tallies of the full
  cut (assembly, digest check; the recount is memoised per cut digest), per
  tally; gov_outcome_with_100_tallies_s: an outcome query afterwards;
- the same for a ranked (Schulze, 5 options) proposal;
- gov_incremental_ratio: one more ballot / full outcome (target <= 0.01).

Usage: python -m bench.gov
"""

from __future__ import annotations

import random
import statistics
import sys
import time

import wire
from trust import Params
from trust import governance as gov

MEMBERS = 10_000
BALLOTS = 10_000
SUPERSEDED = 500
EQUIVOCATED = 100
EXTRA_VOTERS = 200  # new ballots timed one by one for the incremental cost
CLOSES = 1_000_000
TALLIERS = 100  # members publishing a (3-part) tally of the full cut


def _cid(n: int) -> str:
    return wire.cid_of(n.to_bytes(8, "big") + b"bench.gov")


def _tok(n: int, issuer: str, kind: str, seq: int, *, prev: str | None = None,
         scope: str | None = None, about: str | None = None, deps: tuple[str, ...] = (),
         body: dict[str, object] | None = None, iat: int = 1) -> wire.Token:
    return wire.Token(cid=_cid(n), raw=b"", issuer=issuer, iat=iat, seq=seq, kind=kind,
                      prev=prev, scope=scope, deps=deps, about=about, body=body or {})


def workload(method: str, seed: int = 6) -> tuple[list[wire.Token], list[wire.Token], str]:
    """(tokens, extra ballots by fresh voters, proposal cid)."""
    rng = random.Random(seed)
    members = [f"12D3KooWmember{i:06d}" for i in range(MEMBERS)]
    options = ["o1", "o2", "o3", "o4", "o5"] if method == "ranked" else ["yes", "no", "later"]
    n = 0
    charter = _tok(n, members[0], "charter", 1,
                   body=gov.charter_body("bench", members))
    n += 1
    proposal = _tok(n, members[0], "proposal", 2, prev=charter.cid, scope=charter.cid,
                    deps=(charter.cid,),
                    body=gov.proposal_body("bench", options, method, CLOSES))
    pc = proposal.cid

    def choice() -> list[int]:
        k = len(options)
        if method == "ranked":
            return rng.sample(range(k), rng.randrange(1, k + 1))
        return [rng.randrange(k)]

    tokens = [charter, proposal]
    single = BALLOTS - 2 * SUPERSEDED - EQUIVOCATED
    voters = members[1:1 + single + SUPERSEDED + EQUIVOCATED // 2]
    extra_voters = members[len(voters) + 1:len(voters) + 1 + EXTRA_VOTERS]
    assert len(extra_voters) == EXTRA_VOTERS
    for i, v in enumerate(voters):
        n += 1
        first = _tok(n, v, "ballot", 1, scope=charter.cid, about=pc, deps=(pc,),
                     body=gov.ballot_body(choice()), iat=rng.randrange(CLOSES))
        tokens.append(first)
        if single <= i < single + SUPERSEDED:  # re-vote: supersedes the first
            n += 1
            tokens.append(_tok(n, v, "ballot", 2, prev=first.cid, scope=charter.cid,
                               about=pc, deps=(pc,), body=gov.ballot_body(choice()),
                               iat=first.iat + 1))
        elif i >= single + SUPERSEDED:  # equivocation: a second ballot at seq 1
            n += 1
            tokens.append(_tok(n, v, "ballot", 1, scope=charter.cid, about=pc, deps=(pc,),
                               body=gov.ballot_body(choice()), iat=first.iat))
    assert sum(t.kind == "ballot" for t in tokens) == BALLOTS
    rng.shuffle(tokens)  # arrival order is not causal order; the engine must not care
    extra = []
    for v in extra_voters:
        n += 1
        extra.append(_tok(n, v, "ballot", 1, scope=charter.cid, about=pc, deps=(pc,),
                          body=gov.ballot_body(choice()), iat=CLOSES - 1))
    return tokens, extra, pc


def run(method: str) -> float:
    tokens, extra, pc = workload(method)
    now = CLOSES + 60.0
    first: dict[tuple[str, int], str] = {}  # (issuer, seq) -> first cid

    def rival(t: wire.Token) -> bool:
        """As the node core judges a fork: another token at this issuer and seq came first."""
        return first.setdefault((t.issuer, t.seq), t.cid) != t.cid

    t0 = time.perf_counter()
    g = gov.Governance("12D3KooWmember000000", Params())
    for t in tokens:
        g.observe(t, rival=rival(t))
    out = g.outcome(pc, now)
    full_s = time.perf_counter() - t0
    assert out.own is not None
    assert out.own.ballots == BALLOTS - SUPERSEDED - EQUIVOCATED, out.own.ballots
    assert len(g.equivocators()) == EQUIVOCATED // 2

    p, el = g.proposal(pc), g.electorate(pc)
    assert p is not None and el is not None
    cut = set(g.cut_for(pc))
    ballots = [t for t in tokens if t.cid in cut]
    t0 = time.perf_counter()
    res = gov.count(p, el, ballots, skew_allowance_s=30.0)
    count_s = time.perf_counter() - t0
    assert res.counts == out.own.counts and res.result == out.own.result

    times = []
    for t in extra:
        t0 = time.perf_counter()
        g.observe(t, rival=rival(t))
        o = g.outcome(pc, now)
        times.append(time.perf_counter() - t0)
    assert o.own is not None and o.own.ballots == out.own.ballots + EXTRA_VOTERS
    one_s = statistics.median(times)

    t0 = time.perf_counter()
    plan = g.tally_plan(pc, now)
    plan_s = time.perf_counter() - t0
    assert plan is not None and len(plan.parts) == 3

    # tallies: TALLIERS members publish the same 3-part tally of the full cut
    n = 10**9
    tally_tokens = []
    for v in sorted(el)[:TALLIERS]:
        for j, part in enumerate(plan.parts):
            n += 1
            tally_tokens.append(_tok(n, v, "tally", 10 + j, scope=part.scope, about=part.about,
                                     deps=tuple(sorted(part.deps)), body=dict(part.body),
                                     iat=CLOSES + 100))
    t0 = time.perf_counter()
    for t in tally_tokens:
        g.observe(t, rival=rival(t))
    o = g.outcome(pc, now)
    tallies_s = time.perf_counter() - t0
    assert sum(i.status == "counted" for i in o.tallies) == TALLIERS, o.tallies[:1]
    t0 = time.perf_counter()
    g.outcome(pc, now)
    again_s = time.perf_counter() - t0

    tag = "" if method == "single" else f"_{method}"
    print(f"gov{tag}_judge_ms_per_tally: {tallies_s / TALLIERS * 1e3:.2f}")
    print(f"gov{tag}_outcome_with_{TALLIERS}_tallies_s: {again_s:.6f}")
    print(f"gov{tag}_full_outcome_s: {full_s:.4f}")
    print(f"gov{tag}_count_cut_s: {count_s:.4f}")
    print(f"gov{tag}_one_more_ballot_s: {one_s:.6f}")
    print(f"gov{tag}_tally_plan_s: {plan_s:.4f}")
    ratio = one_s / full_s
    if tag:
        print(f"gov{tag}_incremental_ratio: {ratio:.5f}")
    return ratio


def main() -> None:
    print(f"workload: {MEMBERS} members, {BALLOTS} ballots ({SUPERSEDED} superseded, "
          f"{EQUIVOCATED} equivocated), +{EXTRA_VOTERS} timed one by one")
    run("ranked")
    ratio = run("single")
    print(f"gov_incremental_ratio: {ratio:.5f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
