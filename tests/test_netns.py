"""Real `troth run` processes on a network of Linux namespaces (tests/netns.py).

(2) Five hosts on one network, all bootstrapped from h0: after they found
each other (peer exchange), h0 stops for good; the other four still exchange
tokens, and one of them, stopped and restarted with only its peer book
(its bootstrap peer is gone), reconnects and catches up by sync.

(3) A member that moves (stopped, restarted at a new IP, no bootstrap flag)
is found again: the others reach it directly at its new address.

Each node listens on the wildcard `/ip4/0.0.0.0/tcp/4001`: what it writes in
node.json and shows in `troth id` is its interface addresses, never 0.0.0.0.
Skipped, with the reason, where network namespaces cannot be made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import wait_for
from tests.netns import SUBNET, Lab, Node, lab_or_skip

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(why := lab_or_skip()), reason=str(why))]

LISTEN = ("--listen", "/ip4/0.0.0.0/tcp/4001")


@pytest.fixture
def lab() -> Iterator[Lab]:
    made = Lab()
    try:
        yield made
    finally:
        made.close()


def dial_addr(info: dict[str, object], ip: str) -> str:
    (addr,) = [a for a in info["listen"] if f"/ip4/{ip}/" in a]  # type: ignore[attr-defined]
    return str(addr)


def test_five_hosts_keep_going_after_the_bootstrap_host_stops(lab: Lab, tmp_path: Path) -> None:
    ips = [lab.add_host(f"h{i}", 10 + i) for i in range(5)]
    nodes = [Node(lab, f"h{i}", tmp_path / f"h{i}") for i in range(5)]
    hub = f"/ip4/{ips[0]}/tcp/4001/p2p/{nodes[0].agent_id}"
    nodes[0].launch(*LISTEN)
    for n in nodes[1:]:  # all at once: until h0 is up, they redial it
        n.launch(*LISTEN, "--bootstrap", hub)
    hub_info = nodes[0].started()
    assert dial_addr(hub_info, ips[0]) == hub
    assert not [a for a in hub_info["listen"] if "/0.0.0.0/" in a or "/tcp/0/" in a], hub_info
    for n in nodes[1:]:
        n.started()
    members = nodes[1:]
    ids = {n.agent_id for n in members}
    for n in members:
        wait_for(lambda n=n: ids - {n.agent_id} <= n.connected(),
                 f"{n.host} to find the other members through h0")

    nodes[0].stop()
    cid = members[0].promise("said after the hub left")
    for n in members[1:]:
        wait_for(lambda n=n: n.holds(cid), f"{n.host} to hear of it without h0")

    # h4 stops; the others go on; h4 comes back with h0 still gone: only its
    # peer book can bring it back, and sync the tokens it missed.
    away = members[3]
    away.stop()
    missed = [members[k % 3].promise(f"missed {k}") for k in range(6)]
    away.start(*LISTEN, "--bootstrap", hub)
    wait_for(lambda: all(away.holds(c) for c in missed), "h4 to catch up by sync")
    # h0's address is retried from the book (with backoff) and fails: gone.
    wait_for(lambda: {r["peer"]: r for r in away.get("/v1/peers")}[nodes[0].agent_id]
             ["addrs"][0]["outcome"] == "failed", "h4 to try h0 again and fail")
    rows = {r["peer"]: r for r in away.get("/v1/peers")}
    assert rows[nodes[0].agent_id]["reached"] == "not connected"
    for n in members[:3]:
        row = rows[n.agent_id]
        assert row["reached"] == "direct" and row["remote_addr"].startswith(f"/ip4/{SUBNET}.")


def test_a_member_that_moves_is_found_again(lab: Lab, tmp_path: Path) -> None:
    ips = {name: lab.add_host(name, octet) for name, octet in (("a", 21), ("b", 22), ("m", 23))}
    a, b, m = (Node(lab, name, tmp_path / name) for name in "abm")
    hub = f"/ip4/{ips['a']}/tcp/4001/p2p/{a.agent_id}"
    a.launch(*LISTEN)
    b.launch(*LISTEN, "--bootstrap", hub)
    m.launch(*LISTEN, "--bootstrap", hub)
    assert dial_addr(a.started(), ips["a"]) == hub
    b.started()
    m_info = m.started()
    assert dial_addr(m_info, ips["m"])
    for n in (a, b):
        wait_for(lambda n=n: m.agent_id in n.connected(), f"{n.host} to meet m")

    m.stop()
    moved = lab.set_address("m", 99)
    m_info = m.start(*LISTEN)  # no bootstrap flag: m has its peer book
    assert dial_addr(m_info, moved) == f"/ip4/{moved}/tcp/4001/p2p/{m.agent_id}"
    assert not [x for x in m_info["listen"] if ips["m"] in x]
    for n in (a, b):
        wait_for(lambda n=n: m.agent_id in n.connected(), f"{n.host} to find m again")
        row = {r["peer"]: r for r in n.get("/v1/peers")}[m.agent_id]
        assert row["reached"] == "direct"
        assert row["remote_addr"].startswith(f"/ip4/{moved}/"), row
        wait_for(lambda n=n: any(f"/ip4/{moved}/tcp/4001" == x["addr"] for x in
                                 {r["peer"]: r for r in n.get("/v1/peers")}[m.agent_id]["addrs"]),
                 f"{n.host} to book m's new address")
    cid = m.promise("from my new address")
    for n in (a, b):
        wait_for(lambda n=n: n.holds(cid), f"{n.host} to hear from m at its new address")
    # What a user sees: `troth id` lists the new interface address and loopback only.
    ident = json.loads(m.cli("--json", "id"))
    assert {x.split("/")[2] for x in ident["listen"]} == {moved, "127.0.0.1"}
    assert m.agent_id in a.cli("peers")
