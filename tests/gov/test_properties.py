"""Properties: a tally from a given cut is independent of arrival order.

A fixed pool of signed tokens (charter, a single-choice and a ranked proposal,
ballots by members and non-members, re-votes, late ballots, an equivocation)
is made once; hypothesis picks cuts and permutations of it.
"""

from __future__ import annotations

import random
from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

import wire
from trust import Params
from trust import governance as gov

from .conftest import Town, feed

VOTERS = tuple(f"m{i}" for i in range(6)) + ("x1", "x2")  # x*: not members


@lru_cache(maxsize=1)
def pool() -> tuple[Town, wire.Token, wire.Token, wire.Token]:
    rng = random.Random(2024)
    town = Town()
    c = town.charter("m0", [v for v in VOTERS if v.startswith("m")])
    single = town.propose("m0", c, options=("a", "b", "c"))
    ranked = town.propose("m1", c, options=("a", "b", "c", "d"), method="ranked")
    for round_ in range(3):
        for v in VOTERS:
            for p in (single, ranked):
                if rng.random() < 0.7:
                    k = len(p.body["options"])
                    if p is single:
                        choice: list[int] = [rng.randrange(k)]
                    else:
                        choice = rng.sample(range(k), rng.randrange(1, k + 1))
                    iat = rng.choice((100, 500, 1020, 1040)) + round_
                    town.vote(v, p, choice, iat=iat)
    # m5 equivocates on the single proposal
    last = next(t for t in reversed(town.tokens) if t.issuer == town.id("m5"))
    town.fork("m5", "ballot", 900, last, scope=c.cid, about=single.cid, deps=(single.cid,),
              body=gov.ballot_body([0]))
    return town, c, single, ranked


def engine(tokens: list[wire.Token]) -> gov.Governance:
    g = gov.Governance("observer", Params(skew_allowance_s=30))
    for t in tokens:
        feed(g, t)
    return g


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_count_of_a_cut_does_not_depend_on_its_order(data: st.DataObject) -> None:
    town, _, single, ranked = pool()
    p_tok = data.draw(st.sampled_from((single, ranked)))
    ballots = [t for t in town.tokens if t.kind == "ballot" and t.about == p_tok.cid]
    cut = data.draw(st.lists(st.sampled_from(ballots), unique=True))
    perm = data.draw(st.permutations(cut))
    g = engine(town.tokens)
    p, el = g.proposal(p_tok.cid), g.electorate(p_tok.cid)
    assert p is not None and el is not None
    a = gov.count(p, el, cut, skew_allowance_s=30)
    b = gov.count(p, el, perm, skew_allowance_s=30)
    assert a == b
    assert set(a.cut) <= {t.cid for t in cut}
    assert a.digest == gov.cut_digest(a.cut)


@settings(max_examples=40, deadline=None)
@given(order=st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_same_cut_and_count(order: random.Random) -> None:
    town, _, single, ranked = pool()
    ref = engine(town.tokens)
    toks = list(town.tokens)
    order.shuffle(toks)
    g = engine(toks)
    for p in (single, ranked):
        assert g.cut_for(p.cid) == ref.cut_for(p.cid)
        mine = g.count_now(p.cid)
        assert mine == ref.count_now(p.cid)
        # the incremental counters agree with a recount of their own cut
        assert g.recount(p.cid, g.cut_for(p.cid)) == mine
        assert mine is not None and m5_is_void(town, g, single)


def m5_is_void(town: Town, g: gov.Governance, single: wire.Token) -> bool:
    cut = set(g.cut_for(single.cid))
    return not any(t.issuer == town.id("m5") and t.cid in cut for t in town.tokens)
