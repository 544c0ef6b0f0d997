"""The runtime's relay keeper (node/app/relaying.py), in one process on loopback.

A real `Runtime` with `network.relays` set, against a real relay `P2PNode`:
what it decides to do about reachability and reservations, over time.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from node.app.runtime import Runtime
from node.net.p2p import P2PNode, RelayParams
from node.store.home import Config, Home
from tests.test_runtime import run_in, wait_until
from wire import Identity

RELAY_SEED = hashlib.sha256(b"relaying-test-relay").digest()


@asynccontextmanager
async def member(tmp_path: Path, **config: object) -> AsyncIterator[Runtime]:
    rt = Runtime(*Home.init(tmp_path / "member"), Config(sync_interval_s=1.0, **config))
    async with trio.open_nursery() as nursery:
        await run_in(nursery, rt)
        yield rt
        rt.stop()


def relayed(rt: Runtime) -> list[str]:
    return list(rt.relaying_view().get("relayed", []))


async def test_a_private_member_reserves_again_after_its_relay_restarts(tmp_path: Path) -> None:
    with socket.socket() as probe:  # the relay's port, the same across its restart
        probe.bind(("127.0.0.1", 0))
        listen = f"/ip4/127.0.0.1/tcp/{probe.getsockname()[1]}"
    addr = f"{listen}/p2p/{Identity.from_seed(RELAY_SEED).agent_id}"
    async with member(tmp_path, relays=(addr,), reachability="private") as rt:
        circuit = f"{addr}/p2p-circuit/p2p/{rt.identity.agent_id}"
        for life in ("first", "second"):
            async with P2PNode.start(RELAY_SEED, listen=listen,
                                     relay=RelayParams(hop=True)) as relay:
                assert relay.listen_addrs == [addr]
                await wait_until(lambda relay=relay: relay.relay_status.reservations_served == 1
                                 and relayed(rt) == [circuit],
                                 f"the member to reserve on the relay's {life} life")
                assert rt.relaying_view()["reachability"] == "private"
            await wait_until(lambda: relayed(rt) == [], "the slot to end with the relay")


async def test_a_member_found_public_holds_no_slot(tmp_path: Path) -> None:
    async with P2PNode.start(RELAY_SEED, relay=RelayParams(hop=True)) as relay:
        async with member(tmp_path, relays=(relay.listen_addrs[0],)) as rt:
            await wait_until(lambda: rt.relaying_view()["reachability"] == "public",
                             "the relay's dial-back to find the member reachable")
            assert rt.relaying_view()["reachability_source"] == "dial-back"
            assert relayed(rt) == [] and relay.relay_status.reservations_served == 0


async def test_members_told_they_are_private_meet_through_a_loopback_relay(
        tmp_path: Path) -> None:
    """The namespace scenario of tests/test_relay_processes.py without root: on
    one host everyone can dial everyone, so the members are told they are
    private. Bob knows Ann only by her circuit address."""
    hub_home, hub_identity = Home.init(tmp_path / "hub")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        hub_listen = f"/ip4/127.0.0.1/tcp/{probe.getsockname()[1]}"
    hub_addr = f"{hub_listen}/p2p/{hub_identity.agent_id}"
    ann_home, ann_identity = Home.init(tmp_path / "ann")
    ann_circuit = f"{hub_addr}/p2p-circuit/p2p/{ann_identity.agent_id}"
    hub = Runtime(hub_home, hub_identity, Config(listen=(hub_listen,), relay=True,
                                                 sync_interval_s=0.5))
    ann = Runtime(ann_home, ann_identity, Config(relays=(hub_addr,), reachability="private",
                                                 sync_interval_s=0.5))
    bob = Runtime(*Home.init(tmp_path / "bob"),
                  Config(relays=(hub_addr,), reachability="private", bootstrap=(ann_circuit,),
                         sync_interval_s=0.5))
    async with trio.open_nursery() as nursery:
        await run_in(nursery, hub, ann, bob)
        assert hub.p2p is not None and bob.p2p is not None
        await wait_until(lambda: relayed(ann) == [ann_circuit], "ann to reserve on the hub")
        await wait_until(lambda: bob.p2p is not None and
                         bob.p2p.peer_routes().get(ann_identity.agent_id) == hub.p2p.peer_id,
                         "bob to reach ann through the hub")
        assert hub.relaying_view()["relay"] == {"serving": True, "reservations": 2,
                                                "circuits": 1}
        for sender, receiver in ((ann, bob), (bob, ann)):
            assert sender.engine is not None
            token, outputs = sender.engine.issue(kind="promise", now=sender.clock(),
                                                 body={"text": "over the loopback relay"})
            sender._dispatch(outputs)
            await wait_until(lambda receiver=receiver, token=token: receiver.engine is not None
                             and receiver.engine.core.has(token.cid), "the token to cross")
        for rt in (hub, ann, bob):
            rt.stop()
