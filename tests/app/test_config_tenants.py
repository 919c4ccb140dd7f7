"""``[[tenant]]`` tables that name the encrypted credential store, a tenant's pairs, and the
errors for each mistake (ADR 0148). Unit ring: files only, no sockets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.app.config import ConfigError, load_config
from arbiter.security.backends import FileBackend
from arbiter.security.credentials import CredentialStore, FileKey, StoreKey
from arbiter.security.secrets import KalshiCredentials, PolymarketCredentials, Secret
from arbiter.sim.common import load_scenario
from arbiter.sim.launcher import JOINT_SCENARIO, scenario_pairs_toml

HEAD = """[engine]
pairs = "pairs.toml"
[kalshi]
rest_url = "http://127.0.0.1:1/trade-api/v2"
ws_url = "ws://127.0.0.1:1/trade-api/ws/v2"
[polymarket]
rest_url = "http://127.0.0.1:2"
ws_url = "ws://127.0.0.1:2/ws"
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "pairs.toml").write_text(scenario_pairs_toml(load_scenario(JOINT_SCENARIO)))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (tmp_path / "k.pem").write_text(pem)
    (tmp_path / "p.key").write_text("0x" + "11" * 32)
    home = tmp_path / "home"
    store = CredentialStore.open(home / "credentials", FileBackend(home / "secrets"), create=True)
    store.put_kalshi("alice", KalshiCredentials("alice-kid", Secret(pem)))
    store.put_polymarket("alice", PolymarketCredentials(Secret("0x" + "22" * 32)))
    return tmp_path


def names(workdir: Path) -> list[str]:
    from arbiter.core.pairs import parse_pairs

    return [p.name for p in parse_pairs((workdir / "pairs.toml").read_text(), "pairs")]


def write(workdir: Path, text: str) -> Path:
    path = workdir / "engine.toml"
    path.write_text(HEAD + text)
    return path


def test_store_and_file_tenants_side_by_side(workdir: Path) -> None:
    first = names(workdir)[0]
    config = load_config(write(workdir, f"""
[credentials]
home = "home"
secrets = "file:home/secrets"

[[tenant]]
name = "alice"
credentials = "store"
tier = "pro"
pairs = ["{first}"]

[[tenant]]
name = "bob"
tier = "free"
kalshi_key_id = "bob-kid"
kalshi_private_key = "k.pem"
polymarket_private_key = "p.key"
"""))
    alice, bob = config.tenants
    assert isinstance(alice.kalshi_private_key, StoreKey) and alice.kalshi_key_id == "alice-kid"
    assert alice.kalshi_private_key.store.root == str((workdir / "home" / "credentials").absolute())
    assert alice.kalshi_private_key.store.backend == f"file:{workdir / 'home' / 'secrets'}"
    assert alice.tier == "pro" and alice.pairs == (first,)
    assert isinstance(bob.kalshi_private_key, FileKey) and bob.pairs is None


@pytest.mark.parametrize(("text", "message"), [
    ('[[tenant]]\nname = "alice"\ncredentials = "store"\n', "[credentials]"),
    ('[credentials]\nhome = "home"\nsecrets = "file:home/secrets"\n'
     '[[tenant]]\nname = "zoe"\ncredentials = "store"\n', "credential store"),
    ('[[tenant]]\nname = "alice"\ncredentials = "vault"\n', "credentials"),
    ('[[tenant]]\nname = "bob"\nkalshi_private_key = "k.pem"\npolymarket_private_key = "p.key"\n'
     'pairs = ["nope"]\n', "not in the pairs file: nope"),
    ('[[tenant]]\nname = "bob"\nkalshi_private_key = "k.pem"\npolymarket_private_key = "p.key"\n'
     '[[tenant]]\nname = "bob"\nkalshi_private_key = "k.pem"\npolymarket_private_key = "p.key"\n',
     "same name"),
])
def test_mistakes_are_one_config_error(workdir: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(workdir, text))
