"""Valid spam: a flood of tokens from fresh identities at one node, over real libp2p.

Everything runs on 127.0.0.1 with real py-libp2p hosts (Noise, yamux, gossipsub).

The cast. The *victim* is a real `python -m node run` process with its own home
and SQLite store, admission on (docs/decisions/0006-admission.md). Three
*honest* nodes (`Runtime`s in this process, each with its own home and store)
are connected to the victim only, so every honest token they exchange passes
through it. The victim charters a community of the four (through its HTTP
API, as a user would) and each honest node builds on the charter: all four
are inside each other's horizon. The *attacker* is a bare `P2PNode` in a
process of its own, connected to the victim only; it publishes valid tokens
from `--identities` fresh identities, `--per-identity` each (seq-major: every
identity's first token, then every second one, ...), as fast as it can.
The tokens are signed beforehand in a pool of processes and kept in a cache
directory, so a second run does not sign them again.

The attacker stays connected until the victim has judged every flood token
(taken, ignored or rate-limited, by its `GET /v1/stats`): what waits in the
link (yamux lets up to 16 MiB wait at the victim's end) would be lost with
it, and the victim reads one neighbour at its per-neighbour rate however
fast the attacker writes.

Honest traffic runs throughout: one honest token every `--interval-s`, from
the honest nodes in turn, each stamped when the other two accept it (their
`_dispatch` is wrapped, as bench/net.py does). Three periods: *before* the
flood (the baseline, same run, same machine, `--period-s`), *during* it
(from the first flood message until the victim has judged the last, at least
`--period-s`), and *after* it (recovery, `--period-s`).

Figures: the victim's store growth (tokens held before and after: bounded by
the strangers' budget), its peak RSS (VmHWM) and RSS at rest, the admission
and gossip counters it reports on `GET /v1/stats`, the attacker's publish
rate, and honest propagation p50/p99 per period. The headline is p50 during
the flood over p50 before it (target <= 2).

    python -m bench.flood [--identities 10000] [--per-identity 100] [--small]
                          [--quota Q] [--budget B] [--peer-rate R] [--peer-burst N]
                          [--period-s S] [--sync-interval S] [--workers N] [--cache DIR]
                          [--bundle 256]

The attacker sends its tokens in bundles of `--bundle` (default 256; 1: one
message a token, which at the victim's per-neighbour rate of 100 messages/s
would take it about 3 h to read the full million). `--small` is 200
identities x 5 tokens with a budget of 100 (the size the test in
tests/test_flood.py runs). The attacker shares this machine's two
cores with the victim and the honest nodes, which an attacker elsewhere
would not: the ratio is pessimistic.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import tomlkit
import trio
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX

import wire
from bench.net import percentile, proc_status, running_node, wait_until
from node.app.runtime import Runtime
from node.core import DEFAULT_TOPIC, Output, TokenAccepted
from node.net.p2p import P2PNode
from node.store.home import Config, Home

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 60.0
HONEST = 3
# Identities signed per pool task: one cache file each.
IDENTITIES_PER_FILE = 100
# The attacker keeps at most this many messages queued for the victim
# (py-libp2p's queue holds 2048 and drops the rest).
ATTACK_QUEUE_MAX = 1024
# How long the attacker stays connected, at most, for the victim to read what
# waits in the link (at its per-neighbour rate, 100 a second by default).
JUDGE_WAIT_MAX_S = 1800.0


# -- minting ---------------------------------------------------------------------

def flood_identity(i: int) -> wire.Identity:
    return wire.Identity.from_seed(hashlib.sha256(b"troth-flood-identity-%d" % i).digest())


def _mint_file(first: int, count: int, per: int, path: str) -> str:
    """Sign `per` tokens for each identity first..first+count-1, seq-major,
    into `path` (4-byte big-endian length + token bytes, repeated)."""
    chains: list[list[bytes]] = []
    for i in range(first, first + count):
        ident = flood_identity(i)
        prev: str | None = None
        chain = []
        for s in range(1, per + 1):
            t = wire.sign_token(ident, wire.Claims(
                issuer=ident.agent_id, iat=1_790_000_000 + s, seq=s, kind="promise", prev=prev,
                body={"text": f"fresh identity {i} promises {s}"}))
            prev = t.cid
            chain.append(t.raw)
        chains.append(chain)
    tmp = path + ".part"
    with open(tmp, "wb") as fh:
        for s in range(per):
            for chain in chains:
                fh.write(len(chain[s]).to_bytes(4, "big") + chain[s])
    os.replace(tmp, path)
    return path


def mint(identities: int, per: int, workers: int, cache: Path) -> tuple[list[Path], float]:
    """The flood's token files (signed now, or found in `cache`) and the seconds signing took."""
    cache.mkdir(parents=True, exist_ok=True)
    jobs = []
    for first in range(0, identities, IDENTITIES_PER_FILE):
        count = min(IDENTITIES_PER_FILE, identities - first)
        path = cache / f"flood-{first:06d}-{count}x{per}.bin"
        jobs.append((first, count, per, str(path)))
    todo = [j for j in jobs if not Path(j[3]).exists()]
    t0 = time.perf_counter()
    if todo and workers <= 1:  # (a pool's start-up costs more than a small flood)
        for job in todo:
            _mint_file(*job)
    elif todo:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.starmap(_mint_file, todo)
    return [Path(j[3]) for j in jobs], time.perf_counter() - t0


def read_tokens(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    at = 0
    while at < len(data):
        n = int.from_bytes(data[at:at + 4], "big")
        yield data[at + 4:at + 4 + n]
        at += 4 + n


# -- the attacker ------------------------------------------------------------------

async def publish_in_one_rpc(node: P2PNode, peer: str, topic: str, datas: list[bytes]) -> None:
    """Send `datas` to `peer` as gossip messages signed by `node`, all in one
    pubsub RPC (py-libp2p writes one RPC per message; an attacker need not:
    the receiver then reads and verifies one peer record for all of them).
    Reaches into py-libp2p past `P2PNode`'s API, as an attacker would."""
    pubsub = node._pubsub
    assert pubsub.sign_key is not None  # (strict signing: P2PNode always has one)
    msgs = []
    for data in datas:
        msg = rpc_pb2.Message(data=data, topicIDs=[topic], from_id=pubsub.my_id.to_bytes(),
                              seqno=pubsub._next_seqno())
        msg.signature = pubsub.sign_key.sign(PUBSUB_SIGNING_PREFIX.encode()
                                             + msg.SerializeToString())
        msg.key = pubsub.host.get_public_key().serialize()
        msgs.append(msg)
    stream = pubsub.peers[ID.from_base58(peer)]
    if not await pubsub.write_msg(stream, rpc_pb2.RPC(publish=msgs)):
        raise RuntimeError(f"the stream to {peer} is closed")


async def attack(victim: str, files: list[Path], *, rate_per_s: float = 0.0, bundle: int = 1,
                 judged: Callable[[], Awaitable[int]] | None = None,
                 published: Callable[[int, float], Awaitable[None]] | None = None,
                 ) -> tuple[int, float]:
    """Publish every token of `files` at `victim` (a multiaddr) as fast as
    possible (or at `rate_per_s`), `bundle` tokens a gossip message (1: bare
    tokens; more: bundles, docs/decisions/0016-gossip-bundles.md); returns
    (tokens, seconds). `judged`: how
    many the victim has judged so far; if given, stay connected until it has
    judged them all (what it had not read yet would be lost with the link:
    yamux lets up to 16 MiB wait at the victim's end). `published(sent,
    seconds)`: awaited once all left the queue, before that wait (the
    attacker process reports there and waits to be told to go)."""
    async with P2PNode.start(hashlib.sha256(b"troth-flood-attacker").digest()) as node:
        await node.subscribe(DEFAULT_TOPIC)
        peer = await node.connect(victim)
        with trio.fail_after(WAIT_S):
            while peer not in node.mesh_peers(DEFAULT_TOPIC):
                await trio.sleep(0.05)
        sent = 0
        t0 = trio.current_time()
        for path in files:
            raws = list(read_tokens(path))
            for i in range(0, len(raws), bundle):
                group = raws[i:i + bundle]
                # As fast as the link takes them: py-libp2p drops what
                # overflows its outbound queue, which would only flatter us.
                while node.outbound_queued(peer) >= ATTACK_QUEUE_MAX:
                    await trio.sleep(0.002)
                await node.publish(DEFAULT_TOPIC, wire.encode_bundle(group)
                                   if len(group) > 1 else group[0])
                sent += len(group)
                if rate_per_s:
                    ahead = t0 + sent / rate_per_s - trio.current_time()
                    if ahead > 0:
                        await trio.sleep(ahead)
        with trio.move_on_after(WAIT_S):
            while node.outbound_queued(peer):
                await trio.sleep(0.01)  # the last ones leave the queue
        seconds = trio.current_time() - t0
        if published is not None:
            await published(sent, seconds)
        if judged is not None:
            with trio.move_on_after(JUDGE_WAIT_MAX_S):
                while await judged() < sent:
                    await trio.sleep(0.2)
        return sent, seconds


# -- the victim process ---------------------------------------------------------------

@dataclass
class Victim:
    proc: subprocess.Popen[bytes]
    home: Home
    http: httpx.Client
    agent_id: str
    listen: str

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/v1/stats").json())

    def holds(self, cid: str) -> bool:
        return self.http.get(f"/v1/tokens/{cid}").status_code == 200

    def judged_strangers(self) -> int:
        """Stranger tokens admission has judged (taken or ignored), and
        gossip the rate limit ignored before anyone judged it."""
        s = self.stats()
        adm = s["admission"]
        return (adm["admitted"]["stranger"] + sum(adm["ignored"].values())
                + s["gossip"]["rate_limited"])


def admission_config(quota: int, budget: int, rate: float | None,
                     burst: float | None) -> dict[str, Any]:
    adm: dict[str, Any] = {"stranger_quota": quota, "stranger_budget": budget}
    if rate is not None:
        adm["peer_gossip_rate_per_s"] = rate
    if burst is not None:
        adm["peer_gossip_burst"] = burst
    return adm


@contextmanager
def victim_process(workdir: Path, admission: dict[str, Any],
                   sync_interval_s: float) -> Iterator[Victim]:
    """A `python -m node run` on a fresh home with these [admission] settings."""
    home, identity = Home.init(workdir / "victim")
    # (Every other setting at its default; `troth run` validates the file.)
    # No peer exchange: the honest nodes must not learn of each other (they
    # would connect and pass their tokens round the victim).
    home.config_path.write_text(tomlkit.dumps({"network": {"peer_exchange": False},
                                               "sync": {"interval_s": sync_interval_s},
                                               "admission": admission}))
    with running_node(home, workdir / "victim.log") as node:
        yield Victim(proc=node.proc, home=home, http=node.http, agent_id=identity.agent_id,
                     listen=str(node.info["listen"][0]))


# -- the honest side --------------------------------------------------------------------

@dataclass
class Honest:
    rts: list[Runtime]
    accepted_at: list[dict[str, float]] = field(default_factory=list)
    # Per period, the delivery times (ms) of honest tokens at the other honest nodes.
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    timeouts: int = 0

    def hook(self) -> None:
        self.accepted_at = [{} for _ in self.rts]
        for i, rt in enumerate(self.rts):
            original = rt._dispatch
            seen = self.accepted_at[i]

            def dispatch(outs: list[Output], *, _orig: Callable[..., None] = original,
                         _seen: dict[str, float] = seen, **kw: Any) -> None:
                now = time.perf_counter()
                for o in outs:
                    if isinstance(o, TokenAccepted) and o.token.cid not in _seen:
                        _seen[o.token.cid] = now
                _orig(outs, **kw)

            rt._dispatch = dispatch  # type: ignore[method-assign]

    def issue(self, at: int, **kw: Any) -> wire.Token:
        rt = self.rts[at]
        assert rt.engine is not None
        tok, outs = rt.engine.issue(now=rt.clock(), **kw)
        rt._dispatch(outs)
        return tok

    async def traffic(self, period: str, seconds: float, interval_s: float, k0: int,
                      until: trio.Event | None = None) -> int:
        """One honest token every `interval_s` for `seconds` (and on until
        `until` is set, if given); each is timed at the two other honest nodes
        (in the background, so a slow one does not hold back the next).
        Returns how many were issued."""
        lat = self.latencies_ms.setdefault(period, [])
        k = 0

        async def time_it(cid: str, at: int, t0: float) -> None:
            others = [j for j in range(len(self.rts)) if j != at]
            with trio.move_on_after(WAIT_S) as scope:
                while not all(cid in self.accepted_at[j] for j in others):
                    await trio.sleep(0.002)
            if scope.cancelled_caught:
                self.timeouts += 1
                return
            lat.extend((self.accepted_at[j][cid] - t0) * 1000 for j in others)

        async with trio.open_nursery() as nursery:
            start = trio.current_time()
            flooding = until is not None and not until.is_set()
            while trio.current_time() - start < seconds or flooding:
                at = (k0 + k) % len(self.rts)
                t0 = time.perf_counter()
                tok = self.issue(at, kind="promise", body={"text": f"honest {k0 + k}"})
                self.issued.append(tok.cid)
                nursery.start_soon(time_it, tok.cid, at, t0)
                k += 1
                await trio.sleep_until(start + k * interval_s)
                flooding = until is not None and not until.is_set()
        return k


async def join_community(victim: Victim, honest: Honest) -> str:
    """The victim charters the four (through its API); each honest node builds
    on the charter. Returns the charter's cid once all four hold every step."""
    members = sorted([victim.agent_id, *(rt.identity.agent_id for rt in honest.rts)])
    r = await trio.to_thread.run_sync(lambda: victim.http.post(
        "/v1/charters", json={"name": "flood-bench", "members": members}))
    r.raise_for_status()
    charter = str(r.json()["cid"])
    await wait_until(lambda: all(rt.engine is not None and rt.engine.core.has(charter)
                               for rt in honest.rts), "the charter at the honest nodes")
    builds = [honest.issue(i, kind="promise", body={"text": "we are in"}, deps=(charter,))
              for i in range(len(honest.rts))]
    await wait_until(lambda: all(rt.engine is not None and rt.engine.core.has(t.cid)
                               for rt in honest.rts for t in builds), "honest tokens everywhere")
    return charter


@dataclass
class FloodResult:
    identities: int
    per_identity: int
    sign_s: float
    sent: int
    attack_s: float
    flood_s: float  # from the first flood message to the victim having judged them all
    before: dict[str, Any]
    after: dict[str, Any]
    rss_rest: int
    rss_peak: int
    latencies_ms: dict[str, list[float]]
    timeouts: int
    honest_missing: int  # (honest node, honest token) pairs not held at the end
    victim_missing: int  # honest tokens the victim does not hold at the end
    honest_issued: int
    inspected: Any = None  # what `inspect` returned


async def run_flood(workdir: Path, files: list[Path], *, identities: int, per: int,
                    admission: dict[str, Any], period_s: float, interval_s: float,
                    attacker_in_process: bool, sign_s: float = 0.0,
                    attacker_rate_per_s: float = 0.0, sync_interval_s: float = 5.0,
                    bundle: int = 1,
                    inspect: Callable[[Victim], Any] | None = None) -> FloodResult:
    """The whole run: victim up, honest nodes joined, before / during / after.
    `inspect(victim)` runs (in a thread) at the end, while the victim is up."""
    with victim_process(workdir, admission, sync_interval_s) as victim:
        homes = [Home.init(workdir / f"honest{i}") for i in range(HONEST)]
        honest = Honest(rts=[Runtime(h, ident, Config(sync_interval_s=sync_interval_s,
                                                      peer_exchange=False))
                             for h, ident in homes])
        async with trio.open_nursery() as nursery:
            for rt in honest.rts:
                await nursery.start(lambda task_status, rt=rt: rt.run(
                    handle_signals=False, task_status=task_status))
            honest.hook()
            for rt in honest.rts:
                assert rt.p2p is not None
                await rt.p2p.connect(victim.listen)
            await wait_until(lambda: all(victim.agent_id in rt.p2p.mesh_peers(DEFAULT_TOPIC)
                                       for rt in honest.rts if rt.p2p), "the honest mesh")
            await join_community(victim, honest)
            before = await trio.to_thread.run_sync(victim.stats)
            rss_rest = proc_status(victim.proc.pid, "VmRSS")
            k = await honest.traffic("before", period_s, interval_s, 0)

            attack_result: list[tuple[int, float]] = []

            async def attacker() -> None:
                if attacker_in_process:
                    attack_result.append(await attack(
                        victim.listen, files, rate_per_s=attacker_rate_per_s, bundle=bundle,
                        judged=lambda: trio.to_thread.run_sync(victim.judged_strangers)))
                else:
                    attack_result.append(await trio.to_thread.run_sync(
                        attack_subprocess, victim, files, attacker_rate_per_s, bundle))
                attacked.set()
                flood_s.append(trio.current_time() - t_flood)

            attacked = trio.Event()
            flood_s: list[float] = []
            t_flood = trio.current_time()
            async with trio.open_nursery() as flood:
                flood.start_soon(attacker)
                # "During": until the victim has judged the whole flood.
                k += await honest.traffic("during", period_s, interval_s, k, until=attacked)
            k += await honest.traffic("after", period_s, interval_s, k)
            # (A timeout here is a finding, reported as tokens missing.)
            with trio.move_on_after(WAIT_S):
                while not all(rt.engine is not None and all(
                        rt.engine.core.has(c) for c in honest.issued) for rt in honest.rts):
                    await trio.sleep(0.1)
            victim_missing = await trio.to_thread.run_sync(
                lambda: wait_sync(lambda: [c for c in honest.issued if not victim.holds(c)]))
            after = await trio.to_thread.run_sync(victim.stats)
            rss_peak = proc_status(victim.proc.pid, "VmHWM")
            missing = sum(1 for rt in honest.rts for c in honest.issued
                          if rt.engine is None or not rt.engine.core.has(c))
            inspected = None if inspect is None else await trio.to_thread.run_sync(
                inspect, victim)
            for rt in honest.rts:
                rt.stop()
        sent, attack_s = attack_result[0]
        return FloodResult(identities=identities, per_identity=per, sign_s=sign_s, sent=sent,
                           attack_s=attack_s, flood_s=flood_s[0], before=before, after=after,
                           rss_rest=rss_rest,
                           rss_peak=rss_peak, latencies_ms=honest.latencies_ms,
                           timeouts=honest.timeouts, honest_missing=missing,
                           victim_missing=victim_missing,
                           honest_issued=len(honest.issued), inspected=inspected)


def wait_sync(missing: Callable[[], list[str]], timeout_s: float = WAIT_S) -> int:
    """Poll `missing()` until it is empty or `timeout_s` passes; how many are left."""
    deadline = time.monotonic() + timeout_s
    while (left := missing()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return len(left)


def attack_subprocess(victim: Victim, files: list[Path], rate_per_s: float,
                      bundle: int = 1) -> tuple[int, float]:
    """`attack` in a process of its own (as an attacker elsewhere would be).
    It reports when all left its queue and stays connected until the victim
    has judged them all (we close its stdin then)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.flood", "--attacker", victim.listen,
         "--attacker-rate", str(rate_per_s), "--bundle", str(bundle), *map(str, files)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline().split()
        if len(line) != 2:
            raise RuntimeError(f"the attacker process failed (exit {proc.wait()})")
        sent, seconds = int(line[0]), float(line[1])
        wait_sync(lambda: [] if victim.judged_strangers() >= sent else ["more"],
                  JUDGE_WAIT_MAX_S)
    finally:
        proc.stdin.close()
        proc.wait(WAIT_S)
    return sent, seconds


# -- report ---------------------------------------------------------------------------------

def report(r: FloodResult, budget: int) -> float:
    def mib(n: int) -> str:
        return f"{n / 2**20:.1f} MiB"

    b, a = r.before, r.after
    adm = a["admission"]
    signed = f"signed in {r.sign_s:.0f} s" if r.sign_s >= 0.5 else "signed before: the cache"
    print(f"flood: {r.identities:,} identities x {r.per_identity} tokens = "
          f"{r.identities * r.per_identity:,} valid tokens ({signed})")
    print(f"attacker: published {r.sent:,} in {r.attack_s:.1f} s "
          f"({r.sent / max(r.attack_s, 1e-9):,.0f}/s); the victim judged them within "
          f"{r.flood_s:.1f} s ({r.sent / max(r.flood_s, 1e-9):,.0f}/s)")
    grown = a["tokens"] - b["tokens"]
    print(f"victim store: {b['tokens']:,} -> {a['tokens']:,} tokens (+{grown:,}; honest "
          f"{r.honest_issued:,}; strangers' budget {adm['stranger_budget_used']:,} of "
          f"{adm['stranger_budget']:,})")
    print(f"victim admission: admitted {adm['admitted']}, ignored {adm['ignored']}")
    g = a["gossip"]
    print(f"victim gossip: signatures checked {g['verified']:,}, "
          f"delivered {g['delivered']:,}, rejected {g['rejected']:,}, "
          f"ignored {g['ignored']:,}, rate-limited {g['rate_limited']:,}, "
          f"dropped (queue full) {g['dropped_queue_full']:,}")
    print(f"victim RSS: {mib(r.rss_rest)} before the flood, peak {mib(r.rss_peak)}")
    p50 = {}
    for period in ("before", "during", "after"):
        lat = r.latencies_ms.get(period, [])
        if lat:
            p50[period] = statistics.median(lat)
            print(f"honest propagation {period:<6}: p50 {p50[period]:.1f} ms, "
                  f"p99 {percentile(lat, 0.99):.1f} ms ({len(lat)} deliveries)")
    print(f"honest tokens missing at the end: {r.honest_missing} (node, token) pairs at the "
          f"honest nodes, {r.victim_missing} at the victim; {r.timeouts} not timed within "
          f"{WAIT_S:.0f} s")
    print(f"store_growth_vs_budget: {grown - r.honest_issued} / {budget} "
          f"= {(grown - r.honest_issued) / max(budget, 1):.3f}")
    ratio = p50.get("during", float("inf")) / p50.get("before", float("nan"))
    print(f"flood_propagation_p50_ratio: {ratio:.2f}")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", type=int, default=10_000)
    ap.add_argument("--per-identity", type=int, default=100)
    ap.add_argument("--small", action="store_true",
                    help="200 identities x 5 tokens, quota 3, budget 100")
    ap.add_argument("--quota", type=int, default=None, help="the victim's stranger_quota")
    ap.add_argument("--budget", type=int, default=None, help="the victim's stranger_budget")
    ap.add_argument("--peer-rate", type=float, default=None,
                    help="the victim's peer_gossip_rate_per_s (default: the config's, 100)")
    ap.add_argument("--peer-burst", type=float, default=None,
                    help="the victim's peer_gossip_burst (default: the config's, 1000)")
    ap.add_argument("--period-s", type=float, default=None,
                    help="length of each period (before/during/after)")
    ap.add_argument("--interval-s", type=float, default=0.2, help="between honest tokens")
    ap.add_argument("--sync-interval", type=float, default=5.0,
                    help="every node's anti-entropy interval (the config default: 5 s)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "troth-flood")
    ap.add_argument("--attacker", help=argparse.SUPPRESS)  # (the attacker process's mode)
    ap.add_argument("--attacker-rate", type=float, default=0.0,
                    help="cap the attacker's publish rate (0: as fast as it can)")
    ap.add_argument("--bundle", type=int, default=256,
                    help="flood tokens per gossip message (2-256: bundles, default 256; "
                         "1: bare tokens)")
    ap.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.attacker:
        async def published(sent: int, seconds: float) -> None:
            print(sent, seconds, flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)  # until the bench says go

        trio.run(lambda: attack(args.attacker, args.files, rate_per_s=args.attacker_rate,
                                bundle=args.bundle,
                                published=published))
        return
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    if args.small:
        args.identities, args.per_identity = 200, 5
    quota = args.quota if args.quota is not None else (3 if args.small else 64)
    budget = args.budget if args.budget is not None else (100 if args.small else 10_000)
    files, sign_s = mint(args.identities, args.per_identity, args.workers, args.cache)
    period_s = args.period_s or (5.0 if args.small else 60.0)
    with tempfile.TemporaryDirectory(prefix="troth-flood-") as tmp:
        result = trio.run(lambda: run_flood(
            Path(tmp), files, identities=args.identities, per=args.per_identity,
            admission=admission_config(quota, budget, args.peer_rate, args.peer_burst),
            period_s=period_s,
            interval_s=args.interval_s, attacker_in_process=False, sign_s=sign_s,
            sync_interval_s=args.sync_interval,
            attacker_rate_per_s=args.attacker_rate, bundle=args.bundle))
    report(result, budget)


if __name__ == "__main__":
    main()
