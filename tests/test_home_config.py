"""config.toml validation: what the runtime cannot honour is refused, not ignored."""

from __future__ import annotations

import pytest

from node.home import Config, ConfigError
from wire import Identity


def test_the_default_config_loads() -> None:
    assert Config.from_dict({}).listen == ("/ip4/127.0.0.1/tcp/0",)


@pytest.mark.parametrize(("network", "needle"), [
    ({"listen": ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/1"]}, "one address for now"),
    ({"listen": []}, "a non-empty list"),
    ({"bootstrap": ["garbage/p2p/x"]}, "not a multiaddr"),
    ({"bootstrap": ["/ip4/127.0.0.1/tcp/4001/p2p/notapeerid"]}, "not a multiaddr"),
])
def test_network_settings_the_node_cannot_honour_are_refused(network: dict[str, object],
                                                              needle: str) -> None:
    with pytest.raises(ConfigError, match="network") as exc:
        Config.from_dict({"network": network})
    assert needle in str(exc.value)


def test_a_real_bootstrap_address_is_accepted() -> None:
    peer = Identity.generate().agent_id
    cfg = Config.from_dict({"network": {"bootstrap": [f"/ip4/127.0.0.1/tcp/4001/p2p/{peer}"]}})
    assert cfg.bootstrap[0].endswith(peer)
