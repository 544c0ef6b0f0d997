"""Consensus end to end: five real `troth run` processes on loopback.

The five are the members of one community (its charter weighs each member
1: docs/trust.md, Consensus). Two agents claim the same slot and the others
build on one claim (`troth promise ... --deps CID`): every node names the same
leader, `settled`. A second slot whose claims split the builders is
`contested` everywhere, with the same leader (ties go to the smaller cid). A
late rival claim, by an agent that never accepted the leader, does not flip
the settled set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node.store.home import Home
from tests.harness import ROOT, Proc, wait_for


def troth(proc: Proc, *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(proc.home.path), "--json",
                          *args], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return json.loads(out.stdout)


def report(proc: Proc, scope: str) -> dict[str, tuple[str | None, str]]:
    """slot -> (leader, state), as this node sees it."""
    rows = proc.http.get("/v1/conflicts", params={"scope": scope}).json()
    return {r["key"]["slot"]: (r["leader"], r["state"]) for r in rows}


def holds(proc: Proc, cids: list[str]) -> bool:
    return all(proc.http.get(f"/v1/tokens/{c}").status_code == 200 for c in cids)


@pytest.mark.slow
def test_five_processes_agree_on_the_leader_of_each_conflict_set(tmp_path: Path) -> None:
    agents = [Home.init(tmp_path / f"n{i}")[1].agent_id for i in range(5)]
    procs = [Proc(tmp_path / "n0", [])]
    procs[0].start()
    for i in range(1, 5):
        procs.append(Proc(tmp_path / f"n{i}", [procs[0].listen[0]]))
        procs[i].start()
    n0, n1, n2, n3, n4 = procs
    try:
        wait_for(lambda: len(n0.http.get("/v1/peers").json()) >= 4, "all to connect to n0")
        charter = troth(n0, "charter", "create", "the club",
                        *[a for m in agents[1:] for a in ("--member", m)])
        scope = charter["cid"]
        assert sorted(charter["body"]["members"]) == sorted(agents)
        wait_for(lambda: all(holds(p, [scope]) for p in procs), "every node to hold the charter")

        # -- settled: n1 and n2 claim the chair; n0, n3, n4 build on n1's claim
        x = troth(n1, "promise", "I chair", "--scope", scope, "--slot", "chair")["cid"]
        y = troth(n2, "promise", "I chair", "--scope", scope, "--slot", "chair")["cid"]
        wait_for(lambda: all(holds(p, [x, y]) for p in procs), "every node to hold both claims")
        for p in (n0, n3, n4):
            troth(p, "promise", "n1 chairs", "--scope", scope, "--deps", x)
        settled = (x, "settled")
        wait_for(lambda: all(report(p, scope).get("chair") == settled for p in procs),
                 "every node to name the same leader, settled")
        rows = troth(n3, "conflicts", "--scope", scope)
        chair = next(r for r in rows if r["key"]["slot"] == "chair")
        assert chair["support"] == pytest.approx(4 / 5, abs=1e-3)
        assert [(r["cid"], r["accepted_by"]) for r in chair["rivals"]] == [
            (x, sorted(agents[i] for i in (0, 1, 3, 4))), (y, [agents[2]])]
        shown = troth(n4, "show", x)
        assert shown["accepted_by"] == sorted(agents[i] for i in (0, 1, 3, 4))

        # -- contested: n3 builds on n1's claim, n4 on n2's, n0 on neither
        s = troth(n1, "promise", "I keep the books", "--scope", scope, "--slot", "treasurer")
        t = troth(n2, "promise", "I keep the books", "--scope", scope, "--slot", "treasurer")
        wait_for(lambda: all(holds(p, [s["cid"], t["cid"]]) for p in procs),
                 "every node to hold both treasurer claims")
        troth(n3, "promise", "n1 keeps them", "--scope", scope, "--deps", s["cid"])
        troth(n4, "promise", "n2 keeps them", "--scope", scope, "--deps", t["cid"])
        contested = (min(s["cid"], t["cid"]), "contested")  # 2/5 each: ties by cid
        wait_for(lambda: all(report(p, scope).get("treasurer") == contested for p in procs),
                 "every node to see the treasurer set contested, with the same leader")

        # -- a late rival for the settled chair does not flip it
        late = troth(n2, "promise", "I chair after all", "--scope", scope,
                     "--slot", "chair")["cid"]
        wait_for(lambda: all(holds(p, [late]) for p in procs), "every node to hold the rival")
        wait_for(lambda: len({p.ident()["frontier_digest"] for p in procs}) == 1,
                 "all nodes to hold the same tokens")
        for p in procs:
            assert report(p, scope) == {"chair": settled, "treasurer": contested}
            chair = next(r for r in p.http.get("/v1/conflicts").json()
                         if r["key"].get("slot") == "chair")
            assert {r["cid"] for r in chair["rivals"]} == {x, y, late}
            assert chair["support"] == pytest.approx(4 / 5, abs=1e-3)
        # the runtime logged the change: one structured line per consensus change
        assert "event=consensus kind=slot" in (tmp_path / "n0" / "run.log").read_text()
    finally:
        for p in procs:
            if p.proc is not None and p.proc.poll() is None:
                p.stop()
