"""Shared test scaffolding for the Kalshi client and the local Kalshi: keys, accounts, a sim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.sim.common import load_scenario
from arbiter.sim.kalshi.server import KalshiSim, build_sim
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.kalshi.signing import Signer


@dataclass(frozen=True)
class KeyPair:
    key_id: str
    private_pem: bytes
    public_pem: bytes

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def signer(self) -> Signer:
        return Signer(self.key_id, self.private_key)


@lru_cache(maxsize=8)
def make_key(key_id: str) -> KeyPair:
    """RSA keys are slow to generate: one per id per test session."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, like Kalshi's download
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(key_id, private, public)


TRADER = "demo-trader-1"
OTHER = "demo-trader-2"


def write_accounts(folder: Path, cash: str = "10000.00") -> Path:
    """ACCOUNTS.toml with two traders; public keys in keys/ relative to the file."""
    keys = folder / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, key_id in enumerate((TRADER, OTHER), start=1):
        k = make_key(key_id)
        (keys / f"trader{n}.pub.pem").write_bytes(k.public_pem)
        (keys / f"trader{n}.pem").write_bytes(k.private_pem)
        lines.append(
            f'[[account]]\napi_key_id = "{key_id}"\npublic_key = "keys/trader{n}.pub.pem"\n'
            f'cash = "{cash}"\n'
        )
    path = folder / "accounts.toml"
    path.write_text("\n".join(lines))
    return path


async def start_sim(folder: Path, scenario: str | None = "static", **options: object) -> KalshiSim:
    sim = build_sim(
        str(write_accounts(folder)),
        load_scenario(scenario) if scenario else None,
        seed=7,
        **options,  # type: ignore[arg-type]
    )
    await sim.start("127.0.0.1", 0)
    return sim


@asynccontextmanager
async def running_sim(folder: Path, scenario: str | None = "static",
                      **options: object) -> AsyncIterator[KalshiSim]:
    """A started local Kalshi, stopped on the way out (the tests' fixtures)."""
    sim = await start_sim(folder, scenario, **options)
    try:
        yield sim
    finally:
        await sim.stop()


def client_for(sim: KalshiSim, key_id: str = TRADER, **options: object) -> KalshiRestClient:
    config = KalshiConfig(env=KalshiEnv.DEMO, rest_url=sim.rest_url, ws_url=sim.ws_url)
    return KalshiRestClient(
        config, make_key(key_id).signer(), backoff_s=0.01, **options  # type: ignore[arg-type]
    )
