"""How much a token, or a frame of the sync protocol, may contain: defined once.

Theory of operation
-------------------
Two kinds of limit live here, and the difference matters:

- The profile's limits (docs/token-profile.md, Limits) are checked by
  `decode_token` on every token, ours or a peer's: a token over one of them is
  invalid everywhere. Changing one is a new profile version.
- The issuing limits bound what this node lets its user write into a token
  (the HTTP API's request models and `NodeService` check them before signing).
  `decode_token` does not check them: a peer may write longer texts, within
  the profile's caps, and its tokens stay valid here.

Pure constants: wire/token.py, wire/frames.py, node/net/sync.py,
node/app/service.py and node/app/api.py import them instead of typing the
numbers again. The limits of the CBOR codec itself
(nesting depth, items per container) stay in wire/cbor.py, and those of a
governance body (charter, proposal, ballot) in trust/governance/.
"""

from __future__ import annotations

__all__ = [
    "TOKEN_SIZE_MAX_BYTES", "DEPS_MAX", "KIND_MAX_CHARS", "IAT_MAX_S", "SEQ_MAX",
    "TEXT_MAX_CHARS", "PROMISE_DEPS_MAX", "TRANSITION_ITEMS_MAX", "FRAME_SIZE_MAX_BYTES",
    "BUNDLE_SIZE_MAX_BYTES", "BUNDLE_TOKENS_MAX",
]

# -- the profile: checked by decode_token ---------------------------------

# A token is a statement, not a file carrier: 256 KiB is far above any promise,
# assessment or ballot, fits a gossipsub message (py-libp2p's default cap is
# 1 MiB) and keeps the worst-case decode of one hostile token to ~20 MB of
# Python objects (cbor2 expands about 70x).
TOKEN_SIZE_MAX_BYTES = 256 * 1024
# A token may build on this many others. A tally builds on the ballots it
# counted; 4,096 x 36 bytes = 144 KiB stays inside the size cap. Larger cuts are
# split over several tallies (docs/governance.md).
DEPS_MAX = 4096
# Kinds are short identifiers: [a-z0-9-], 1..32 characters.
KIND_MAX_CHARS = 32
# iat (and a promise's due date) is below this many epoch seconds: 2**40 s is
# ~34,800 years, far beyond any clock, and keeps the value exact in a float
# (JSON numbers, SQLite REAL).
IAT_MAX_S = 2**40
# seq is below this: exact in a float too, and no issuer signs 2**53 tokens.
SEQ_MAX = 2**53

# -- issuing: what this node's user may write (decode does not check) -------

# A promise statement, evidence note or assessment reason typed by a person:
# a long paragraph fits; anything larger belongs in a document referenced by
# its hash. 4,096 characters are at most 16 KiB of UTF-8, far inside the size cap.
TEXT_MAX_CHARS = 4096
# Cids a promise made through the API may build on ("accepts"): a person names a
# handful; 256 x 36 bytes = 9 KiB keeps one request's token small. Tallies,
# which need thousands, are built by the node itself, bounded by DEPS_MAX.
PROMISE_DEPS_MAX = 256
# Items of a promise's `in` and `out` lists and of a fulfil's `artifacts`, as
# this node's user writes them: a transition names a handful of inputs and
# outputs; the token's size cap still bounds their bytes (the service checks
# it before signing).
TRANSITION_ITEMS_MAX = 64

# -- the sync protocol: one frame on a stream -----------------------------

# Checked by wire/frames.py (the codec) and node/net/sync.py (the transport,
# before a byte of the body is read). yamux in py-libp2p 0.8.1 handles reads to
# ~6.5 MiB and mplex fails past ~400 KiB (docs/libp2p.md, Measured figures);
# 1 MiB keeps us inside and bounds the work one frame can ask of a peer. Larger
# transfers are chunked by the sync protocol into several frames.
FRAME_SIZE_MAX_BYTES = 1024 * 1024

# -- gossip: one message carrying several tokens (wire/bundle.py) ---------

# A bundle must fit one gossipsub message: py-libp2p caps an RPC at 1 MiB, of
# which node/net/gossip.py leaves 960 KiB to the data. 512 KiB stays well
# inside and holds two maximal tokens, or ~1,400 ordinary ones (~360 B).
BUNDLE_SIZE_MAX_BYTES = 512 * 1024
# Tokens in one bundle. Every one is decoded and verified by every node it
# reaches before the message is forwarded (0.1-0.16 ms each here): 256 keep
# one message's work under ~40 ms, about eight times what py-libp2p spends on
# any gossip message (docs/benchmarks.md), while a publisher's burst needs few
# messages: the per-message cost is spread over up to 256 tokens.
BUNDLE_TOKENS_MAX = 256
