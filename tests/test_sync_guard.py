"""node/net/guard.py: the per-peer budget and the ban list, in scripted time.

The hostile sequences themselves run on real hosts in tests/test_sync_hostile.py;
here the arithmetic those tests rely on is pinned exactly.
"""

from __future__ import annotations

import pytest

from node.net.guard import BANS_MAX, Admission, BanList, PeerBudget, SyncLimits, frame_cost
from wire import Hello, Tokens, encode_frame
from wire.frames import is_tokens_frame

LIMITS = SyncLimits(budget_rate_units_per_s=10.0, budget_burst_units=20.0,
                    refused_max_units=5, backlog_max_bytes=1000)


def test_frame_cost_is_one_per_frame_and_one_per_kib() -> None:
    assert frame_cost(b"") == 1
    assert frame_cost(bytes(1023)) == 1
    assert frame_cost(bytes(1024)) == 2
    assert frame_cost(bytes(1024 * 1024)) == 1025


def test_only_tokens_frames_pass_unmetered() -> None:
    assert is_tokens_frame(encode_frame(Tokens(tokens=(b"\xd2" + bytes(40),))))
    assert not is_tokens_frame(encode_frame(Hello(digest=bytes(32), agents=1)))
    assert not is_tokens_frame(b"")
    assert not is_tokens_frame(b"\x82")


def test_budget_throttles_then_refills_then_exceeds() -> None:
    budget = PeerBudget(LIMITS, now=0.0)
    # the burst: 20 units, the last frame admitted on credit
    assert [budget.admit(7, 0, 0.0) for _ in range(3)] == [Admission.ADMITTED] * 3
    assert budget.units == -1
    # empty: refused, and the refused units are a debt
    assert budget.admit(2, 0, 0.0) is Admission.THROTTLED
    assert budget.refused_units == 2
    # 0.3 s later: 3 units refilled, the debt paid back as much
    assert budget.admit(1, 0, 0.3) is Admission.ADMITTED
    assert (budget.units, budget.refused_units) == pytest.approx((1.0, 0.0))
    # our answers still queued: refused even with units left
    assert budget.admit(1, 1000, 0.3) is Admission.BACKLOGGED
    # what we send it is charged too
    budget.charge(50, 0.3)
    assert budget.units == pytest.approx(-49.0)
    # sending on while throttled: the debt passes refused_max_units
    verdicts = [budget.admit(1, 0, 0.3) for _ in range(6)]
    assert verdicts == [Admission.THROTTLED] * 4 + [Admission.EXCEEDED] * 2
    # the refill never exceeds the burst
    budget.refill(1000.0)
    assert (budget.units, budget.refused_units) == (20.0, 0.0)


def test_a_peer_at_the_rate_is_never_refused() -> None:
    budget = PeerBudget(LIMITS, now=0.0)
    now = 0.0
    for _ in range(10_000):  # 10 units/s, for 1,000 s
        now += 0.1
        assert budget.admit(1, 0, now) is Admission.ADMITTED
    assert budget.units == pytest.approx(20.0 - 1.0)


def test_bans_expire_and_are_bounded() -> None:
    bans = BanList()
    bans.ban("a", until=10.0)
    assert bans.banned("a", 9.9) and not bans.banned("b", 9.9)
    bans.ban("a", until=5.0)  # a shorter ban never shortens a longer one
    assert bans.banned("a", 9.9)
    assert not bans.banned("a", 10.0) and bans.count(10.0) == 0
    for i in range(BANS_MAX + 10):
        bans.ban(f"p{i}", until=100.0 + i)
    assert bans.count(0.0) == BANS_MAX
    assert not bans.banned("p0", 0.0)  # the ban ending first went first
    assert bans.banned(f"p{BANS_MAX + 9}", 0.0)


@pytest.mark.parametrize("field", ["budget_rate_units_per_s", "write_timeout_s", "ban_s"])
def test_limits_refuse_nonsense(field: str) -> None:
    with pytest.raises(ValueError):
        SyncLimits(**{field: 0})
    with pytest.raises(ValueError):
        SyncLimits(streams_per_peer_max=0)
