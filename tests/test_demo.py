"""`troth demo` (the README's `make demo`): five real processes, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_runs_end_to_end_and_leaves_nothing_running(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "node", "--json", "demo", "--dir",
                          str(tmp_path)], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["converged"]
    views = result["views"]
    # Observer-relative: own assessments beat hearsay.
    assert views["carol"]["verdicts"]["alice/water"]["state"] == "broken"
    assert views["alice"]["verdicts"]["alice/water"]["state"] == "kept"
    assert views["dave"]["verdicts"]["alice/water"]["state"] == "kept"
    assert views["erin"]["verdicts"]["bob/bread"]["state"] == "kept"
    assert views["alice"]["verdicts"]["bob/bread"]["state"] == "broken"
    assert views["bob"]["verdicts"]["carol/fence"]["state"] == "broken"
    # trust follows: alice above bob in a neutral observer's eyes
    assert views["dave"]["trust"]["alice"]["expectation"] > \
        views["dave"]["trust"]["bob"]["expectation"]
    # the community vote: decided "yes" in every node's view, dave included
    vote = result["vote"]
    for name, outcome in vote["outcomes"].items():
        assert (outcome["state"], outcome["result"]) == ("decided", "yes"), name
        # dave was offline across the close: the ballots reached him late (on his
        # clock), so his own tally counts none; the online members' three decide.
        assert sorted((s["members"], s["result"]) for s in outcome["support"]) == \
            [(1, None), (3, "yes")], name
    bob = vote["explanations"]["bob"]
    assert [b["state"] for b in bob["ballots"]] == ["superseded", "counted"]
    erin = vote["explanations"]["erin"]
    assert [b["state"] for b in erin["ballots"]] == ["non-member"]
    assert erin["counted"] is None
    # every node process is gone and removed its node.json
    for name in ("alice", "bob", "carol", "dave", "erin"):
        assert not (tmp_path / name / "node.json").exists()
    ps = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert ps.stdout.strip() == ""
