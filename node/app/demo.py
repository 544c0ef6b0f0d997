"""`troth demo`: five real nodes on loopback, a small promise network end to end.

Theory of operation: the demo is a user of troth, not a test double. It makes a
home per node (`Home.init`), starts one `troth run` process per node on
127.0.0.1 (the first is the others' bootstrap peer), and drives them only
through their local HTTP APIs, as the CLI does. The story makes, fulfils,
breaks and assesses promises so that the nodes' *observer-relative* views
differ for reasons one can read, and prints every node's verdicts and trust
side by side; then a community votes (a member votes twice, a non-member tries
to vote, a member is offline during the vote and catches up) and each node's
view of the outcome is printed. Finally it stops every process (SIGTERM, then SIGKILL after a grace
period) and leaves nothing running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from node.store.home import CONFIG_TEMPLATE, Home, edit_config

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
START_TIMEOUT_S = 30.0
SPREAD_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
# Small on purpose: the demo's promises fall due within seconds.
DEMO_CONFIG = edit_config(CONFIG_TEMPLATE, {
    "sync": {"interval_s": 0.5},
    "trust": {"skew_allowance_s": 1.0},
    "log": {"level": "warning"},
})


class DemoError(Exception):
    pass


def _wait(cond: Callable[[], Any], what: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {what}")


class DemoNode:
    def __init__(self, name: str, home: Home) -> None:
        self.name = name
        self.home = home
        self.agent = home.identity().agent_id
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: httpx.Client | None = None
        self.listen: list[str] = []

    def start(self, bootstrap: list[str]) -> None:
        args = [sys.executable, "-m", "node", "--home", str(self.home.path), "run"]
        for b in bootstrap:
            args += ["--bootstrap", b]
        log = open(self.home.path / "run.log", "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = (self.home.path / "run.log").read_text()[-1500:]
            raise DemoError(f"{self.name}'s node exited:\n{tail}")
        info = self.home.runtime()
        if not info or info.get("pid") != self.proc.pid:
            return False
        self.listen = list(info["listen"])
        self.http = httpx.Client(base_url=str(info["api"]), timeout=10, headers={
            "Authorization": f"Bearer {self.home.api_token()}"})
        return True

    def call(self, method: str, path: str, **kw: Any) -> Any:
        assert self.http is not None
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            raise DemoError(f"{self.name}: {method} {path} -> {r.status_code} {r.text}")
        return r.json()

    def holds(self, cid: str) -> bool:
        assert self.http is not None
        return self.http.get(f"/v1/tokens/{cid}").status_code == 200

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if hasattr(self, "_log"):
            self._log.close()


def run_demo(nodes: int = 5, workdir: Path | None = None,
             echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    say = echo or (lambda _s: None)
    if not 3 <= nodes <= len(NAMES):
        raise ValueError(f"the demo runs 3..{len(NAMES)} nodes, not {nodes}")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="troth-demo-")
        workdir = Path(tmp.name)
    names = NAMES[:nodes]
    team: list[DemoNode] = []
    try:
        for name in names:
            home, _ = Home.init(workdir / name, config=DEMO_CONFIG, force=True,
                                replace_config=True)
            team.append(DemoNode(name, home))
        say(f"starting {nodes} troth nodes on 127.0.0.1 (homes in {workdir}) ...")
        first = team[0]
        first.start([])
        _wait(first.ready, "the first node to start", START_TIMEOUT_S)
        for n in team[1:]:
            n.start([first.listen[0]])
        for n in team[1:]:
            _wait(n.ready, f"{n.name}'s node to start", START_TIMEOUT_S)
        _wait(lambda: len(first.call("GET", "/v1/peers")) >= nodes - 1,
              "every node to connect", START_TIMEOUT_S)
        for n in team:
            say(f"  {n.name:<6} {n.agent}  {n.listen[0]}")
        result = _story(team, say)
        result["vote"] = _vote(team, say)
        return result
    finally:
        for n in team:
            n.stop()
        if tmp is not None:
            tmp.cleanup()


def _story(team: list[DemoNode], say: Callable[[str], None]) -> dict[str, Any]:
    alice, bob, carol, dave, erin = team[:5]
    by_agent = {n.agent: n.name for n in team}

    def spread(tok: dict[str, Any]) -> dict[str, Any]:
        _wait(lambda: all(n.holds(tok["cid"]) for n in team), f"{tok['cid']} to spread",
              SPREAD_TIMEOUT_S)
        return tok

    def promise(n: DemoNode, text: str, **kw: Any) -> dict[str, Any]:
        tok = spread(n.call("POST", "/v1/promises", json={"text": text, **kw}))
        say(f"* {n.name} promises: {text!r}")
        return tok

    say("")
    now = int(time.time())
    water = promise(alice, "I will water the community garden", due=now + 4)
    bread = promise(bob, "I will bring bread to the meeting", due=now + 3)
    fence = promise(carol, "I will fix the fence")
    seedlings = promise(dave, "I will plant seedlings once the garden is watered",
                        deps=[water["cid"]])
    say("  (dave's promise lists alice's in deps: he builds on it, accepting it)")
    spread(alice.call("POST", "/v1/fulfil", json={"cid": water["cid"],
                                                  "evidence": "photo sha256:5d41402abc4b"}))
    say("* alice publishes evidence that the garden was watered")
    spread(carol.call("POST", "/v1/retract", json={"cid": fence["cid"]}))
    say("* carol retracts her fence promise (a retraction counts as broken)")
    spread(dave.call("POST", "/v1/assess", json={"cid": water["cid"], "verdict": "kept",
                                                 "reason": "I saw it watered"}))
    say("* dave assesses alice's promise: kept")
    spread(carol.call("POST", "/v1/assess", json={"cid": water["cid"], "verdict": "broken",
                                                  "reason": "the beds looked dry"}))
    say("* carol bad-mouths alice: 'broken' (but her own view only binds herself)")
    spread(erin.call("POST", "/v1/assess", json={"cid": bread["cid"], "verdict": "kept",
                                                 "reason": "bob is my friend"}))
    say("* erin vouches for bob's bread: 'kept' (bob never published any evidence)")
    say("* ... waiting for bob's deadline to pass on every node's own clock")
    _wait(lambda: all(n.call("GET", f"/v1/tokens/{bread['cid']}")["verdict"]["state"]
                      != "pending" for n in team), "bob's promise to be judged", 30)
    promises = [("alice/water", water), ("bob/bread", bread), ("carol/fence", fence),
                ("dave/seedlings", seedlings)]
    views: dict[str, Any] = {}
    say("")
    say("Verdicts, as each node sees them (rows: promises; columns: observers):")
    say(f"  {'':<16}" + "".join(f"{n.name:<10}" for n in team))
    for label, tok in promises:
        row = []
        for n in team:
            v = n.call("GET", f"/v1/tokens/{tok['cid']}")["verdict"]
            views.setdefault(n.name, {}).setdefault("verdicts", {})[label] = v
            row.append(v["state"])
        say(f"  {label:<16}" + "".join(f"{s:<10}" for s in row))
    say("")
    say("Trust (expectation E = belief + base_rate x uncertainty), as each node sees it:")
    say(f"  {'':<16}" + "".join(f"{n.name:<10}" for n in team))
    for subject in team:
        row = []
        for n in team:
            o = n.call("GET", "/v1/trust", params={"agent": subject.agent})[0]
            views[n.name].setdefault("trust", {})[subject.name] = o
            row.append(f"{o['expectation']:.2f}")
        say(f"  {subject.name:<16}" + "".join(f"{s:<10}" for s in row))
    say("")
    say("Why they differ: each node's own assessment beats hearsay. carol sees alice's")
    say("promise as broken because she said so herself; erin sees bob's as kept; everyone")
    say("else judges from evidence (alice's fulfilment, bob's silence past his deadline).")
    counts = {n.name: n.call("GET", "/v1/id")["tokens"] for n in team}
    same = len(set(counts.values())) == 1
    say(f"\nevery node holds {counts[team[0].name]} tokens: "
        + ("the same set everywhere" if same else f"NOT converged: {counts}"))
    return {"agents": by_agent, "views": views, "tokens": counts, "converged": same}


VOTE_OPEN_S = 8


def _vote(team: list[DemoNode], say: Callable[[str], None]) -> dict[str, Any]:
    """A community vote: charter, proposal, ballots, an offline member, tallies."""
    alice, bob, carol, dave, erin = team[:5]

    def spread(tok: dict[str, Any], among: list[DemoNode]) -> dict[str, Any]:
        _wait(lambda: all(n.holds(tok["cid"]) for n in among), f"{tok['cid']} to spread",
              SPREAD_TIMEOUT_S)
        return tok

    say("")
    say("-- a community vote " + "-" * 50)
    members = [bob.agent, carol.agent, dave.agent]
    charter = spread(alice.call("POST", "/v1/charters", json={
        "name": "Garden club", "members": members, "quorum": "1/2", "threshold": "2/3"}), team)
    scope = charter["cid"]
    say(f"* alice founds the Garden club with bob, carol and dave (scope {scope[:16]}…);")
    say("  erin is not a member")
    prop = spread(alice.call("POST", "/v1/proposals", json={
        "scope": scope, "title": "Buy a shared lawnmower?", "options": ["yes", "no"],
        "closes": int(time.time()) + VOTE_OPEN_S}), team)
    say(f"* alice proposes: 'Buy a shared lawnmower?' (closes in {VOTE_OPEN_S}s)")
    dave.stop()
    say("* dave's node goes offline")
    online = [alice, bob, carol, erin]

    def ballot(n: DemoNode, choice: str) -> dict[str, Any]:
        return spread(n.call("POST", "/v1/ballots", json={"proposal": prop["cid"],
                                                         "choices": [choice]}), online)

    ballot(alice, "yes")
    say("* alice votes yes")
    ballot(bob, "no")
    ballot(bob, "yes")
    say("* bob votes no, then changes his mind: yes (his later ballot supersedes the first)")
    ballot(carol, "no")
    say("* carol votes no")
    ballot(erin, "yes")
    say("* erin, not a member, votes yes (kept as evidence, never counted)")
    say("* ... the vote closes; each member's node publishes its tally (its exact cut)")
    _wait(lambda: all(n.call("GET", f"/v1/proposals/{prop['cid']}")["outcome"]["state"]
                      == "decided" for n in online), "the online nodes to decide",
          VOTE_OPEN_S + 30)
    dave.start([alice.listen[0]])
    _wait(dave.ready, "dave's node to restart", START_TIMEOUT_S)
    say("* dave's node comes back and catches up by sync; the ballots reach it after the "
        "close,\n  so on its clock they are late: its own tally counts none of them (the "
        "outcome\n  rests on the members who were online)")
    _wait(lambda: len([t for t in dave.call("GET", f"/v1/proposals/{prop['cid']}")
                       ["outcome"]["tallies"] if t["status"] == "counted"]) == 4,
          "dave to catch up and all four member tallies to count", 40)
    say("")
    say("The outcome as each node sees it:")
    outcomes: dict[str, Any] = {}
    for n in team:
        out = n.call("GET", f"/v1/proposals/{prop['cid']}")["outcome"]
        outcomes[n.name] = out
        support = ", ".join(f"{s['members']} say {s['result'] or 'nothing (no ballots)'}"
                            for s in out["support"])
        say(f"  {n.name:<6} {out['state']:<8} -> {out['result']}   (member tallies: {support})")
    say("")
    say("Was my vote counted? (troth tally PROPOSAL --explain)")
    explained: dict[str, Any] = {}
    for n in (bob, erin):
        e = n.call("GET", f"/v1/proposals/{prop['cid']}", params={"explain": True})[
            "explanation"]
        explained[n.name] = e
        states = "; ".join(f"#{b['seq']} {','.join(b['choice'])}: {b['state']}"
                           for b in e["ballots"])
        attested = sum(1 for _i, c in e["attestations"] if c and c == e["counted"])
        say(f"  {n.name:<6} {states}  -> counted by {attested} member tallies")
    return {"scope": scope, "proposal": prop["cid"], "outcomes": outcomes,
            "explanations": explained}
