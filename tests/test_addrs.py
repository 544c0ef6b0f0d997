"""What a node advertises (node/net/addrs.py), and `troth run` with several
listen addresses and an announced one, checked through `troth id` by dialling
what it lists (loopback only, no root)."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import multiaddr
import pytest
import trio

from node.net.addrs import (
    ADVERTISED_MAX,
    INTERFACES_TTL_S,
    Advertiser,
    expand_wildcard,
    interface_ips,
    is_dialable,
)
from node.net.p2p import InvalidAddress, P2PNode
from node.store.home import Home

ROOT = Path(__file__).resolve().parent.parent
M = multiaddr.Multiaddr
IPS = [ipaddress.ip_address(x) for x in ("127.0.0.1", "192.168.1.20", "93.184.216.34", "::1",
                                         "2a00:1450::5", "fd00::7")]


def advertised(candidates: list[str], announce: tuple[str, ...] = ()) -> list[str]:
    adv = Advertiser([M(a) for a in announce], read_interfaces=lambda: IPS)
    return [str(a) for a in adv([M(c) for c in candidates])]


def test_a_wildcard_becomes_every_interface_address_of_its_family_best_first() -> None:
    assert advertised(["/ip4/0.0.0.0/tcp/4001"]) == [
        "/ip4/93.184.216.34/tcp/4001", "/ip4/192.168.1.20/tcp/4001", "/ip4/127.0.0.1/tcp/4001"]
    assert advertised(["/ip6/::/tcp/4002"]) == [
        "/ip6/2a00:1450::5/tcp/4002", "/ip6/fd00::7/tcp/4002", "/ip6/::1/tcp/4002"]


def test_announced_addresses_come_first_and_nothing_undialable_is_listed() -> None:
    out = advertised(["/ip4/0.0.0.0/tcp/4001", "/ip4/10.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/4001"],
                     announce=("/dns4/hub.example.org/tcp/4001",))
    assert out[0] == "/dns4/hub.example.org/tcp/4001"
    assert "/ip4/127.0.0.1/tcp/4001" in out and out.count("/ip4/127.0.0.1/tcp/4001") == 1
    assert all(is_dialable(M(a)) for a in out)
    assert not [a for a in out if "/0.0.0.0/" in a or a.endswith("/tcp/0")]


def test_the_list_is_bounded_and_interfaces_are_reread_after_their_ttl() -> None:
    many = [ipaddress.ip_address(f"10.0.{i}.1") for i in range(40)]
    reads = []
    now = [0.0]

    def read() -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        reads.append(now[0])
        return list(many)

    adv = Advertiser(read_interfaces=read, clock=lambda: now[0])
    assert len(adv([M("/ip4/0.0.0.0/tcp/1")])) == ADVERTISED_MAX
    adv([M("/ip4/0.0.0.0/tcp/1")])
    now[0] = 60.0
    adv([M("/ip4/0.0.0.0/tcp/1")])
    assert reads == [0.0, 60.0]


def test_a_kept_answer_follows_new_interfaces_and_new_bound_addresses() -> None:
    ips = [ipaddress.ip_address("10.0.0.1")]
    now = [0.0]
    adv = Advertiser(read_interfaces=lambda: list(ips), clock=lambda: now[0])
    wild = [M("/ip4/0.0.0.0/tcp/1")]
    assert adv(wild) == [M("/ip4/10.0.0.1/tcp/1")]
    ips[:] = [ipaddress.ip_address("10.0.0.2")]  # the laptop moved
    assert adv(wild) == [M("/ip4/10.0.0.1/tcp/1")]  # within the TTL: the kept answer
    now[0] = INTERFACES_TTL_S
    assert adv(wild) == [M("/ip4/10.0.0.2/tcp/1")]
    assert adv([M("/ip4/127.0.0.1/tcp/2")]) == [M("/ip4/127.0.0.1/tcp/2")]
    assert adv(wild) == [M("/ip4/10.0.0.2/tcp/1")]


def test_this_hosts_interfaces_are_read_with_psutil() -> None:
    ips = interface_ips()
    assert ipaddress.ip_address("127.0.0.1") in ips
    assert not [ip for ip in ips if ip.is_link_local or ip.is_unspecified]
    assert expand_wildcard(M("/ip4/127.0.0.1/tcp/5"), ips) == [M("/ip4/127.0.0.1/tcp/5")]


@pytest.mark.parametrize("bad", [
    {"listen": "/ip4/127.0.0.1/udp/0/quic-v1"},
    {"listen": ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0"]},
    {"listen": [f"/ip4/127.0.0.1/tcp/{4000 + i}" for i in range(9)]},
    {"announce": ["/ip4/0.0.0.0/tcp/4001"]},
    {"announce": ["/ip4/203.0.113.7/tcp/0"]},
    {"announce": ["/ip4/203.0.113.7/tcp/4001/p2p/"
                  "12D3KooWRTpKxWSET4snznTn6KZ9kiWGUQA8Pt5wbyWoPQh2WrQX"]},
])
async def test_addresses_the_node_cannot_honour_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidAddress):
        async with P2PNode.start(b"\x01" * 32, **bad):  # type: ignore[arg-type]
            pass


def _troth(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "node", "--home", str(home), *args]


@pytest.mark.slow
async def test_troth_id_lists_only_addresses_that_dial(tmp_path: Path) -> None:
    """IPv4 and IPv6 listen addresses on port 0, plus an announced one: `troth id`
    lists the announced address first, then each bound address with its real
    port, and a second node dials every loopback address it lists."""
    home, identity = Home.init(tmp_path / "n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    announce = "/ip4/203.0.113.7/tcp/4001"
    with open(tmp_path / "run.log", "wb") as log:
        proc = subprocess.Popen(_troth(home.path, "run", "--listen", "/ip4/127.0.0.1/tcp/0",
                                       "--listen", "/ip6/::1/tcp/0", "--announce", announce),
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while (info := home.runtime()) is None or info.get("pid") != proc.pid:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "the node did not start"
            await trio.sleep(0.1)
        shown = json.loads(subprocess.run(_troth(home.path, "--json", "id"), env=env, cwd=ROOT,
                                          capture_output=True, text=True, check=True).stdout)
        suffix = f"/p2p/{identity.agent_id}"
        assert shown["listen"] == info["listen"]
        assert shown["listen"][0] == announce + suffix
        assert all(a.endswith(suffix) and is_dialable(M(a)) for a in shown["listen"])
        local = shown["listen"][1:]
        assert sorted(a.split("/")[1:3] for a in local) == [["ip4", "127.0.0.1"], ["ip6", "::1"]]
        async with P2PNode.start(b"\x02" * 32) as other:
            for addr in local:
                assert await other.connect(addr) == identity.agent_id
                await other.disconnect(identity.agent_id)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
