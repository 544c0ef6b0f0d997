"""False fulfillers against the ground truth, and competing claims on slots.

The small `false-fulfil` and `slots` scenarios (tests/sim/conftest.py) at
seed 1: docs/sim.md ("Ground truth and false fulfillers", "Slots") gives the
full-size figures.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from sim import run_one
from sim.world import World
from trust import NETWORK_SCOPE, SlotKey

from .conftest import small


def _run(name: str) -> tuple[World, dict[str, Any]]:
    kept: list[World] = []
    out = run_one(small(name), 1, keep_world=kept)
    assert out.result.violation is None
    return kept[0], out.metrics


@pytest.fixture(scope="module")
def false_fulfil() -> tuple[World, dict[str, Any]]:
    return _run("false-fulfil")


def test_false_fulfillers_claim_what_they_did_not_keep(
        false_fulfil: tuple[World, dict[str, Any]]) -> None:
    w = false_fulfil[0]
    fulfilled: dict[str, str] = {}  # promise -> the behaviour of whoever fulfilled it
    by_cid = {}
    for n in w.nodes:
        assert n.core is not None
        by_cid.update(n.core.tokens)
    for tok in by_cid.values():
        if tok.kind == "fulfil" and tok.about is not None:
            fulfilled[tok.about] = w.nodes[w.by_agent[tok.issuer]].behaviour.name
    false_claims = [c for c, b in fulfilled.items() if not w.record.truth[c]]
    assert false_claims
    # Honest agents fulfil only what they kept; every false claim is a false fulfiller's.
    assert {fulfilled[c] for c in false_claims} == {"false_fulfiller"}
    # The truth is the behaviour's, apart from any token: some kept promises
    # of false fulfillers are kept, most are not.
    ff = [c for c, b in fulfilled.items() if b == "false_fulfiller"]
    kept = sum(w.record.truth[c] for c in ff) / len(ff)
    assert 0.05 < kept < 0.5


def test_promisees_assess_about_half_their_promises(
        false_fulfil: tuple[World, dict[str, Any]]) -> None:
    w = false_fulfil[0]
    node = next(n for n in w.nodes if n.core is not None)
    assert node.core is not None
    toks = node.core.tokens
    promises = {c: t for c, t in toks.items() if t.kind == "promise" and c in w.record.truth}
    assert all(t.body["to"] != t.issuer and t.body["to"] in w.by_agent
               for t in promises.values())
    by_promisee = {(t.about, t.issuer) for t in toks.values() if t.kind == "assess"}
    due = [c for c, t in promises.items() if w.record.issue_t[c] < 200.0 - 60.0]
    assessed = sum(1 for c in due if (c, promises[c].body["to"]) in by_promisee)
    assert 0.35 < assessed / len(due) < 0.65


def test_trust_exposes_false_fulfillers_and_verdicts_match_the_truth(
        false_fulfil: tuple[World, dict[str, Any]]) -> None:
    # AUC >= 0.9 with promisees assessing half their promises; verdict
    # accuracy >= 0.95 (the mean over honest observers).
    m = false_fulfil[1]
    assert m["false_fulfiller_auc"] >= 0.9, m["false_fulfiller_auc"]
    assert m["verdict_accuracy_mean"] >= 0.95, m["verdict_accuracy_mean"]
    assert m["verdict_accuracy_min"] <= m["verdict_accuracy_mean"]
    # Every observer, not only the average one, judges nearly all of them right.
    assert m["verdict_accuracy_min"] >= 0.9, m["verdict_accuracy_min"]


@pytest.fixture(scope="module")
def slots() -> tuple[World, dict[str, Any]]:
    return _run("slots")


def test_honest_agents_build_on_one_claim_per_slot(slots: tuple[World, dict[str, Any]]) -> None:
    w = slots[0]
    assert w.slots is not None
    claims = w.slots.claims
    assert any(len(c) > 1 for c in claims.values())  # the partition made rivals
    node = next(n for n in w.nodes if n.observes)
    assert node.core is not None
    obs = node.core.observer
    for slot, members in claims.items():
        # Claims carry no scope: one network-wide conflict set per slot.
        rivals = obs.rivals(SlotKey(NETWORK_SCOPE, slot), node.local(w.now))
        assert sorted(r.cid for r in rivals) == sorted(members)
        seen: set[str] = set()
        for cid in members:
            acc = obs.accepters(cid)
            assert not (acc & seen), f"an honest agent built on two claims of {slot}"
            seen |= acc


def test_honest_nodes_agree_on_every_settled_slot_after_the_heal(
        slots: tuple[World, dict[str, Any]]) -> None:
    m = slots[1]
    assert m["last_heal_s"] < m["virtual_s"]
    assert m["slot_rivalled"] >= 1
    assert m["slot_agreement"] == 1.0 and m["slot_agreement_min"] == 1.0
    assert 0 < m["slot_settle_p50_s"] < 10
    assert not math.isnan(m["slot_leader_agreement"])
    # Settled or contested, a majority of observers name the same leader of
    # every slot, and most readings at the end are settled.
    assert 0.5 < m["slot_leader_agreement_min"] <= m["slot_leader_agreement"] <= 1.0
    assert m["slot_leader_agreement"] >= 0.9, m["slot_leader_agreement"]
    assert m["slot_settled_frac"] >= 0.8, m["slot_settled_frac"]
    assert m["slot_sets"] >= 5 and m["slot_rivalled"] <= m["slot_sets"]
