"""Relay settings: config.toml and `troth run` flags, refused before anything runs."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from node.app.relaying import relay_params
from node.net.p2p import RelayParams
from node.store.home import CONFIG_TEMPLATE, Config, ConfigError, Home
from wire import Identity

ROOT = Path(__file__).resolve().parent.parent
RELAY = f"/ip4/203.0.113.1/tcp/4001/p2p/{Identity.generate().agent_id}"


def test_the_template_documents_the_relay_defaults_node_net_applies() -> None:
    """config.toml shows each [relay] limit with the value RelayParams uses when
    the key is left out: the two cannot drift apart unnoticed."""
    template = tomllib.loads(CONFIG_TEMPLATE)
    defaults = RelayParams()
    for key, value in template["relay"].items():
        assert getattr(defaults, key) == value, key
    assert relay_params(Config.from_dict(template)) == relay_params(Config.from_dict({}))
    assert template["network"]["relay"] is False and template["network"]["relays"] == []
    assert template["network"]["reachability"] == "auto"


def test_relay_settings_reach_the_network_layer() -> None:
    cfg = Config.from_dict({"network": {"relay": True, "relays": [RELAY],
                                        "reachability": "private"},
                            "relay": {"max_reservations": 3, "max_circuit_bytes": 1000}})
    params = relay_params(cfg)
    assert (params.hop, params.max_reservations, params.max_circuit_bytes) == (True, 3, 1000)
    assert params.max_circuit_duration_s == RelayParams().max_circuit_duration_s
    assert cfg.relays == (RELAY,) and cfg.reachability == "private"


@pytest.mark.parametrize(("data", "key", "needle"), [
    ({"network": {"relay": "yes"}}, "network.relay", "true or false"),
    ({"network": {"relays": RELAY}}, "network.relays", "a list"),
    ({"network": {"relays": ["/ip4/1.2.3.4/tcp/1"]}}, "network.relays", "/p2p/"),
    ({"network": {"relays": [f"{RELAY}/p2p-circuit/p2p/{Identity.generate().agent_id}"]}},
     "network.relays", "dialled directly"),
    ({"network": {"reachability": "maybe"}}, "network.reachability", "auto, public, private"),
    ({"relay": {"max_reservations": 0}}, "relay.max_reservations", ">= 1"),
    ({"relay": {"max_circuit_bytes": 1.5}}, "relay.max_circuit_bytes", ">= 1"),
    ({"relay": {"max_circuit_duration_s": True}}, "relay.max_circuit_duration_s", ">= 1"),
    ({"relay": {"max_circuits": 4}}, "relay.max_circuits", "unknown key"),
])
def test_bad_relay_settings_are_refused_naming_the_key(data: dict[str, object], key: str,
                                                       needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Config.from_dict(data)
    assert key in str(exc.value) and needle in str(exc.value)


def test_relay_params_refuse_limits_below_one() -> None:
    for field in dataclasses.fields(RelayParams):
        if field.name != "hop":
            with pytest.raises(ValueError, match=field.name):
                RelayParams(**{field.name: 0})


@pytest.mark.parametrize("addr", ["garbage", "/ip4/1.2.3.4/tcp/1",
                                  f"{RELAY}/p2p-circuit/p2p/{Identity.generate().agent_id}"])
def test_run_refuses_a_bad_relay_via_as_a_usage_error(tmp_path: Path, addr: str) -> None:
    Home.init(tmp_path / "n")
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(tmp_path / "n"), "run",
                          "--relay-via", addr], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert out.returncode == 2 and "--relay-via" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "n" / "node.json").exists()
