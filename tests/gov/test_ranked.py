"""Ranked choice (Schulze) against published worked examples.

1. Wikipedia, "Schulze method", section "Example" (45 voters, candidates A-E),
   taken from M. Schulze, "A new monotonic, clone-independent, reversal
   symmetric, and Condorcet-consistent single-winner election method", Social
   Choice and Welfare 36 (2011) 267-303, and also on
   https://en.wikipedia.org/wiki/User:MarkusSchulze/Schulze_method_examples
   (Example 1): d and p matrices as printed there; winner E, order E>A>C>B>D.
2. Wikipedia's Tennessee capital example (articles "Condorcet method",
   "Schulze method"): 42% Memphis, 26% Nashville, 15% Chattanooga,
   17% Knoxville; Nashville is the Condorcet, hence Schulze, winner.
"""

from __future__ import annotations

from collections.abc import Sequence

import wire
from trust import governance as gov
from trust.governance import counting

from .conftest import Town, observer

WIKI_BALLOTS = (
    (5, "ACBED"), (5, "ADECB"), (8, "BEDAC"), (3, "CABED"),
    (7, "CAEBD"), (2, "CBADE"), (7, "DCEBA"), (8, "EBADC"),
)
WIKI_D = (
    (0, 20, 26, 30, 22),
    (25, 0, 16, 33, 18),
    (19, 29, 0, 17, 24),
    (15, 12, 28, 0, 14),
    (23, 27, 21, 31, 0),
)
WIKI_P = (
    (0, 28, 28, 30, 24),
    (25, 0, 28, 33, 24),
    (25, 29, 0, 29, 24),
    (25, 28, 28, 0, 24),
    (25, 28, 28, 31, 0),
)

TENNESSEE = ("Memphis", "Nashville", "Chattanooga", "Knoxville")
TENNESSEE_BALLOTS = (
    (42, ("Memphis", "Nashville", "Chattanooga", "Knoxville")),
    (26, ("Nashville", "Chattanooga", "Knoxville", "Memphis")),
    (15, ("Chattanooga", "Knoxville", "Nashville", "Memphis")),
    (17, ("Knoxville", "Chattanooga", "Nashville", "Memphis")),
)


def _pairwise(options: Sequence[str], groups: Sequence[tuple[int, Sequence[str]]]
              ) -> list[list[int]]:
    c = counting.Counter(len(options), "ranked")
    for n, order in groups:
        for _ in range(n):
            c.add(tuple(options.index(x) for x in order), +1)
    return c.pairwise


def _order(p: Sequence[Sequence[int]]) -> list[int]:
    """Schulze ranking: i before j when p[i][j] > p[j][i] (a strict order here)."""
    k = len(p)
    return sorted(range(k), key=lambda i: -sum(p[i][j] > p[j][i] for j in range(k)))


def test_wikipedia_45_voter_example_matrices_winner_and_order() -> None:
    options = "ABCDE"
    d = _pairwise(options, WIKI_BALLOTS)
    assert tuple(map(tuple, d)) == WIKI_D
    p, winners = gov.schulze(d)
    assert tuple(map(tuple, p)) == WIKI_P
    assert [options[i] for i in winners] == ["E"]
    assert "".join(options[i] for i in _order(p)) == "EACBD"


def test_tennessee_capital_nashville_wins() -> None:
    d = _pairwise(TENNESSEE, TENNESSEE_BALLOTS)
    assert d[1][0] == 58 and d[1][2] == 68 and d[1][3] == 68  # Nashville beats every rival
    _, winners = gov.schulze(d)
    assert [TENNESSEE[i] for i in winners] == ["Nashville"]


def test_tennessee_through_signed_ballots_and_the_engine(town: Town) -> None:
    voters = [f"v{i}" for i in range(100)]
    c = town.charter("v0", voters)
    p = town.propose("v0", c, options=TENNESSEE, method="ranked")
    i = 0
    for n, order in TENNESSEE_BALLOTS:
        for _ in range(n):
            town.vote(voters[i], p, list(order))
            i += 1
    g = observer(town, "v0")
    res = g.count_now(p.cid)
    assert res is not None and res.result == "Nashville" and res.tied == ()
    assert res.counts == tuple(x for row in _pairwise(TENNESSEE, TENNESSEE_BALLOTS)
                               for x in row)
    ballots = [t for t in town.tokens if t.kind == "ballot"]
    el = g.electorate(p.cid)
    prop = g.proposal(p.cid)
    assert el is not None and prop is not None
    assert gov.count(prop, el, reversed(ballots), skew_allowance_s=30) == res


def test_partial_rankings_put_unranked_options_last_and_ties_go_to_option_order() -> None:
    c = counting.Counter(3, "ranked")
    c.add((2,), +1)  # z over x and y; x and y tied
    assert c.pairwise == [[0, 0, 0], [0, 0, 0], [1, 1, 0]]
    c.add((0, 1, 2), +1)
    c.add((1, 0, 2), +1)
    rules = gov.Rules()
    quorum_met, winner, tied = c.decide(rules, 3)
    # x and y beat z 2:1 each and tie 1:1 with each other: both potential winners
    assert quorum_met and winner == 0 and tied == (0, 1)
    c.add((0, 1, 2), -1)  # removing a ballot restores the counts exactly
    assert c.pairwise == [[0, 0, 1], [1, 0, 1], [1, 1, 0]]


def test_a_ranked_ballot_with_repeats_or_unknown_options_is_spoiled(town: Town) -> None:
    c = town.charter("alice", ("alice", "bob"))
    p = town.propose("alice", c, options=("x", "y"), method="ranked")
    town.vote("alice", p, ["x", "x"])
    town.vote("bob", p, ["w"])
    g = observer(town, "alice")
    assert g.cut_for(p.cid) == ()
    assert {b.state for b in g.explain(p.cid, town.id("bob"), 10).ballots} == {"spoiled"}
    assert isinstance(p, wire.Token)
