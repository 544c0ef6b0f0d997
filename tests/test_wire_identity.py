"""Identities and agent ids: key files, passphrases, and agreement with py-libp2p.

Theory of operation: an agent id is the libp2p peer id of the agent's Ed25519
key. We derive it ourselves in wire/ids.py (identity multihash of the protobuf
PublicKey); the cross-check below asks py-libp2p to derive the same id from the
same key, so the two can never drift apart silently.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import wire

SEEDS = [bytes([n]) * 32 for n in (0, 1, 2, 0x7F, 0xFF)] + [bytes(range(32))]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_identity_shape() -> None:
    ident = wire.Identity.generate()
    assert ident.agent_id.startswith("12D3KooW")
    assert len(ident.public_key) == 32 and len(ident.kid) == 38
    assert wire.agent_id_to_bytes(ident.agent_id) == ident.kid
    assert wire.agent_id_from_bytes(ident.kid) == ident.agent_id
    assert wire.agent_id_from_public_key(ident.public_key) == ident.agent_id
    assert ident.agent_id in repr(ident)
    assert wire.Identity.generate().agent_id != ident.agent_id


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s[:2].hex())
def test_from_seed_is_deterministic_and_round_trips(seed: bytes) -> None:
    a, b = wire.Identity.from_seed(seed), wire.Identity.from_seed(seed)
    assert a.agent_id == b.agent_id and a.private_bytes() == seed
    assert a.sign(b"m") == b.sign(b"m")  # Ed25519 is deterministic
    assert wire.agent_id_from_bytes(wire.agent_id_to_bytes(a.agent_id)) == a.agent_id


def test_from_seed_refuses_wrong_length() -> None:
    with pytest.raises(ValueError):
        wire.Identity.from_seed(b"\x00" * 31)


def test_identity_refuses_other_key_types() -> None:
    with pytest.raises(TypeError):
        wire.Identity(ec.generate_private_key(ec.SECP256R1()))  # type: ignore[arg-type]


def test_save_load_round_trip_with_mode_0600(tmp_path: Path) -> None:
    ident = wire.Identity.from_seed(SEEDS[1])
    path = tmp_path / "agent.key"
    ident.save(path)
    assert mode_of(path) == 0o600
    assert not (tmp_path / "agent.key.tmp").exists()
    assert b"BEGIN PRIVATE KEY" in path.read_bytes()
    loaded = wire.Identity.load(path)
    assert loaded.agent_id == ident.agent_id and loaded.private_bytes() == SEEDS[1]


def test_save_replaces_a_world_readable_file_with_a_0600_one(tmp_path: Path) -> None:
    path = tmp_path / "agent.key"
    path.write_bytes(b"old")
    path.chmod(0o644)
    (tmp_path / "agent.key.tmp").write_bytes(b"stale temp from a crash")
    wire.Identity.from_seed(SEEDS[2]).save(path)
    assert mode_of(path) == 0o600
    assert wire.Identity.load(path).private_bytes() == SEEDS[2]


def test_encrypted_key_file(tmp_path: Path) -> None:
    ident = wire.Identity.from_seed(SEEDS[3])
    path = tmp_path / "agent.key"
    ident.save(path, passphrase="correct horse")
    assert mode_of(path) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert SEEDS[3] not in path.read_bytes()
    assert wire.Identity.load(path, "correct horse").agent_id == ident.agent_id
    assert wire.Identity.load(path, b"correct horse").agent_id == ident.agent_id
    for wrong in ("wrong", b"correct hors", "Correct horse"):
        with pytest.raises(wire.InvalidIdentity) as info:
            wire.Identity.load(path, wrong)
        assert info.value.reason == "passphrase"
    for missing in (None, ""):
        with pytest.raises(wire.InvalidIdentity) as info:
            wire.Identity.load(path, missing)
        assert info.value.reason == "passphrase"


def test_passphrase_for_an_unencrypted_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.key"
    wire.Identity.from_seed(SEEDS[0]).save(path)
    with pytest.raises(wire.InvalidIdentity) as info:
        wire.Identity.load(path, "unexpected")
    assert info.value.reason == "passphrase"


def test_unusable_key_files(tmp_path: Path) -> None:
    with pytest.raises(wire.InvalidIdentity) as info:
        wire.Identity.load(tmp_path / "missing.key")
    assert info.value.reason == "unreadable"
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with pytest.raises(wire.InvalidIdentity) as info:
        wire.Identity.load(junk)
    assert info.value.reason == "bad-key-file"
    p256 = tmp_path / "p256.key"
    p256.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(wire.InvalidIdentity) as info:
        wire.Identity.load(p256)
    assert info.value.reason == "bad-key-file"


@pytest.mark.parametrize("agent_id", [
    "",
    "12D3KooW0OIl",  # 0, O, I, l are not base58
    "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",  # an RSA (sha2-256) peer id
    "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY",  # a secp256k1 peer id
    wire.Identity.from_seed(SEEDS[0]).agent_id[:-1],
])
def test_bad_agent_ids(agent_id: str) -> None:
    with pytest.raises(wire.InvalidIdentity) as info:
        wire.agent_id_to_bytes(agent_id)
    assert info.value.reason == "bad-agent-id"


def test_bad_peer_id_bytes_and_keys() -> None:
    kid = wire.Identity.from_seed(SEEDS[0]).kid
    for bad in (b"", kid[:-1], kid + b"\x00", b"\x00\x25\x08\x02\x12\x21" + b"\x02" * 33):
        with pytest.raises(wire.InvalidIdentity):
            wire.agent_id_from_bytes(bad)
    with pytest.raises(wire.InvalidIdentity) as info:
        wire.agent_id_from_public_key(b"\x00" * 31)
    assert info.value.reason == "bad-key"


def test_agent_id_matches_py_libp2p() -> None:
    pytest.importorskip("libp2p")
    from libp2p.crypto.ed25519 import Ed25519PrivateKey as Libp2pEd25519
    from libp2p.peer.id import ID

    for seed in SEEDS:
        ident = wire.Identity.from_seed(seed)
        key = Libp2pEd25519.new(seed)  # PyNaCl: the same RFC 8032 seed -> same key
        assert key.get_public_key().to_bytes() == ident.public_key
        peer = ID.from_pubkey(key.get_public_key())
        assert peer.to_base58() == ident.agent_id
        assert peer.to_bytes() == ident.kid
        parsed = ID.from_base58(ident.agent_id)
        extracted = parsed.extract_public_key()
        assert extracted is not None and extracted.to_bytes() == ident.public_key
        # a signature made by troth verifies with libp2p's key object, and back
        assert key.get_public_key().verify(b"troth", ident.sign(b"troth"))
        assert ident.sign(b"x") == key.sign(b"x")
