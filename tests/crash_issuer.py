"""Child process of the kill-loop tests: issue tokens forever through the Engine.

Prints `seq cid` for each token only after `Engine.issue` returned, i.e. at
the moment a real node would hand it to the network. The parent SIGKILLs us at
random moments and checks that nothing it ever saw is lost or reused.

With a third argument `receive`, each own token alternates with one received
by gossip (the next of agent 2's chain, the same bytes on every start),
printed `got cid` once `receive_gossip` returned: the moment a real node
would report it accepted. Received batches commit without an fsync of their
own (docs/decisions/0019-received-tokens-fsync.md): the parent checks they
survive the kill all the same.
"""

from __future__ import annotations

import sys

from node.core import Core, TokenIssued
from node.store import Store
from node.store.engine import Engine
from tests.harness import ident


def main() -> None:
    db, who = sys.argv[1], int(sys.argv[2])
    receive = sys.argv[3:] == ["receive"]
    engine = Engine(Store(db), ident(who))
    print(f"ready {engine.core.own_seq()}", flush=True)
    other = Core(ident(who + 1))  # re-signs the same chain on every start
    n = 0
    while True:
        n += 1
        token, _ = engine.issue(kind="promise", now=float(n), body={"n": n, "pad": "x" * 64})
        sys.stdout.write(f"{token.seq} {token.cid}\n")
        sys.stdout.flush()
        if receive:
            outs = other.issue(kind="promise", now=float(other.own_seq() + 1), body={"pad": "y"})
            got = next(o.token for o in outs if isinstance(o, TokenIssued))
            if not engine.core.has(got.cid):
                engine.receive_gossip("peer", got.raw, float(n))
            sys.stdout.write(f"got {got.cid}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
