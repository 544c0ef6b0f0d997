"""The CLI of issue 11 against a real running node: transition promises,
artifacts, slots, `troth conflicts` and `troth watch`."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import wire
from tests.test_cli import ENV, ROOT, node, tj, troth
from wire.limits import TOKEN_SIZE_MAX_BYTES

__all__ = ["node"]  # (the running node fixture of tests/test_cli.py)


def test_a_transition_promise_fulfilled_with_artifacts(tmp_path: Path, node: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_bytes(b"all tests pass\n")
    other = wire.cid_of(b"never delivered")
    p = tj(node, "promise", "release v2", "--f1", "make release", "--in", "v1",
           "--in", f"@{report}", "--out", f"@{report}", "--out", other, "--f2", "v2 out",
           "--slot", "release")
    b = p["body"]
    assert (b["f1"], b["f2"], b["slot"]) == ("make release", "v2 out", "release")
    assert b["in"] == ["v1", wire.cid_of(report.read_bytes())]
    assert b["out"] == [wire.cid_of(report.read_bytes()), other]
    f = tj(node, "fulfil", p["cid"], "--artifact", f"@{report}")
    assert f["body"]["artifacts"] == [{"cid": b["out"][0], "size_bytes": 15}]
    shown = tj(node, "show", p["cid"])
    assert shown["delivery"]["missing"] == [other]
    assert shown["accepted_by"] == [p["issuer"]]
    human = troth(node, "show", p["cid"]).stdout
    assert "promised -> delivered" in human and f"{other}  not delivered" in human
    assert "accepted by" in human
    basis = shown["verdict"]["basis"]
    assert basis and f"[{basis}]" in human  # the verdict's basis beside promised/delivered


def test_bad_transition_input_is_a_usage_error_and_signs_nothing(
        tmp_path: Path, node: Path) -> None:
    p = tj(node, "promise", "deliver the image")
    seq = tj(node, "id")["own_seq"]
    huge = tmp_path / "huge.bin"
    huge.write_bytes(b"\0" * (TOKEN_SIZE_MAX_BYTES + 1))
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    for args, why in (
            (("promise", "x", "--out", "not-a-cid"), "is not a cid"),
            (("promise", "x", "--out", f"@{tmp_path / 'missing'}"), "No such file"),
            (("promise", "x", "--in", f"@{tmp_path / 'missing'}"), "No such file"),
            (("fulfil", p["cid"], "--artifact", f"@{tmp_path / 'missing'}"), "No such file"),
            (("fulfil", p["cid"], "--artifact", f"@{huge}"), "cannot fit in one token"),
            (("fulfil", p["cid"], "--artifact", f"@{empty}"), "is empty")):
        out = troth(node, *args, check=False)
        assert out.returncode == 2 and why in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
    near = tmp_path / "near.bin"  # fits the CLI's check, not the exact token: the node says
    near.write_bytes(b"\0" * (TOKEN_SIZE_MAX_BYTES - 10))
    out = troth(node, "--json", "fulfil", p["cid"], "--artifact", f"@{near}", check=False)
    assert out.returncode == 1 and json.loads(out.stdout)["error"] == "token-too-large"
    assert tj(node, "id")["own_seq"] == seq


def test_conflicts_command(node: Path) -> None:
    rows = tj(node, "conflicts")
    assert isinstance(rows, list)
    for c in rows:
        assert set(c) >= {"key", "leader", "state", "support", "threshold", "rivals"}
    scope = tj(node, "charter", "create", "solo club")["cid"]
    claim = tj(node, "promise", "I keep the keys", "--scope", scope, "--slot", "keys")
    rows = tj(node, "conflicts", "--scope", scope)
    assert [(c["key"]["slot"], c["leader"], c["state"]) for c in rows] == [
        ("keys", claim["cid"], "settled")]  # a community of one: its claim is settled
    for c in rows:  # (the list above may have been empty: check the shape on a real row)
        assert set(c) >= {"key", "leader", "state", "support", "threshold", "rivals"}
    every = tj(node, "conflicts")  # unscoped: every conflict set, this one among them
    assert {"kind": "slot", "scope": scope, "slot": "keys"} in [c["key"] for c in every]
    assert rows[0]["rivals"][0]["accepted_by"] == [claim["issuer"]]
    human = troth(node, "conflicts", "--scope", scope).stdout
    assert human.startswith("settled") and "slot 'keys'" in human
    out = troth(node, "conflicts", "--scope", "nope", check=False)
    assert out.returncode == 1 and "bad-cid" in out.stderr


def test_watch_prints_events_until_interrupted(node: Path, tmp_path: Path) -> None:
    # stderr goes to a file: an undrained pipe that fills would block the watcher
    err = (tmp_path / "watch.err").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "node", "--home", str(node), "--json",
                             "watch"], stdout=subprocess.PIPE, stderr=err,
                            text=True, env=ENV, cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None

    def pump() -> None:
        for line in proc.stdout or ():
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        issued: list[str] = []
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not any(e.get("cid") in issued and e["event"] == "token" for e in seen):
            assert time.monotonic() < deadline, seen
            issued.append(tj(node, "promise", "feed the cat")["cid"])  # (until it listens)
            try:
                while True:
                    seen.append(json.loads(lines.get(timeout=1.0)))
            except queue.Empty:
                pass
        assert {"token", "verdict"} <= {e["event"] for e in seen}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    err.seek(0)
    assert "Traceback" not in err.read()
