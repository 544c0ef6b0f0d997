"""Same tokens in any order -> bit-identical answers; the counters match a recount."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import wire
from trust import Observer, Params

from .conftest import World, feed

NOWS = (0, 99, 131, 170, 1000, 5000)


def scenario() -> tuple[World, list[wire.Token]]:
    w = World()
    ps = []
    for i, name in enumerate(("alice", "bob", "carol", "dave")):
        for j in range(3):
            ps.append(w.promise(name, 10 * i + j, due=100 + 30 * j if j else None))
    a0, a1, a2 = ps[0], ps[1], ps[2]
    w.fulfil("alice", 50, a0)
    w.fulfil("alice", 200, a1)                      # late
    w.retract("bob", 60, ps[3])
    w.fulfil("carol", 70, ps[6], deps=(a0.cid,))    # builds on Alice's promise
    for t in ps:
        w.assess("eve", 80, t, "broken")            # a bad-mouther
        w.assess("dave", 81, t, "kept")
    w.assess("olivia", 90, a2, "kept")
    w.assess("pat", 91, ps[9], "kept")
    w.assess("pat", 92, ps[9], "broken")            # Pat changes her mind (chain order wins)
    first = w.tokens[0]
    scope = first.cid
    x = w.tok("alice", "claim", 95, scope=scope, body={"slot": "k"}, deps=(ps[4].cid,))
    y = w.tok("bob", "claim", 95, scope=scope, body={"slot": "k"})
    w.tok("carol", "build", 96, deps=(x.cid,))
    w.tok("dave", "build", 97, deps=(x.cid, y.cid))
    w.tok("olivia", "build", 98, deps=(w.tokens[-2].cid,))
    # Mallory equivocates at seq 2 and someone builds on one side
    m1 = w.promise("mallory", 1)
    m2 = w.promise("mallory", 2, "yes")
    m3 = w.tok("mallory", "promise", 2, body={"text": "no"}, seq=2, prev=m1.cid)
    w.fulfil("mallory", 3, m2)
    w.tok("pat", "build", 99, deps=(m3.cid,))
    return w, list(w.tokens)


WORLD, TOKENS = scenario()


def answers(o: Observer) -> Any:
    out: list[Any] = []
    for now in NOWS:
        out.append([o.verdict(c, now) for c in sorted(o.promises())])
        out.append([(a, o.trust(a, now), o.referral(a, now)) for a in sorted(o.agents())])
        out.append([o.consensus(k, now) for k in sorted(o.conflict_keys(), key=repr)])
        out.append([o.support(t.cid, now) for t in TOKENS])
    return out


def run(tokens: list[wire.Token], params: Params | None = None) -> Observer:
    o = Observer(WORLD.id("olivia"), params)
    feed(o, tokens)
    return o


BASELINE = answers(run(TOKENS))
FORGETFUL = Params(forgetting_factor=0.9, forgetting_period_s=100)
BASELINE_FORGETFUL = answers(run(TOKENS, FORGETFUL))


@settings(max_examples=40, deadline=None)
@given(st.permutations(TOKENS))
def test_any_arrival_order_gives_identical_answers(order: list[wire.Token]) -> None:
    assert answers(run(order)) == BASELINE


@settings(max_examples=15, deadline=None)
@given(st.permutations(TOKENS))
def test_any_order_with_forgetting(order: list[wire.Token]) -> None:
    assert answers(run(order, FORGETFUL)) == BASELINE_FORGETFUL


@settings(max_examples=20, deadline=None)
@given(st.permutations(TOKENS), st.integers(0, len(TOKENS)))
def test_counters_match_a_recount_at_every_prefix(order: list[wire.Token], n: int) -> None:
    o = run(order[:n])
    for now in NOWS:
        for a in sorted(o.agents()):
            assert o.trust(a, now) == o._trust_slow(a, now)


def test_duplicates_change_nothing() -> None:
    assert answers(run(TOKENS + TOKENS[::-1])) == BASELINE
