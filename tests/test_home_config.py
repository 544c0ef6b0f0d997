"""config.toml validation: what the runtime cannot honour is refused, not ignored."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from node.store.home import CONFIG_TEMPLATE, Config, ConfigError, edit_config
from wire import Identity


def test_the_default_config_loads() -> None:
    assert Config.from_dict({}).listen == ("/ip4/127.0.0.1/tcp/0",)


def test_edit_config_sets_values_and_keeps_every_comment() -> None:
    edited = edit_config(CONFIG_TEMPLATE, {"sync": {"interval_s": 0.5},
                                           "network": {"bootstrap": ["/ip4/1.2.3.4/tcp/1/p2p/x"]}})
    data = tomllib.loads(edited)
    assert data["sync"]["interval_s"] == 0.5
    assert data["network"]["bootstrap"] == ["/ip4/1.2.3.4/tcp/1/p2p/x"]
    comments = [line for line in CONFIG_TEMPLATE.splitlines() if line.startswith("#")]
    assert comments and [line for line in edited.splitlines() if line.startswith("#")] == comments
    assert edit_config(CONFIG_TEMPLATE, {}) == CONFIG_TEMPLATE


@pytest.mark.parametrize("changes", [{"sync": {"interval": 1.0}}, {"synk": {"interval_s": 1.0}}])
def test_edit_config_refuses_settings_the_text_does_not_have(
        changes: dict[str, dict[str, object]]) -> None:
    with pytest.raises(KeyError):
        edit_config(CONFIG_TEMPLATE, changes)


@pytest.mark.parametrize(("network", "needle"), [
    ({"announce": "/ip4/203.0.113.7/tcp/4001"}, "a list of multiaddr strings"),
    ({"peer_exchange": "yes"}, "true or false"),
    ({"listen": []}, "a non-empty list"),
    ({"bootstrap": ["garbage/p2p/x"]}, "not a multiaddr"),
    ({"bootstrap": ["/ip4/127.0.0.1/tcp/4001/p2p/notapeerid"]}, "not a multiaddr"),
])
def test_network_settings_the_node_cannot_honour_are_refused(network: dict[str, object],
                                                              needle: str) -> None:
    with pytest.raises(ConfigError, match="network") as exc:
        Config.from_dict({"network": network})
    assert needle in str(exc.value)


@pytest.mark.parametrize(("data", "key", "needle"), [
    ({"sync": {"interval_s": 0.05}}, "sync.interval_s", "a number of seconds in 0.1..3600"),
    ({"sync": {"interval_s": True}}, "sync.interval_s", "a number of seconds in 0.1..3600"),
    ({"trust": {"skew_allowance_s": -1}}, "trust.skew_allowance_s", "in 0..86400"),
    ({"log": {"level": "loud"}}, "log.level", "one of debug, info, warning, error"),
    ({"verify": {"threads": -1}}, "verify.threads", "a whole number in 0..64"),
    ({"verify": {"threads": "two"}}, "verify.threads", "a whole number in 0..64"),
    ({"admission": {"enabled": 1}}, "admission.enabled", "true or false"),
    ({"admission": {"hops": 17}}, "admission.hops", "a whole number in 0..16"),
    ({"admission": {"stranger_quota": 1.5}}, "admission.stranger_quota", "a whole number"),
    ({"admission": {"stranger_budget_window_s": 0}}, "admission.stranger_budget_window_s",
     "a number of seconds in 1..315360000"),
    ({"admission": {"peer_gossip_rate_per_s": 0}}, "admission.peer_gossip_rate_per_s",
     "a number in 0.1..1000000"),
    ({"admission": {"peer_gossip_burst": "lots"}}, "admission.peer_gossip_burst",
     "a number in 1..1000000"),
])
def test_bad_numbers_and_flags_are_refused_naming_the_key(data: dict[str, object], key: str,
                                                          needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Config.from_dict(data)
    assert key in str(exc.value) and needle in str(exc.value)


def test_verify_threads_and_processes_are_read() -> None:
    assert Config.from_dict({}).verify_threads == 0
    assert Config.from_dict({}).verify_processes == 0
    assert Config.from_dict({"verify": {"threads": 2}}).verify_threads == 2
    assert Config.from_dict({"verify": {"processes": 1}}).verify_processes == 1
    template = tomllib.loads(CONFIG_TEMPLATE)
    assert template["verify"] == {"threads": 0, "processes": 0}
    cfg = Config.from_dict(template)
    assert (cfg.verify_threads, cfg.verify_processes) == (0, 0)


@pytest.mark.parametrize("verify,needle", [
    ({"threads": 1, "processes": 1}, "not both"),
    ({"processes": -1}, "verify.processes"),
    ({"processes": 65}, "verify.processes"),
    ({"processes": "2"}, "verify.processes"),
])
def test_bad_verify_settings_are_refused(verify: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Config.from_dict({"verify": verify})
    assert needle in str(exc.value)


def test_admission_settings_are_read() -> None:
    cfg = Config.from_dict({"admission": {"hops": 3, "stranger_quota": 0,
                                          "stranger_budget_window_s": 3600,
                                          "peer_gossip_rate_per_s": 5}})
    assert cfg.admission is not None
    assert (cfg.admission.hops_max, cfg.admission.stranger_quota) == (3, 0)
    assert cfg.admission.stranger_budget_window_s == 3600.0
    assert (cfg.peer_gossip_rate_per_s, cfg.peer_gossip_burst) == (5.0, None)
    assert Config.from_dict({"admission": {"enabled": False}}).admission is None


def test_a_real_bootstrap_address_is_accepted() -> None:
    peer = Identity.generate().agent_id
    cfg = Config.from_dict({"network": {"bootstrap": [f"/ip4/127.0.0.1/tcp/4001/p2p/{peer}"]}})
    assert cfg.bootstrap[0].endswith(peer)


def test_init_force_keeps_every_token_of_a_store_left_with_a_wal(tmp_path: Path) -> None:
    """The old store moves aside whole, even when its last writer died before a
    checkpoint (its newest tokens were only in the -wal file)."""
    import subprocess
    import sys

    from node.store import Store
    from node.store.home import Home

    home, first = Home.init(tmp_path / "h")
    writer = ("import os, sys\n"
              "from pathlib import Path\n"
              "from node.store.engine import Engine\nfrom node.store.home import Home\n"
              "from node.store import Store\n"
              "h = Home(Path(sys.argv[1]))\n"
              "e = Engine(Store(h.store_path), h.identity())\n"
              "for i in range(5):\n"
              "    e.issue(kind='promise', now=1.8e9 + i, body={'text': f'p{i}'})\n"
              "os._exit(0)  # as kill -9: no close, no checkpoint\n")
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", writer, str(home.path)], check=True, cwd=root,
                   env={"PYTHONPATH": str(root), "PATH": ""}, timeout=60)
    assert (home.path / "store.sqlite-wal").stat().st_size > 0
    again, _ = Home.init(home.path, force=True)
    old = next(p for p in again.moved_aside if p.name.startswith("store.sqlite."))
    with Store(old) as st:
        assert len(st) == 5 and st.check().ok


def test_init_force_twice_in_a_second_loses_no_identity(tmp_path: Path) -> None:
    from node.store.home import Home

    home, a = Home.init(tmp_path / "h")
    _, b = Home.init(home.path, force=True)
    _, c = Home.init(home.path, force=True)
    kept = {Identity.load(p).agent_id for p in home.path.glob("identity.pem*")}
    assert kept == {a.agent_id, b.agent_id, c.agent_id}


def test_init_force_is_refused_while_the_home_is_locked(tmp_path: Path) -> None:
    from node.store.home import Home, HomeError

    home, a = Home.init(tmp_path / "h")
    lock = home.try_lock()  # as a running node holds it
    assert lock is not None
    with pytest.raises(HomeError, match="is running"):
        Home.init(home.path, force=True)
    lock.close()
    assert Identity.load(home.identity_path).agent_id == a.agent_id
