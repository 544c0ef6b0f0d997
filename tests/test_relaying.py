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
from tests.test_runtime import wait_until
from wire import Identity

RELAY_SEED = hashlib.sha256(b"relaying-test-relay").digest()


@asynccontextmanager
async def member(tmp_path: Path, **config: object) -> AsyncIterator[Runtime]:
    rt = Runtime(*Home.init(tmp_path / "member"), Config(sync_interval_s=1.0, **config))
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: rt.run(handle_signals=False,
                                                       task_status=task_status))
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
