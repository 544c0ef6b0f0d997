"""Benchmark of the observer (trust/): incrementality, throughput, query cost, memory.

Workload (seeded, synthetic): N tokens from A agents, each on its own chain:
promises (half with a `due`, some building on recent tokens), the promisers'
fulfilments (some late, some never), assessments (mostly honest, a bad-mouthing
tenth), plain "build" tokens with 1-3 deps on recent tokens (deps chains), a
few slot claims in a few scopes, and a few equivocations. Tokens are built as
`wire.Token` values directly (no signing): this measures the observer, not
Ed25519 (bench of wire is separate).

Figures (each `name: value`; the headline, the incrementality ratio, last):
- observe per-token cost (median over 20 chunks) in the 5% window before
  10% and before 100% of N, and their ratio (target <= 1.5: a token's cost
  must not grow with history); the two windows run on two observers, their
  chunks timed in alternation so machine noise hits both alike;
- observe tokens/s, and as a ratio to plain dict insertion of the same tokens;
- verdict for every promise + trust for every agent afterwards: total seconds;
- peak RSS of the process (target < 1 GiB at N = 100k).

Usage: python bench/trust.py [--small]   (--small: N = 10k, A = 100)
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wire  # noqa: E402
from trust import Observer  # noqa: E402

RECENT = 200  # deps and assessments pick among this many recent tokens


def fake_cid(n: int) -> str:
    return "bafkrei" + hashlib.sha256(n.to_bytes(8, "big")).hexdigest()[:52]


def workload(n_tokens: int, n_agents: int, seed: int = 1) -> list[wire.Token]:
    rng = random.Random(seed)
    agents = [f"12D3KooWagent{i:05d}" for i in range(n_agents)]
    heads: dict[str, tuple[int, str | None]] = {}
    open_promises: dict[str, list[wire.Token]] = {a: [] for a in agents}
    recent: list[wire.Token] = []
    recent_promises: list[wire.Token] = []
    scopes: list[str] = []
    out: list[wire.Token] = []
    n = 0
    while len(out) < n_tokens:
        a = agents[rng.randrange(n_agents)]
        seq, prev = heads.get(a, (0, None))
        iat = len(out)
        roll = rng.random()
        kind, about, deps, body, scope = "build", None, (), {}, None
        if roll < 0.35:
            kind = "promise"
            body = {"text": "p"}
            if rng.random() < 0.5:
                body["due"] = iat + rng.randrange(50, 5000)
            if recent and rng.random() < 0.5:
                deps = (recent[-1 - rng.randrange(min(RECENT, len(recent)))].cid,)
        elif roll < 0.55 and open_promises[a]:
            kind = "fulfil"
            p = open_promises[a].pop(rng.randrange(len(open_promises[a])))
            about = p.cid
            body = {"evidence": "done"}
        elif roll < 0.85 and recent_promises:
            kind = "assess"
            p = recent_promises[-1 - rng.randrange(min(RECENT, len(recent_promises)))]
            about = p.cid
            honest = int(a[-5:]) % 10 != 0
            verdict = "kept" if (rng.random() < 0.8) == honest else "broken"
            body = {"verdict": verdict, "reason": "r"}
        elif roll < 0.86 and recent:
            if not scopes or rng.random() < 0.1:
                scopes.append(recent[-1].cid)
            scope = scopes[-1 - rng.randrange(min(5, len(scopes)))]
            body = {"slot": f"slot{rng.randrange(3)}"}
            deps = (recent[-1].cid,)
        elif recent:
            k = 1 + rng.randrange(3)
            deps = tuple(sorted({recent[-1 - rng.randrange(min(RECENT, len(recent)))].cid
                                 for _ in range(k)}))
        n += 1
        cid = fake_cid(n)
        tok = wire.Token(cid=cid, raw=b"", issuer=a, iat=iat, seq=seq + 1, kind=kind, prev=prev,
                         scope=scope, deps=deps, about=about, body=body)
        heads[a] = (seq + 1, cid)
        out.append(tok)
        recent.append(tok)
        if len(recent) > 4 * RECENT:
            del recent[:RECENT]
        if kind == "promise":
            recent_promises.append(tok)
            if len(recent_promises) > 4 * RECENT:
                del recent_promises[:RECENT]
            if rng.random() < 0.8:
                open_promises[a].append(tok)
        if rng.random() < 0.0005 and seq >= 1:  # an equivocation: a second token at this seq
            n += 1
            twin = wire.Token(cid=fake_cid(n), raw=b"", issuer=a, iat=iat, seq=seq + 1,
                              kind="promise", prev=prev, scope=None, deps=(), about=None,
                              body={"text": "twin"})
            out.append(twin)
    return out[:n_tokens]


def with_rivals(tokens: list[wire.Token]) -> list[tuple[wire.Token, tuple[str, ...]]]:
    """Each token with its rivals (the cids before it at its issuer and seq), as
    the node core's index hands them to its observer; found before timing."""
    at: dict[tuple[str, int], list[str]] = {}
    out = []
    for t in tokens:
        seen = at.setdefault((t.issuer, t.seq), [])
        out.append((t, tuple(seen)))
        seen.append(t.cid)
    return out


def timed_observe(o: Observer, items: list[tuple[wire.Token, tuple[str, ...]]]) -> float:
    t0 = time.perf_counter()
    for t, rivals in items:
        o.observe(t, rivals)
    return time.perf_counter() - t0


def interleaved_medians(early: Observer, early_items: list[tuple[wire.Token, tuple[str, ...]]],
                        late: Observer, late_items: list[tuple[wire.Token, tuple[str, ...]]]
                        ) -> tuple[float, float]:
    """Per-token cost of two windows, as medians over 20 chunks each, timed in
    alternation (early chunk, late chunk, ...) so that a busy machine slows
    both alike: the ratio compares history sizes, not moments."""
    chunks = 20
    e_times: list[float] = []
    l_times: list[float] = []
    for i in range(chunks):
        for o, items, times in ((early, early_items, e_times), (late, late_items, l_times)):
            size = max(1, len(items) // chunks)
            part = items[i * size:(i + 1) * size]
            times.append(timed_observe(o, part) / len(part))
    e_times.sort()
    l_times.sort()
    return e_times[chunks // 2], l_times[chunks // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="N = 10k tokens, 100 agents")
    args = ap.parse_args()
    n, agents = (10_000, 100) if args.small else (100_000, 1_000)
    tokens = workload(n, agents)
    items = with_rivals(tokens)
    print(f"workload: {len(tokens)} tokens, {agents} agents")

    t0 = time.perf_counter()
    d: dict[str, wire.Token] = {}
    for t in tokens:
        d[t.cid] = t
    dict_s = time.perf_counter() - t0

    window = n // 20  # per-token cost measured over the last 5% before each mark
    early_end = n // 10
    o_early = Observer("12D3KooWagent00000")
    timed_observe(o_early, items[:early_end - window])
    o = Observer("12D3KooWagent00000")
    timed_observe(o, items[:n - window])
    early, late = interleaved_medians(o_early, items[early_end - window:early_end],
                                      o, items[n - window:])
    del d, o_early
    gc.collect()

    o2 = Observer("12D3KooWagent00000")
    total_s = timed_observe(o2, items)
    del o2
    gc.collect()
    rate = n / total_s
    print(f"observe_us_per_token_at_{early_end // 1000}k: {early * 1e6:.1f}")
    print(f"observe_us_per_token_at_{n // 1000}k: {late * 1e6:.1f}")
    print(f"observe_tokens_per_s: {rate:,.0f}")
    print(f"dict_insert_tokens_per_s: {n / dict_s:,.0f}")
    print(f"observe_vs_dict_speed_ratio: {dict_s / total_s:.4f}")

    now = tokens[-1].iat + 1
    t0 = time.perf_counter()
    states: dict[str, int] = {}
    for c in sorted(o.promises()):
        s = o.verdict(c, now).state
        states[s] = states.get(s, 0) + 1
    for a in sorted(o.agents()):
        o.trust(a, now)
    query_s = time.perf_counter() - t0
    print(f"verdicts: {states}, agents: {len(o.agents())}, "
          f"conflict sets: {len(o.conflict_keys())}, equivocators: {len(o.equivocators())}")
    print(f"query_all_verdicts_and_trust_s: {query_s:.2f}")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak_rss_mib: {peak_kib / 1024:.0f}")
    ratio = late / early
    print(f"observe_per_token_ratio_{n // 1000}k_vs_{early_end // 1000}k: {ratio:.2f}")


if __name__ == "__main__":
    main()
