"""The `troth` command line against a real running node (`troth run` in a process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.store.home import Home, edit_config

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def troth(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(home), *args],
                         capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60)
    if check:
        assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out


def tj(home: Path, *args: str) -> Any:
    return json.loads(troth(home, "--json", *args).stdout)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("cli") / "home"
    init = tj(home, "init")
    assert init["agent_id"].startswith("12D3KooW")
    proc = subprocess.Popen([sys.executable, "-m", "node", "--home", str(home), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 30
    while Home(home).runtime() is None:
        assert proc.poll() is None and time.monotonic() < deadline, "node did not start"
        time.sleep(0.05)
    yield home
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_init_makes_a_private_home(tmp_path: Path) -> None:
    home = tmp_path / "h"
    out = tj(home, "init")
    assert (home / "identity.pem").stat().st_mode & 0o777 == 0o600
    assert (home / "api-token").stat().st_mode & 0o777 == 0o600
    assert (home / "config.toml").read_text().startswith("# troth node configuration")
    again = troth(home, "init", check=False)
    assert again.returncode == 1 and "already initialised" in again.stderr
    assert out["home"] == str(home)


def test_commands_without_a_running_node_say_so(tmp_path: Path) -> None:
    home = tmp_path / "idle"
    troth(home, "init")
    out = troth(home, "verdicts", check=False)
    assert out.returncode == 1 and "no node is running" in out.stderr
    assert "Traceback" not in out.stderr
    out = troth(tmp_path / "nowhere", "id", check=False)
    assert out.returncode == 1 and "troth init" in out.stderr


def test_bad_arguments_are_usage_errors(node: Path) -> None:
    out = troth(node, "assess", "bafkrei", "maybe", check=False)
    assert out.returncode == 2 and "kept" in out.stderr
    out = troth(node, "log", "--limit", "0", check=False)
    assert out.returncode == 2
    out = troth(node, "show", "not-a-cid", check=False)
    assert out.returncode == 1 and "bad-cid" in out.stderr


def test_promise_lifecycle_json_shapes(node: Path) -> None:
    ident = tj(node, "id")
    assert set(ident) >= {"agent_id", "listen", "tokens", "own_seq", "frontier_digest"}
    assert ident["listen"][0].startswith("/ip4/127.0.0.1/tcp/")
    assert ident["listen"][0].endswith("/p2p/" + ident["agent_id"])
    p = tj(node, "promise", "sweep the yard", "--due-in", "3600")
    assert set(p) >= {"cid", "issuer", "seq", "kind", "body", "deps", "about"}
    assert p["kind"] == "promise" and p["body"]["text"] == "sweep the yard"
    f = tj(node, "fulfil", p["cid"], "--evidence", "photo")
    assert f["about"] == p["cid"] and f["kind"] == "fulfil"
    shown = tj(node, "show", p["cid"])
    assert shown["verdict"]["state"] == "kept" and shown["verdict"]["evidence"]
    rows = tj(node, "verdicts")
    assert any(r["cid"] == p["cid"] and r["state"] == "kept" for r in rows)
    assert set(rows[0]) >= {"cid", "state", "confidence", "evidence", "reason", "issuer"}
    trust = tj(node, "trust", ident["agent_id"])
    assert set(trust[0]) == {"agent", "belief", "disbelief", "uncertainty", "base_rate",
                             "expectation"}
    assert abs(trust[0]["belief"] + trust[0]["disbelief"] + trust[0]["uncertainty"] - 1) < 1e-3
    log = tj(node, "log", "--limit", "2")
    assert [t["kind"] for t in log] == ["fulfil", "promise"]
    assert tj(node, "peers") == []
    human = troth(node, "verdicts").stdout
    assert "kept" in human and "sweep the yard" in human
    human = troth(node, "trust", ident["agent_id"]).stdout
    assert human.startswith(f"{ident['agent_id']}  b=") and " E=" in human
    assert troth(node, "log", "--limit", "2").stdout.splitlines()[0].split()[1] == "fulfil"
    assert troth(node, "peers").stdout.strip() == "no peers"


def test_governance_through_the_cli(node: Path) -> None:
    me = tj(node, "id")["agent_id"]
    c = tj(node, "charter", "create", "Reading circle", "--threshold", "1/2")
    scope = c["cid"]
    assert c["body"]["members"] == [me]
    p = tj(node, "propose", scope, "Next book?", "--option", "Dune", "--option", "Emma",
           "--option", "Ulysses", "--method", "ranked", "--closes-in", "600")
    b1 = tj(node, "vote", p["cid"], "Emma", "Dune", "Ulysses")
    b2 = tj(node, "vote", p["cid"], "Dune", "Emma", "Ulysses")
    assert b2["seq"] == b1["seq"] + 1
    rows = tj(node, "proposals", scope)
    assert [(r["cid"], r["state"]) for r in rows] == [(p["cid"], "open")]
    assert troth(node, "proposals", scope).stdout.split() == ["open", p["cid"], "Next", "book?"]
    t = tj(node, "tally", p["cid"], "--explain")
    states = [b["state"] for b in t["explanation"]["ballots"]]
    assert states == ["superseded", "counted"]
    assert t["outcome"]["state"] == "open"
    bad = troth(node, "vote", p["cid"], "Moby Dick", check=False)
    assert bad.returncode == 1 and "bad-choice" in bad.stderr
    bad = troth(node, "propose", scope, "x", "--closes-in", "60", "--method", "borda",
                check=False)
    assert bad.returncode == 2


def test_a_passphrase_protected_identity(tmp_path: Path) -> None:
    home = tmp_path / "locked"
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse battery staple\n")
    troth(home, "init", "--passphrase-file", str(secret))
    assert b"ENCRYPTED" in (home / "identity.pem").read_bytes()
    out = troth(home, "run", check=False)  # no passphrase: refuses before starting
    assert out.returncode == 1 and "encrypted" in out.stderr and "Traceback" not in out.stderr
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope")
    out = troth(home, "run", "--passphrase-file", str(wrong), check=False)
    assert out.returncode == 1 and "passphrase" in out.stderr
    assert Home(home).identity("correct horse battery staple").agent_id.startswith("12D3KooW")


def _bare(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`troth ARGS` with no --home before the command."""
    out = subprocess.run([sys.executable, "-m", "node", *args], capture_output=True, text=True,
                         env=ENV, cwd=ROOT, timeout=60)
    if check:
        assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out


def test_home_and_json_work_after_the_command_too(tmp_path: Path, node: Path) -> None:
    home = tmp_path / "late"
    out = json.loads(_bare("init", "--home", str(home), "--json").stdout)
    assert out["home"] == str(home) and (home / "identity.pem").exists()
    assert "troth --home" in _bare("init", "--home", str(tmp_path / "h2")).stdout
    ident = json.loads(_bare("id", "--home", str(node), "--json").stdout)
    assert ident["agent_id"] == tj(node, "id")["agent_id"]


def test_init_force_keeps_the_old_home_beside_and_refuses_a_running_node(
        tmp_path: Path, node: Path) -> None:
    home = tmp_path / "h"
    first = tj(home, "init")
    (home / "config.toml").write_text((home / "config.toml").read_text() + "\n# mine\n")
    out = troth(node, "init", "--force", check=False)
    assert out.returncode == 1 and "is running" in out.stderr
    assert tj(node, "id")["agent_id"]  # the running node still answers with its token
    second = tj(home, "init", "--force")
    assert second["agent_id"] != first["agent_id"]
    moved = [Path(p).name for p in second["moved_aside"]]
    assert sorted(m.split(".replaced-")[0] for m in moved) == [
        "api-read-token", "api-token", "identity.pem"]
    old = next(p for p in second["moved_aside"] if "identity.pem" in p)
    from wire import Identity

    assert Identity.load(Path(old)).agent_id == first["agent_id"]  # recoverable
    assert (home / "config.toml").read_text().endswith("# mine\n")  # config kept


def test_bad_bootstrap_addresses_are_refused_at_start(tmp_path: Path) -> None:
    home = tmp_path / "b"
    troth(home, "init")
    for addr, why in (("garbage/p2p/x", "not a multiaddr"),
                      ("/ip4/127.0.0.1/tcp/4001/p2p/notapeerid", "not a multiaddr")):
        out = troth(home, "run", "--bootstrap", addr, check=False)
        assert out.returncode == 2 and why in out.stderr, out.stderr
    (home / "config.toml").write_text(edit_config(
        (home / "config.toml").read_text(), {"network": {"bootstrap": ["/dns4/x/p2p/nope"]}}))
    out = troth(home, "run", check=False)
    assert out.returncode == 1 and "network.bootstrap" in out.stderr, out.stderr


def test_a_busy_api_port_is_one_line(tmp_path: Path, node: Path) -> None:
    home = tmp_path / "busy"
    troth(home, "init")
    api = Home(node).runtime()
    assert api is not None
    taken = api["api"].rsplit(":", 1)[1] if "api" in api else None
    assert taken, api
    out = troth(home, "run", "--listen", "/ip4/127.0.0.1/tcp/0", "--api",
                f"127.0.0.1:{taken}", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "in use" in out.stderr


def test_ids_are_path_segments_not_routes(node: Path) -> None:
    for bad in ("../log", "../id", "a?b=c"):
        out = troth(node, "show", bad, check=False)
        assert out.returncode == 1 and "Traceback" not in out.stderr, (bad, out.stderr)


def test_due_and_due_in_together_is_a_usage_error(node: Path) -> None:
    out = troth(node, "promise", "x", "--due", "2030-01-01", "--due-in", "60", check=False)
    assert out.returncode == 2 and "not both" in out.stderr


def test_errors_under_json_are_json_on_stdout(tmp_path: Path, node: Path) -> None:
    out = troth(node, "--json", "show", "not-a-cid", check=False)
    assert out.returncode == 1 and "bad-cid" in out.stderr
    err = json.loads(out.stdout)
    assert err["error"] == "bad-cid" and err["status"] == 400 and err["detail"]
    idle = tmp_path / "idle"
    troth(idle, "init")
    out = troth(idle, "--json", "log", check=False)
    assert out.returncode == 1 and json.loads(out.stdout)["error"] == "unreachable"


def test_an_empty_passphrase_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "pass"
    empty.write_text("\n")
    out = troth(tmp_path / "h", "init", "--passphrase-file", str(empty), check=False)
    assert out.returncode == 1 and "is empty" in out.stderr
    assert not (tmp_path / "h" / "identity.pem").exists()


def test_name_sets_lists_and_removes_petnames_through_the_api(node: Path) -> None:
    other = tj(node.parent / "other", "init")["agent_id"]
    assert tj(node, "name", other, "Bob") == {other: "Bob"}
    assert troth(node, "name").stdout.strip() == f"Bob  {other}"
    assert json.loads((node / "names.json").read_text()) == {other: "Bob"}
    assert (node / "names.json").stat().st_mode & 0o777 == 0o600  # private, as the tokens
    bad = troth(node, "name", "not-an-agent", "X", check=False)
    assert bad.returncode == 1 and "bad-agent" in bad.stderr
    usage = troth(node, "name", other, check=False)
    assert usage.returncode == 2 and "AGENT --remove" in usage.stderr
    assert tj(node, "name", other, "--remove") == {}


def test_web_opens_the_app_with_the_read_token_in_the_fragment(node: Path,
                                                               tmp_path: Path) -> None:
    seen = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\necho \"$1\" > {seen}\n")
    browser.chmod(0o755)
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(node), "--json", "web"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env=dict(ENV, BROWSER=str(browser)))
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    read = (node / "api-read-token").read_text().strip()
    api = Home(node).runtime()["api"]  # type: ignore[index]
    assert shown == {"url": f"{api}/#read={read}", "opened": True}
    assert seen.read_text().strip() == shown["url"]  # the browser got that URL
    assert (node / "api-token").read_text().strip() not in out.stdout  # never the write token
    assert tj(node, "web", "--no-open")["opened"] is False
