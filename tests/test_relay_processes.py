"""Members behind a relay, as real `troth run` processes (docs/decisions/0012-relays.md).

A hub that relays (`network.relay = true`) and two members, Ann and Bob, that
hold slots on it (`network.relays`). Bob knows Ann only by her circuit
address `<hub>/p2p-circuit/p2p/<Ann>`, as `troth id` prints it. In three
Linux network namespaces made here (root): the hub has a public address both
members route to, each member listens on a private address nobody else can
route to, and there is no route between the members. The members find out
they are private by dial-back, reserve, connect through the hub, exchange
tokens both ways, sync with each other over the circuit (seen in a quiet
spell: the only traffic between them is sync), and a restarted member
catches up and reconnects. (The same meeting on loopback, without root:
tests/test_relaying.py.)

A test asks a node through its HTTP API (from inside the node's namespace:
the API listens on the namespace's loopback), through the `troth` CLI where
what the user reads matters, or reads the node's own files; the namespaces
are removed whatever happens.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from node.store.home import CONFIG_TEMPLATE, Home, edit_config
from tests.harness import ROOT, TROTH, launch, runtime_info, troth_run, wait_for
from tests.netns import lab_or_skip

WAIT_S = 30.0
# Starting a node is mostly importing Python modules: seconds on a quiet
# machine, much longer on a loaded CI box.
START_WAIT_S = 90.0


_CLONE_NEWNET = 0x40000000


def connect_in(netns: str | None, port: int, host: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to `host`:`port` from network namespace `netns`.

    A thread's network namespace is its own (setns(2)); a socket keeps the
    namespace it was made in, so one made in a short-lived thread that
    entered `netns` reaches that namespace's loopback.
    """
    if netns is None:
        return socket.create_connection((host, port), timeout=30)
    made: list[socket.socket | BaseException] = []

    def enter_and_connect() -> None:
        try:
            fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            made.append(socket.create_connection((host, port), timeout=5))
        except BaseException as exc:
            made.append(exc)

    thread = threading.Thread(target=enter_and_connect)
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


class Member:
    """One `troth run` process, in network namespace `netns` (or the test's own)."""

    def __init__(self, home: Path, netns: str | None = None) -> None:
        self.home = Home(home)
        Home.init(home)
        self.agent_id = self.home.identity().agent_id
        self.netns = netns
        self.prefix = ["ip", "netns", "exec", netns] if netns else []
        self.log = home / "run.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def configure(self, **network: Any) -> None:
        self.home.config_path.write_text(edit_config(CONFIG_TEMPLATE, {"network": network}))

    def launch(self, *args: str) -> None:
        self.proc = launch([*self.prefix, *troth_run(self.home.path, *args)], self.log)

    def wait_started(self) -> None:
        assert self.proc is not None
        proc = self.proc
        wait_for(lambda: runtime_info(proc, self.home, self.log),
                 f"{self.home.path.name} to start", START_WAIT_S)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        info = self.home.runtime()
        assert info is not None, "not running"
        port = int(str(info["api"]).rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.sock = connect_in(self.netns, port)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers={"Authorization": f"Bearer {self.home.api_token()}",
                                  "Content-Type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read())
        finally:
            conn.close()
        assert response.status < 300, data
        return data

    def promise(self, text: str) -> str:
        return str(self.api("POST", "/v1/promises", {"text": text})["cid"])

    def troth(self, *args: str) -> Any:
        out = subprocess.run([*self.prefix, *TROTH, "--home", str(self.home.path), "--json", *args],
                             capture_output=True, text=True, timeout=60, cwd=ROOT,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert out.returncode == 0, out.stderr + out.stdout
        return json.loads(out.stdout)

    def logged(self, text: str) -> bool:
        return text in self.log.read_text()

    def cids(self) -> set[str]:
        db = sqlite3.connect(f"file:{self.home.store_path}?mode=ro", uri=True, timeout=5)
        try:
            return {row[0] for row in db.execute("SELECT cid FROM tokens")}
        finally:
            db.close()


@contextmanager
def running(*members: Member) -> Iterator[None]:
    """Start the members side by side (a process takes seconds to import); stop them all."""
    try:
        for m in members:
            m.launch()
        for m in members:
            m.wait_started()
        yield
    finally:
        for m in members:
            m.stop()


def circuit(relay_addr: str, member: Member) -> str:
    return f"{relay_addr}/p2p-circuit/p2p/{member.agent_id}"


def exchange_both_ways(ann: Member, bob: Member, tag: str) -> None:
    """Ann's promise reaches Bob and Bob's reaches Ann."""
    from_ann = ann.promise(f"{tag}: from ann")
    from_bob = bob.promise(f"{tag}: from bob")
    wait_for(lambda: from_ann in bob.cids(), f"{tag}: bob to hold ann's promise")
    wait_for(lambda: from_bob in ann.cids(), f"{tag}: ann to hold bob's promise")


# -- network namespaces -------------------------------------------------------

HUB_IP = "203.0.113.1"  # the hub's "public" address: both members route to it


class Namespaces:
    """hub <-veth-> ann, hub <-veth-> bob; the hub does not forward between them."""

    def __init__(self) -> None:
        suffix = secrets.token_hex(3)
        self.hub, self.ann, self.bob = (f"troth-{n}-{suffix}" for n in ("hub", "ann", "bob"))
        self.made: list[str] = []

    def _ip(self, *args: str, netns: str | None = None) -> None:
        cmd = ["ip", *(["-n", netns] if netns else []), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {out.stderr.strip()}")

    def create(self) -> None:
        for ns in (self.hub, self.ann, self.bob):
            self._ip("netns", "add", ns)
            self.made.append(ns)
        for ns in (self.hub, self.ann, self.bob):
            self._ip("link", "set", "lo", "up", netns=ns)
        self._ip("addr", "add", f"{HUB_IP}/32", "dev", "lo", netns=self.hub)
        for n, member in ((1, self.ann), (2, self.bob)):
            hub_end, member_end = f"h{n}", "eth0"
            self._ip("link", "add", hub_end, "netns", self.hub, "type", "veth",
                     "peer", "name", member_end, "netns", member)
            self._ip("addr", "add", f"10.77.{n}.1/24", "dev", hub_end, netns=self.hub)
            self._ip("addr", "add", f"10.77.{n}.2/24", "dev", member_end, netns=member)
            self._ip("link", "set", hub_end, "up", netns=self.hub)
            self._ip("link", "set", member_end, "up", netns=member)
            self._ip("route", "add", f"{HUB_IP}/32", "via", f"10.77.{n}.1", netns=member)
            # The member's listening address, on its own "home network":
            # nobody outside routes to it (as behind a NAT).
            self._ip("addr", "add", f"192.168.{n}.2/32", "dev", "lo", netns=member)

    def remove(self) -> None:
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    # Skips only where namespaces cannot be made at all: once they can, a
    # step of `create` that fails is a failure, not a skip.
    why = lab_or_skip()
    if why:
        pytest.skip(f"network namespaces: {why}")
    nets = Namespaces()
    try:
        nets.create()
        yield nets
    finally:
        nets.remove()


@pytest.mark.slow
def test_members_without_a_route_to_each_other_meet_and_sync_through_the_hub(
        tmp_path: Path, namespaces: Namespaces) -> None:
    hub = Member(tmp_path / "hub", namespaces.hub)
    ann = Member(tmp_path / "ann", namespaces.ann)
    bob = Member(tmp_path / "bob", namespaces.bob)
    hub_addr = f"/ip4/{HUB_IP}/tcp/4001/p2p/{hub.agent_id}"
    hub.configure(listen=[f"/ip4/{HUB_IP}/tcp/4001"], relay=True)
    ann.configure(listen=["/ip4/192.168.1.2/tcp/4001"], bootstrap=[hub_addr], relays=[hub_addr])
    ann_circuit = circuit(hub_addr, ann)
    # discovery's log line for a dial that connected (the address without its /p2p/ tail)
    dialled_ann = f"event=dialled peer={ann.agent_id} addr={hub_addr}/p2p-circuit"
    bob.configure(listen=["/ip4/192.168.2.2/tcp/4001"], bootstrap=[hub_addr, ann_circuit],
                  relays=[hub_addr])
    with running(hub, ann, bob):
        # Each member learns from the hub's dial-back that it cannot be
        # dialled, and only then reserves.
        for m in (ann, bob):
            wait_for(lambda m=m: m.logged("event=reachability verdict=private"),
                     f"{m.home.path.name} to find itself private")
        wait_for(lambda: ann.logged(f"event=relay_reserved relay={hub.agent_id} "
                                    f"addr={ann_circuit}"), "ann to reserve on the hub")
        wait_for(lambda: bob.logged(dialled_ann), "bob to reach ann")
        ident = ann.troth("id")
        assert (ident["reachability"], ident["reachability_source"]) == ("private", "dial-back")
        assert ident["relayed"] == [ann_circuit]
        exchange_both_ways(ann, bob, "first")
        assert hub.api("GET", "/v1/id")["relay"]["circuits"] == 1
        # The topology holds: neither the other member nor the hub can dial
        # a member's own address; only the member's way out to the hub exists.
        for netns, host in ((namespaces.bob, "192.168.1.2"), (namespaces.hub, "192.168.1.2"),
                            (namespaces.ann, "192.168.2.2")):
            with pytest.raises(OSError):
                connect_in(netns, 4001, host).close()

        # A quiet spell: no tokens, so the only traffic Ann hears from Bob is
        # his sync rounds (every 0.5 s), over the relayed connection.
        time.sleep(2.0)
        row = next(r for r in ann.api("GET", "/v1/peers") if r["peer"] == bob.agent_id)
        assert row["connected"] and row["state"] == "alive", row
        assert row["last_heard_s_ago"] < 2.0, row

        # Bob is away while Ann issues; back, he catches up and reconnects.
        bob.stop()
        missed = {ann.promise(f"while bob was away {k}") for k in range(5)}
        bob.launch()
        bob.wait_started()
        wait_for(lambda: missed <= bob.cids(), "bob to catch up on what he missed")
        wait_for(lambda: bob.log.read_text().count(dialled_ann) >= 2,
                 "bob to reach ann again through the hub")
        exchange_both_ways(ann, bob, "after the restart")
        assert hub.api("GET", "/v1/id")["reachability"] == "public"
