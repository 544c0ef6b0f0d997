"""Anti-entropy cost: bytes on the wire to reconcile two stores that differ by k.

Two cores hold the same 50,000 tokens (from 100 issuers) except the last 500
(5 per issuer), which only one holds. The behind core connects and pulls; we
count every frame byte in both directions until both hold the same set, and
divide by the bytes of the 500 missing tokens themselves (the floor: any
protocol must move them). A second line repeats it with 1,000 issuers, where
the frontier (≈80 bytes per issuer) weighs more.

Last line: `sync_bytes_vs_missing: <ratio>` (target <= 1.3).
"""

from __future__ import annotations

import argparse
import time

import wire
from node.core import Core, CoreParams, Send


def make_chains(total: int, issuers: int) -> list[wire.Token]:
    ids = [wire.Identity.from_seed(b"sync" + i.to_bytes(4, "big") + bytes(24))
           for i in range(issuers)]
    heads: dict[str, str | None] = {i.agent_id: None for i in ids}
    out = []
    for k in range(total):
        ident = ids[k % issuers]
        t = wire.sign_token(ident, wire.Claims(
            issuer=ident.agent_id, iat=1_790_000_000 + k, seq=k // issuers + 1, kind="promise",
            prev=heads[ident.agent_id],
            body={"text": f"promise {k}: deliver the weekly vegetable box", "due": 1_800_000_000}))
        heads[ident.agent_id] = t.cid
        out.append(t)
    return out


def reconcile(tokens: list[wire.Token], missing: int) -> tuple[int, int, int]:
    by_raw = {t.raw: t for t in tokens}
    decode = by_raw.__getitem__  # every token was verified once when made
    params = CoreParams(view_events=False)
    a_id, b_id = (wire.Identity.from_seed(bytes([n]) * 32) for n in (1, 2))
    ahead = Core(a_id, params, decode=decode)
    ahead.restore(t.raw for t in tokens)
    behind = Core(b_id, params, decode=decode)
    behind.restore(t.raw for t in tokens[:-missing])
    missing_bytes = sum(len(t.raw) for t in tokens[-missing:])
    cores = {a_id.agent_id: ahead, b_id.agent_id: behind}
    A, B = a_id.agent_id, b_id.agent_id
    queue: list[tuple[str, str, bytes]] = []

    def route(src: str, outs: list) -> None:  # type: ignore[type-arg]
        for o in outs:
            if isinstance(o, Send):
                queue.append((src, o.peer, o.data))

    route(B, behind.peer_up(A, 0.0))
    route(A, ahead.peer_up(B, 0.0))
    moved = frames = 0
    while queue:
        src, dst, data = queue.pop(0)
        moved += len(data)
        frames += 1
        route(dst, cores[dst].receive_frame(src, data, 0.0))
    assert behind.tokens.keys() == ahead.tokens.keys(), "must converge"
    return moved, missing_bytes, frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=50_000)
    ap.add_argument("--missing", type=int, default=500)
    args = ap.parse_args()
    results = {}
    for issuers in (1000, 100):
        t0 = time.perf_counter()
        tokens = make_chains(args.tokens, issuers)
        made = time.perf_counter() - t0
        moved, floor, frames = reconcile(tokens, args.missing)
        results[issuers] = moved / floor
        print(f"{issuers} issuers: {args.tokens} tokens (made in {made:.0f}s), {args.missing} "
              f"missing = {floor:,} bytes; moved {moved:,} bytes in {frames} frames: "
              f"ratio {moved / floor:.3f}", flush=True)
    print(f"sync_bytes_vs_missing: {results[100]:.3f}")


if __name__ == "__main__":
    main()
