"""A small lab of Linux network namespaces for tests that need real networks.

`Lab` makes a "switch" namespace holding a bridge, and one namespace per host,
each joined to the bridge by a veth pair whose host end is `eth0` with an
address in `SUBNET`. Nothing is created in the test process's own namespace,
so labs of concurrent tests never collide: every namespace name carries a
random suffix. `Lab.close()` kills what runs inside and deletes every
namespace (their interfaces go with them).

A `Node` is a real `troth run` process inside a host namespace. The test
process cannot reach a namespace's loopback, where the node's API listens, so
each host gets one `ApiAgent`: a Python process inside the namespace that
forwards JSON lines (method, path, body) to the node's HTTP API, as the CLI
would, and answers with the status and JSON body.

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); `lab_or_skip()` says why not.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from node.store.home import Home
from tests.harness import ROOT, TROTH, runtime_info, troth_run, wait_for

__all__ = ["Lab", "Node", "ApiAgent", "lab_or_skip", "SUBNET"]

SUBNET = "10.77.0"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def lab_or_skip() -> str | None:
    """None if this process can make network namespaces, else why not."""
    if os.geteuid() != 0:
        return "network namespace tests need root (ip netns add)"
    name = f"troth-probe-{secrets.token_hex(4)}"
    try:
        _ip("netns", "add", name)
    except FileNotFoundError:
        return "the `ip` command (iproute2) is not installed"
    except subprocess.CalledProcessError as exc:
        return f"`ip netns add` failed: {exc.stderr.decode(errors='replace').strip()}"
    _ip("netns", "del", name)
    return None


class Lab:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.switch = f"troth-{self.tag}-sw"
        self.hosts: dict[str, str] = {}  # host name -> namespace
        self._procs: list[subprocess.Popen[bytes]] = []
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")

    def add_host(self, name: str, last_octet: int) -> str:
        """A namespace `name` on the bridge at SUBNET.<last_octet>/24; returns its IP."""
        ns = f"troth-{self.tag}-{name}"
        port = f"v{len(self.hosts)}"
        _ip("netns", "add", ns)
        self.hosts[name] = ns
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", ns)
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", "eth0", "up")
        return self.set_address(name, last_octet)

    def set_address(self, name: str, last_octet: int) -> str:
        """Give host `name` a new (only) address: the host has moved."""
        ns = self.hosts[name]
        _ip("-n", ns, "addr", "flush", "dev", "eth0")
        ip = f"{SUBNET}.{last_octet}"
        _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        return ip

    def popen(self, name: str, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["ip", "netns", "exec", self.hosts[name], *args],
                                cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), **kw)
        self._procs.append(proc)
        return proc

    def run(self, name: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.hosts[name], *args], cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                              text=True, timeout=60)

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for ns in [*self.hosts.values(), self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


# Standard library only: it starts in ~50 ms, beside nodes that take seconds.
_AGENT = r"""
import json, sys, urllib.error, urllib.request
from pathlib import Path
home = Path(sys.argv[1])
for line in sys.stdin:
    req = json.loads(line)
    try:
        api = json.loads((home / "node.json").read_text())["api"]
        token = (home / "api-token").read_text().strip()
        data = None if req["body"] is None else json.dumps(req["body"]).encode()
        r = urllib.request.Request(api + req["path"], data=data, method=req["method"],
                                   headers={"Authorization": "Bearer " + token,
                                            "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=10) as answer:
                out = {"status": answer.status, "body": json.loads(answer.read())}
        except urllib.error.HTTPError as exc:
            out = {"status": exc.code, "body": json.loads(exc.read() or b"null")}
    except Exception as exc:
        out = {"status": 0, "body": repr(exc)}
    print(json.dumps(out), flush=True)
"""


class ApiAgent:
    """Calls a node's HTTP API from inside its namespace (see the module doc)."""

    def __init__(self, lab: Lab, host: str, home: Path) -> None:
        self._proc = lab.popen(host, [sys.executable, "-c", _AGENT, str(home)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write((json.dumps({"method": method, "path": path, "body": body})
                                + "\n").encode())
        self._proc.stdin.flush()
        out = json.loads(self._proc.stdout.readline())
        return int(out["status"]), out["body"]


class Node:
    """A `troth run` process in host namespace `host` of `lab`."""

    def __init__(self, lab: Lab, host: str, home: Path) -> None:
        self.lab = lab
        self.host = host
        self.home = Home(home)
        if not self.home.identity_path.exists():
            Home.init(home)
        self.agent_id = self.home.identity().agent_id
        self.log = home / "run.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = ApiAgent(lab, host, home)

    def start(self, *flags: str) -> dict[str, Any]:
        """Run the node with `flags`; its node.json once it is up."""
        self.launch(*flags)
        return self.started()

    def launch(self, *flags: str) -> None:
        """Start the node with `flags` (`started()` waits for it)."""
        with open(self.log, "ab") as fh:
            self.proc = self.lab.popen(self.host, troth_run(self.home.path, *flags),
                                       stdout=fh, stderr=subprocess.STDOUT)

    def started(self) -> dict[str, Any]:
        assert self.proc is not None
        proc = self.proc
        return dict(wait_for(lambda: runtime_info(proc, self.home, self.log),
                             f"{self.host} to start"))

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def get(self, path: str) -> Any:
        status, body = self.api.call("GET", path)
        assert status == 200, (self.host, path, status, body)
        return body

    def promise(self, text: str) -> str:
        status, body = self.api.call("POST", "/v1/promises", {"text": text})
        assert status == 201, (self.host, status, body)
        return str(body["cid"])

    def holds(self, cid: str) -> bool:
        return self.api.call("GET", f"/v1/tokens/{cid}")[0] == 200

    def connected(self) -> set[str]:
        return {r["peer"] for r in self.get("/v1/peers") if r["connected"]}

    def cli(self, *args: str) -> str:
        done = self.lab.run(self.host, [*TROTH, "--home", str(self.home.path), *args])
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout
