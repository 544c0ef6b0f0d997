"""Child process of the kill-loop test: issue tokens forever through the Engine.

Prints `seq cid` for each token only after `Engine.issue` returned, i.e. at
the moment a real node would hand it to the network. The parent SIGKILLs us at
random moments and checks that nothing it ever saw is lost or reused.
"""

from __future__ import annotations

import sys

from node.store import Store
from node.store.engine import Engine
from tests.harness import ident


def main() -> None:
    db, who = sys.argv[1], int(sys.argv[2])
    engine = Engine(Store(db), ident(who))
    print(f"ready {engine.core.own_seq()}", flush=True)
    n = 0
    while True:
        n += 1
        token, _ = engine.issue(kind="promise", now=float(n), body={"n": n, "pad": "x" * 64})
        sys.stdout.write(f"{token.seq} {token.cid}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
