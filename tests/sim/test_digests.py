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
    "badmouth/1": ("5abfc673b8d5b27e460855225318afdbe7495d60ca613190aee390074565752d",
        "e117a36918cc26c2"),
    "badmouth/7": ("99f2ed2d56e4271dcd0407bdeb1a96ef4174301046700b27fbf52bf510eb612f",
        "45241ec55305e75e"),
    "baseline/1": ("419fba938c447a316663441f85b03f95f80c6fd3e15d62a6c00ea25ac9c7468b",
        "442f7f4bfc9382d4"),
    "baseline/7": ("eb4f319070a7cb8d3a9264575e6da2523b3686f3beef626be0c9eabac469d127",
        "a6e6752833e03636"),
    "churn/1": ("1b928cfe82a73ee4108ec6541e47c3fdcdfeb0a9f5089965b0c0038857b7574a",
        "16793cf937fde38a"),
    "churn/7": ("2b9c4bd69b155c0633fb62dc0b79fd9445123a66b7bfce2d05423457e14ad851",
        "c10da30764dbadc1"),
    "false-fulfil/1": ("093fe2462256070a05c03b91c1e287fcc0e97dbd979a6204bda32e4fbdf3d30d",
        "4ed64bebaca0c508"),
    "false-fulfil/7": ("17b74956938f9d08a24d371c807faaf459c2d80710be237899ae1983f2719655",
        "193ff4dbc33f2db6"),
    "liars/1": ("3262a25734888b8112651a790283927c380b342e3dedb097880b9b3c8c9d1a62",
        "b4a6319f7d815ac3"),
    "liars/7": ("7fc090aafe10db787ba01efb17023789ea7c22acc42c4b3e3b81ffa9c23c5c04",
        "49d5ff6a199b1bdf"),
    "partition-heal/1": ("aec9bf8a1a6ad232716ede7555eb9187b204f0c8ed5af3a37e314b5071c237af",
        "77c9fcea017b5588"),
    "partition-heal/7": ("926a4dc1b9ff9aa71994bab05944c8b1bf086e288be217f183f5b8394428c045",
        "9667f1d131d98c75"),
    "rumor-pull/1": ("62f991ae1cf66c9bdbfa2e2bdd237cb0d81d4275e7d5d89d38e518cc99d1c4ff",
        "563bb4bba2a2dd8f"),
    "rumor-pull/7": ("7d867a3cdfdcec16045c0d64f934b8c24c54ad7fcc0b61ec8f49d0ded44312ed",
        "c51fb6351a4dda8a"),
    "rumor-push/1": ("62f991ae1cf66c9bdbfa2e2bdd237cb0d81d4275e7d5d89d38e518cc99d1c4ff",
        "63d95b92f5c38268"),
    "rumor-push/7": ("5ae4bef68d4cf55c3d83c9c963d5d803ff5e1b0b21dd1fcdff0f358b3bbda0d6",
        "b52fe456ddb103f2"),
    "rumor-push-pull/1": ("62f991ae1cf66c9bdbfa2e2bdd237cb0d81d4275e7d5d89d38e518cc99d1c4ff",
        "55cbd90ae0f1f01c"),
    "rumor-push-pull/7": ("ce2cd7a7fe43cb041fb11d09d9414669fd74d522dce1e173cbd4bb5068ecda53",
        "60df889a48096195"),
    "slots/1": ("77ed50d0bd2a4e3617c421906cd3d879d9f62d602fc26bc71d45d911d2e632ca",
        "ef2c3ccdcea5f380"),
    "slots/7": ("865c003db07846f6241e5eb44483954b8d74e207ca4d3dff47755e18c16077de",
        "669e8037a12a397b"),
    "sybil/1": ("3ec0e96ad3ff3535782ef42eb0181e3d5172a407b7c6805a2ec44976b8986b72",
        "bce5d78566919225"),
    "sybil/7": ("8285e17491bd9802abd950cf3394dc2fb227b91e9e57a16dcfe24095d486e206",
        "97a4d70bdf5f0482"),
    "vote/1": ("dcc52f85fd70851b36852ce88f5155664fd2410272bae218adb99db189402855",
        "e9bcb510c00791ce"),
    "vote/7": ("d83aa885fd3bbc8543f6097a254ab57cdefee2c4f90fb47334cdac1eece2f0ba",
        "38b6819248b56799"),
}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_digest_and_metrics_are_pinned(key: str) -> None:
    name, seed = key.split("/")
    out = run_one(small(name), int(seed))
    metrics = hashlib.sha256(json.dumps(out.metrics, sort_keys=True,
                                        default=str).encode()).hexdigest()[:16]
    assert (out.result.digest, metrics) == PINNED[key]
