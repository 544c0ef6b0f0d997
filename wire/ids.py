"""Identities, agent ids and content ids.

Theory of operation:
- An agent is an Ed25519 key pair. Its *agent id* is the libp2p peer id of the
  public key: the identity multihash of the protobuf-encoded PublicKey
  {Type: Ed25519, Data: key}, printed in base58btc (`12D3KooW...`). The id
  carries the public key itself, so a token's signature is checked against its
  `kid` alone (self-certifying, no key directory), and the network identity of a
  node and the promiser are one.
- A *cid* names exact token bytes: CIDv1, codec raw (0x55), multihash sha2-256,
  printed as multibase base32 lower-case (`bafkrei...`). On the wire (in deps,
  prev, about, scope and frames) a cid travels as its 36 binary bytes.

Parsing functions raise `InvalidIdentity` / the caller's error type for bad
input; they are pure and cached where the hot path needs it (token decoding
looks up the verification key of the same few thousand issuers again and again).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

import base58
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from .errors import InvalidIdentity

__all__ = [
    "Identity",
    "agent_id_from_public_key",
    "agent_id_to_bytes",
    "agent_id_from_bytes",
    "verify_key_for",
    "verify_signature",
    "cid_of",
    "cid_to_bytes",
    "cid_from_bytes",
    "is_cid",
    "AGENT_ID_BYTES",
    "CID_BYTES",
]

# identity multihash (0x00), length 36, protobuf {1: KeyType.Ed25519 (1), 2: 32 bytes}
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
AGENT_ID_BYTES = len(_PEER_ID_PREFIX) + 32
# CIDv1 (0x01), raw codec (0x55), sha2-256 (0x12) of 32 bytes (0x20)
_CID_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])
CID_BYTES = len(_CID_PREFIX) + 32
_CID_TEXT_LEN = 1 + 58  # "b" + base32 of 36 bytes without padding


def agent_id_from_public_key(public_key: bytes) -> str:
    if len(public_key) != 32:
        raise InvalidIdentity("bad-key", "Ed25519 public keys are 32 bytes", length=len(public_key))
    return base58.b58encode(_PEER_ID_PREFIX + public_key).decode("ascii")


@lru_cache(maxsize=65_536)
def agent_id_to_bytes(agent_id: str) -> bytes:
    """The binary peer id of an agent id string (used as COSE kid). Cached."""
    try:
        raw = base58.b58decode(agent_id)
    except (ValueError, TypeError):
        raise InvalidIdentity("bad-agent-id", f"not base58: {agent_id!r}") from None
    if len(raw) != AGENT_ID_BYTES or not raw.startswith(_PEER_ID_PREFIX):
        raise InvalidIdentity("bad-agent-id", f"not an Ed25519 peer id: {agent_id!r}")
    return raw


@lru_cache(maxsize=65_536)
def _kid_info(kid: bytes) -> tuple[str, bytes] | None:
    if len(kid) != AGENT_ID_BYTES or not kid.startswith(_PEER_ID_PREFIX):
        return None
    return base58.b58encode(kid).decode("ascii"), kid[len(_PEER_ID_PREFIX):]


def agent_id_from_bytes(kid: bytes) -> str:
    info = _kid_info(bytes(kid))
    if info is None:
        raise InvalidIdentity("bad-agent-id", "not an Ed25519 peer id")
    return info[0]


def verify_key_for(kid: bytes) -> tuple[str, bytes] | None:
    """(agent id, raw 32-byte Ed25519 public key) for a binary peer id, or None
    if it is not one.

    Cached: 65,536 entries bound the memory to a few MiB while covering every
    issuer a node meets in practice.
    """
    return _kid_info(kid)


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is `public_key`'s Ed25519 signature of `message`.

    libsodium (through PyNaCl) rather than `cryptography`'s OpenSSL: on the
    same machine it verifies in about 55% of the time (bench/wire.py and
    bench/ingest.py measure both), and verification is most of what ingest
    costs. libsodium is the stricter of the two (it also refuses small-order
    keys and R points, and non-canonical S), so a token it accepts, OpenSSL
    accepts too; every troth node checks with the same rule.
    """
    try:
        crypto_sign_open(signature + message, public_key)
    except BadSignatureError:
        return False
    return True


def cid_to_bytes(cid: str) -> bytes:
    if type(cid) is str:
        raw = _CID_BYTES_CACHE.get(cid)
        if raw is not None:
            return raw
    if type(cid) is not str or len(cid) != _CID_TEXT_LEN or cid[0] != "b":
        raise ValueError(f"not a troth cid: {cid!r}")
    try:
        raw = base64.b32decode(cid[1:].upper() + "======")
    except (ValueError, TypeError):
        raise ValueError(f"not a troth cid: {cid!r}") from None
    if not raw.startswith(_CID_PREFIX):
        raise ValueError(f"not a troth cid: {cid!r}")
    _remember(raw, cid)
    return raw


_B32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
# Two characters per 10-bit value: each 5-byte group of a binary cid is four
# lookups, and the 36th byte (padded with two zero bits) one more. ~2.7x faster
# than base64.b32encode's generic loop; decode_token prints 1 + up to 3 + deps
# cids per token.
_B32_PAIRS = tuple(a + b for a in _B32_ALPHABET for b in _B32_ALPHABET)


# Text forms of recently seen cids. A token's prev and deps name tokens seen
# just before, and a node computes a cid once to deduplicate and once more when
# it decodes: most conversions repeat. 65,536 entries ~ 10 MiB; when full the
# cache is simply emptied (no ordering bookkeeping on the hot path).
# Both directions of the cid text form, for cids met recently (frontiers and
# frames carry the same heads again and again). Bounded: cleared when full.
_CID_TEXT_CACHE: dict[bytes, str] = {}
_CID_BYTES_CACHE: dict[str, bytes] = {}
_CID_TEXT_CACHE_MAX = 65_536


def _remember(raw: bytes, text: str) -> None:
    if len(_CID_TEXT_CACHE) >= _CID_TEXT_CACHE_MAX:
        _CID_TEXT_CACHE.clear()
        _CID_BYTES_CACHE.clear()
    _CID_TEXT_CACHE[raw] = text
    _CID_BYTES_CACHE[text] = raw


def cid_from_bytes(raw: bytes) -> str:
    """Text form of a binary cid. The caller has checked length and prefix."""
    text = _CID_TEXT_CACHE.get(raw)
    if text is None:
        text = _cid_text(raw)
        if len(raw) == CID_BYTES:
            _remember(raw, text)
    return text


def _cid_text(raw: bytes) -> str:
    if len(raw) != CID_BYTES:
        return "b" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()
    pairs = _B32_PAIRS
    out: list[str] = []
    for i in (0, 5, 10, 15, 20, 25, 30):
        c = int.from_bytes(raw[i : i + 5], "big")
        out += (pairs[c >> 30], pairs[(c >> 20) & 0x3FF], pairs[(c >> 10) & 0x3FF],
                pairs[c & 0x3FF])
    out.append(pairs[raw[35] << 2])
    return "b" + "".join(out)


def is_cid(raw: object) -> bool:
    return type(raw) is bytes and len(raw) == CID_BYTES and raw.startswith(_CID_PREFIX)


def cid_of(data: bytes) -> str:
    """The content id of exact bytes: CIDv1, raw codec, sha2-256, base32."""
    return cid_from_bytes(_CID_PREFIX + hashlib.sha256(data).digest())


class Identity:
    """An agent's Ed25519 signing key, with its agent id.

    Keys are stored as PKCS#8 PEM with file mode 0600, encrypted (best
    available symmetric encryption of `cryptography`) when a passphrase is
    given.
    """

    __slots__ = ("_key", "public_key", "agent_id", "kid")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError(f"Identity needs an Ed25519PrivateKey, got {type(key).__name__}")
        self._key = key
        self.public_key: bytes = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.agent_id: str = agent_id_from_public_key(self.public_key)
        self.kid: bytes = _PEER_ID_PREFIX + self.public_key

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """Deterministic identity from 32 seed bytes (simulator and tests)."""
        if len(seed) != 32:
            raise ValueError(f"seed must be 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def private_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 seed (for handing the key to libp2p)."""
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def to_pem(self, passphrase: str | bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption
        if passphrase:
            pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
            encryption = serialization.BestAvailableEncryption(pw)
        else:
            encryption = serialization.NoEncryption()
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: str | bytes | None = None) -> Identity:
        pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
        try:
            key = serialization.load_pem_private_key(pem, password=pw or None)
        except TypeError as exc:  # encrypted without passphrase, or the reverse
            raise InvalidIdentity("passphrase", str(exc)) from None
        except (ValueError, UnsupportedAlgorithm) as exc:
            # A wrong passphrase surfaces as ValueError; say so, not "bad file".
            reason = "passphrase" if pw and b"ENCRYPTED" in pem else "bad-key-file"
            raise InvalidIdentity(reason, str(exc)) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidIdentity("bad-key-file", f"not an Ed25519 key: {type(key).__name__}")
        return cls(key)

    def save(self, path: str | Path, passphrase: str | bytes | None = None) -> None:
        """Write the key; the file is created with mode 0600 and never world-readable."""
        path = Path(path)
        data = self.to_pem(passphrase)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        # Created 0600 from the start: no window with default permissions.
        # (A write that completed survives kill -9 in the page cache; the
        # rename makes the file appear whole or not at all.)
        tmp.touch(mode=0o600, exist_ok=False)
        with tmp.open("wb") as fh:
            fh.write(data)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, passphrase: str | bytes | None = None) -> Identity:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidIdentity("unreadable", f"{path}: {exc.strerror}") from None
        return cls.from_pem(data, passphrase)

    def __repr__(self) -> str:
        return f"Identity({self.agent_id})"

