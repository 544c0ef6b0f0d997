"""End-to-end ingest: decode + verify + store + apply, against raw Ed25519 verify.

20,000 tokens from 100 issuers (each issuer's chain in order, interleaved),
arriving as gossip in bursts of 1024 (one store transaction per burst, as the
runtime batches them), into a real SQLite file (WAL, synchronous=FULL).
The baselines, measured per chunk in the same run on the same machine: bare
Ed25519 verification of exactly the same signed messages by libsodium (what
wire/ verifies with, docs/decisions/0017-libsodium-verify.md) and by
`cryptography`'s OpenSSL (the baseline of earlier figures). Verification is
the physical limit; everything else should be small beside it.

Two more engines ingest the same chunks with their signatures checked beside
the core (node/store/verifiers.py): on `--threads` threads, and in
`--processes` worker processes. Both are measured against the same one-core
libsodium baseline: on a machine with a core to spare they can pass what one
core does.

Last lines: `ingest_vs_openssl_verify: <ratio>`,
`ingest_<N>_verify_threads_vs_raw_verify: <ratio>`,
`ingest_<N>_verify_processes_vs_raw_verify: <ratio>`, then the headline
`ingest_vs_raw_verify: <ratio>` against libsodium (target >= 0.8).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign_open

import wire
from node.store import Store
from node.store.engine import Engine

ISSUERS = 100
BURST = 1024
CHUNK = 2048


def make_tokens(n: int) -> list[wire.Token]:
    ids = [wire.Identity.from_seed(i.to_bytes(2, "big") + bytes(30)) for i in range(ISSUERS)]
    heads: dict[str, str | None] = {i.agent_id: None for i in ids}
    out: list[wire.Token] = []
    for k in range(n):
        ident = ids[k % ISSUERS]
        seq = k // ISSUERS + 1
        body = {"text": f"promise {k}: deliver the weekly vegetable box to the community hall",
                "due": 1_800_000_000 + k}
        deps = (out[k - 1].cid,) if k and k % 7 == 0 else ()
        t = wire.sign_token(ident, wire.Claims(issuer=ident.agent_id, iat=1_790_000_000 + k,
                                               seq=seq, kind="promise", prev=heads[ident.agent_id],
                                               deps=deps, body=body))
        heads[ident.agent_id] = t.cid
        out.append(t)
    return out


def verify_jobs(tokens: list[wire.Token]) -> list[tuple[bytes, bytes, bytes]]:
    """The same (raw public key, signature, Sig_structure) triples, for the bare
    verifiers."""
    import cbor2

    jobs = []
    for t in tokens:
        prot, _unprot, payload, sig = cbor2.loads(t.raw).value
        msg = cbor2.dumps(["Signature1", prot, b"", payload])
        jobs.append((wire.agent_id_to_bytes(t.issuer)[6:], sig, msg))
    return jobs


def time_openssl(jobs: list[tuple[bytes, bytes, bytes]]) -> float:
    """`cryptography`'s (OpenSSL's) Ed25519 verify, bare: seconds for `jobs`."""
    keys = [(Ed25519PublicKey.from_public_bytes(k), sig, msg) for k, sig, msg in jobs]
    t0 = time.perf_counter()
    for key, sig, msg in keys:
        key.verify(sig, msg)
    return time.perf_counter() - t0


def time_libsodium(jobs: list[tuple[bytes, bytes, bytes]]) -> float:
    """libsodium's Ed25519 verify (PyNaCl), bare, as wire/ verifies: seconds."""
    t0 = time.perf_counter()
    for key, sig, msg in jobs:
        crypto_sign_open(sig + msg, key)
    return time.perf_counter() - t0


def interleaved(tokens: list[wire.Token], workdir: Path, run: int,
                threads: int, processes: int) -> dict[str, list[float]]:
    """Per chunk: time both bare verifiers on the chunk, then ingest the chunk
    (in bursts) into one engine that verifies inline, one that verifies on
    `threads` threads beside the core and one that verifies in `processes`
    worker processes. Returns per-chunk ratios: inline ingest against each
    bare verifier, and the other two against libsodium's bare verify on one core.

    Interleaving puts baselines and subject under the same machine load, so the
    per-chunk ratio is robust to the noise of a shared machine; we report the
    median ratio.
    """
    inline = Engine(Store(workdir / f"ingest-{run}.sqlite"), None)
    beside = Engine(Store(workdir / f"ingest-{run}-threads.sqlite"), None, verify_threads=threads)
    apart = Engine(Store(workdir / f"ingest-{run}-processes.sqlite"), None,
                   verify_processes=processes)
    assert apart.verifier is not None
    # Every process started before the clock runs (sent at once: a pool starts
    # another process only when none is idle).
    for started in [apart.verifier.executor.submit(os.getpid) for _ in range(processes)]:
        started.result()
    jobs = verify_jobs(tokens)
    raws = [t.raw for t in tokens]
    ratios: dict[str, list[float]] = {"libsodium": [], "openssl": [], "threads": [],
                                      "processes": []}

    def ingest(engine: Engine, c: int) -> float:
        t0 = time.perf_counter()
        for i in range(c, min(c + CHUNK, len(raws)), BURST):
            engine.receive_gossip_many([("peer", r) for r in raws[i:min(i + BURST, c + CHUNK)]],
                                       now=float(i))
        return time.perf_counter() - t0

    for c in range(0, len(raws), CHUNK):
        sodium_s = time_libsodium(jobs[c:c + CHUNK])
        openssl_s = time_openssl(jobs[c:c + CHUNK])
        inline_s = ingest(inline, c)
        beside_s = ingest(beside, c)
        apart_s = ingest(apart, c)
        ratios["libsodium"].append(sodium_s / inline_s)
        ratios["openssl"].append(openssl_s / inline_s)
        ratios["threads"].append(sodium_s / beside_s)
        ratios["processes"].append(sodium_s / apart_s)
    for engine in (inline, beside, apart):
        assert len(engine.core.tokens) == len(tokens), "every token must be applied"
        assert len(engine.store) == len(tokens), "every token must be stored"
        assert engine.core.digest() == inline.core.digest(), "verifying beside must not " \
            "change the outcome"
        engine.close()
    return ratios


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="verify threads of the second engine (default 1)")
    ap.add_argument("--processes", type=int, default=1,
                    help="verify processes of the third engine (default 1)")
    args = ap.parse_args()
    print(f"making {args.tokens} tokens from {ISSUERS} issuers ...", flush=True)
    tokens = make_tokens(args.tokens)
    medians: dict[str, list[float]] = {"libsodium": [], "openssl": [], "threads": [],
                                       "processes": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeat):
            for name, ratios in interleaved(tokens, Path(tmp), run, args.threads,
                                            args.processes).items():
                medians[name].append(statistics.median(ratios))
                what = (f"ingest with verify {name} / bare libsodium verify"
                        if name in ("threads", "processes") else f"ingest / bare {name} verify")
                print(f"run {run}: per-chunk {what}: min {min(ratios):.3f} "
                      f"median {medians[name][-1]:.3f} max {max(ratios):.3f}", flush=True)
    print(f"ingest_vs_openssl_verify: {statistics.median(medians['openssl']):.3f}")
    print(f"ingest_{args.threads}_verify_threads_vs_raw_verify: "
          f"{statistics.median(medians['threads']):.3f}")
    print(f"ingest_{args.processes}_verify_processes_vs_raw_verify: "
          f"{statistics.median(medians['processes']):.3f}")
    print(f"ingest_vs_raw_verify: {statistics.median(medians['libsodium']):.3f}")


if __name__ == "__main__":
    main()
