"""Pinned trace digests: a refactor that changes no behaviour keeps them.

Each small shipped scenario (tests/sim/conftest.py), at seeds 1 and 7, must end
with exactly this trace digest and these metrics (a sha256 prefix of their
sorted JSON). A change of behaviour that is meant shows up here: update the
table in the same commit and say why in its message.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from sim import run_one

from .conftest import small

PINNED = {
    "badmouth/1": ("fe79ab7964c994ad0822ba40ef2d633beaa13b9b02ed34f616372b39f541e172",
        "706cfd7afe07dc05"),
    "badmouth/7": ("8d84897050cc757b8262261d8d00eaa89b2be48703a8e061e17fb9ad069d8aa9",
        "0c6d917498a0ab7b"),
    "baseline/1": ("dacd14c9b5dcf79b71991bfb9c3c89fad07075ed7b864597f1b3ccfc51a98dea",
        "e6938a9621effd30"),
    "baseline/7": ("5a5774e45a873c13d38e15d5f1eadbf0f7d541f303c4dadfee2cb5804fdc2d0e",
        "922cd8d4eb2cce43"),
    "churn/1": ("01340fd8b6447bf847ab00304bce4b9e98cffc5342733efb51004e47f354fead",
        "18410fae1d90269e"),
    "churn/7": ("4d1adc26e6c20724b96e4970dc3f47a093a871365da865b8cb143d22b2c51243",
        "108c456f17c6b819"),
    "false-fulfil/1": ("17f691bb7bae04d070bf62a36fd1d6dde6b8ceeaf4768710e0fa761fad3cb426",
        "e9baeb748b6c92cb"),
    "false-fulfil/7": ("4365f0d229204cdd9c5736df29afa1a8b30b56764ec8af9f67f9f13c87cbd897",
        "0b068375cdb4cb89"),
    "liars/1": ("1cdfa958c276afcd0a037ec193382d67e478de348120b2ffad523434992986dd",
        "9977973d3d84704a"),
    "liars/7": ("7750088e86a0baf1113a58adf54b2991221c6b910fb777da3ccd1af214db0573",
        "2c4092ee1aa55b4b"),
    "partition-heal/1": ("697923bcb3cfd632a55dbe1a2f41ca0b97a7998f1e4854cff5a726e752015ed4",
        "56e0aaf22bab933f"),
    "partition-heal/7": ("db88551dee81e16bf676feda3d2ce819f9df0025dd59d854815f54d41bd5308a",
        "79709d081e7b4464"),
    "rumor-pull/1": ("62f991ae1cf66c9bdbfa2e2bdd237cb0d81d4275e7d5d89d38e518cc99d1c4ff",
        "563bb4bba2a2dd8f"),
    "rumor-pull/7": ("7d867a3cdfdcec16045c0d64f934b8c24c54ad7fcc0b61ec8f49d0ded44312ed",
        "c51fb6351a4dda8a"),
    "rumor-push-pull/1": ("62f991ae1cf66c9bdbfa2e2bdd237cb0d81d4275e7d5d89d38e518cc99d1c4ff",
        "55cbd90ae0f1f01c"),
    "rumor-push-pull/7": ("ce2cd7a7fe43cb041fb11d09d9414669fd74d522dce1e173cbd4bb5068ecda53",
        "60df889a48096195"),
    "rumor-push/1": ("62f991ae1cf66c9bdbfa2e2bdd237cb0d81d4275e7d5d89d38e518cc99d1c4ff",
        "63d95b92f5c38268"),
    "rumor-push/7": ("5ae4bef68d4cf55c3d83c9c963d5d803ff5e1b0b21dd1fcdff0f358b3bbda0d6",
        "b52fe456ddb103f2"),
    "slots/1": ("327da5167fa8f0fe8596652f16ee5b5dae05221a7f605c4693861b2e8874f210",
        "c737d4084346cf61"),
    "slots/7": ("64cbd2d3f72ddb52240450896b5c0d44929de4aacea65436e1597e01eb630337",
        "60374cd8cdf67ed7"),
    "sybil/1": ("08f9dda4be04d199572619fd3194a90e4ca4766c85a11a2876ac98768862a83f",
        "6b815cbfd22426e0"),
    "sybil/7": ("9348e392e30537acf0f1f63e4774644b5de5e408fd524662f7dc0e74ca78a51a",
        "89429ecb276ae0c0"),
    "vote/1": ("d0342b87c5c9d87727ba906557b50cc15bb5fca21f3c6d4f9a79bbb863190a28",
        "7ad9a9d79c45b966"),
    "vote/7": ("726196a48ab848e3e4801e01df3e90215868dbefcb72e282caaefdbb16d391b3",
        "128cec245d3ca8d6"),
}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_digest_and_metrics_are_pinned(key: str) -> None:
    name, seed = key.split("/")
    out = run_one(small(name), int(seed))
    metrics = hashlib.sha256(json.dumps(out.metrics, sort_keys=True,
                                        default=str).encode()).hexdigest()[:16]
    assert (out.result.digest, metrics) == PINNED[key]
