"""No key material in Ray actor-creation arguments: the engine config carries references only.

An :class:`EngineConfig` is pickled into every actor's creation task spec (kept in Ray's GCS,
spillable, loggable), so it must hold *where* a tenant's keys are, never the keys. These tests
pickle configs built from the paper config (key files, API triple inline in the TOML) and from
the encrypted store and look for every secret's bytes in the result; then they resolve the
references inside a real Ray actor (another process) and prove the keys work against the local
venues, whose servers verify the Kalshi RSA signatures and the Polymarket L2 HMACs for real.
Broken references (a deleted key file, a tampered envelope) must come out of the actor as typed
credential errors that name the reference and carry no key text.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from ray import cloudpickle

from arbiter.app.build import build_clients, kalshi_signer, polymarket_credentials
from arbiter.app.config import ConfigError, EngineConfig, engine_tenant_config, load_config
from arbiter.core.accounts import Tier
from arbiter.security.backends import (
    AwsSecretsManagerBackend,
    ChainBackend,
    EnvBackend,
    FileBackend,
    backend_from_uri,
)
from arbiter.security.credentials import (
    CredentialError,
    CredentialStore,
    CredentialTamperError,
    CredentialUnavailable,
    DirectoryEnvelopeRepo,
    FileKey,
    MasterKeyRing,
    StoreKey,
    TomlKey,
    resolve_keys,
)
from arbiter.security.secrets import KalshiCredentials, PolymarketCredentials, Secret
from arbiter.sim.launcher import LocalVenues
from arbiter.venues.kalshi.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, load_public_key, verify_message
from tests.engine.ray_support import ray_session

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

NAMESPACE = "arbiter-credential-refs"
SIGNED_PATH = "/trade-api/v2/portfolio/balance"

# The actor class below lives in this test module, which Ray workers cannot import by name.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --- helpers ---------------------------------------------------------------------------------


def _needles(paper_dir: Path) -> dict[str, str]:
    """Every secret of the paper tenant, as the text that would show up in a pickle."""
    pem = (paper_dir / "kalshi.pem").read_text()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    wallet = (paper_dir / "polymarket.key").read_text().strip()
    tenant = tomllib.loads((paper_dir / "engine.toml").read_text())["tenant"][0]
    needles = {f"pem line {i}": line for i, line in enumerate(body)}
    needles.update({
        "wallet hex": wallet.removeprefix("0x"),
        "api key": tenant["polymarket_api_key"],
        "api secret": tenant["polymarket_api_secret"],
        "api passphrase": tenant["polymarket_api_passphrase"],
    })
    return needles


def _assert_clean(what: str, blob: bytes, needles: dict[str, str]) -> None:
    leaked = [name for name, text in needles.items() if text.encode() in blob]
    assert not leaked, f"{what} contains {leaked}"


def _assert_config_clean(config: EngineConfig, needles: dict[str, str]) -> None:
    _assert_clean("pickle.dumps", pickle.dumps(config), needles)
    _assert_clean("cloudpickle.dumps", cloudpickle.dumps(config), needles)
    _assert_clean("repr", repr(config).encode(), needles)


def _fill_store(store: CredentialStore, tenant: str, paper_dir: Path, key_id: str) -> None:
    """The paper account's keys, put into the store the way `arbiter credentials put` does."""
    toml = tomllib.loads((paper_dir / "engine.toml").read_text())["tenant"][0]
    store.put_kalshi(tenant, KalshiCredentials(key_id, Secret((paper_dir / "kalshi.pem").read_text())))
    store.put_polymarket(tenant, PolymarketCredentials(
        Secret((paper_dir / "polymarket.key").read_text().strip()),
        Secret(toml["polymarket_api_key"]), Secret(toml["polymarket_api_secret"]),
        Secret(toml["polymarket_api_passphrase"]),
    ))


def _master_needles(backend_dir: Path) -> dict[str, str]:
    ring = json.loads((backend_dir / "master-key").read_text())
    out = {}
    for version, b64 in ring["keys"].items():
        out[f"master v{version} b64"] = b64
        out[f"master v{version} hex"] = base64.b64decode(b64).hex()
    return out


def _kalshi_public(paper_dir: Path) -> Any:
    return load_public_key((paper_dir / "kalshi.pub.pem").read_bytes())


# --- what the config holds ----------------------------------------------------------------------


async def test_paper_config_holds_references_not_keys(venues: LocalVenues) -> None:
    config = load_config(venues.config_path)
    tenant = config.tenants[0]
    assert isinstance(tenant.kalshi_private_key, FileKey)
    assert tenant.kalshi_private_key.path == str((venues.dir / "kalshi.pem").absolute())
    assert isinstance(tenant.polymarket_private_key, FileKey)
    assert tenant.polymarket_api is not None
    assert all(isinstance(k, TomlKey) for k in tenant.polymarket_api)
    _assert_config_clean(config, _needles(venues.dir))

    # resolved in this process the references give working keys
    signer = kalshi_signer(tenant)
    headers = signer.headers("GET", SIGNED_PATH, now_ms=1_700_000_000_000)
    assert verify_message(_kalshi_public(venues.dir), headers[HEADER_TIMESTAMP], "GET", SIGNED_PATH,
                          headers[HEADER_SIGNATURE])
    poly = polymarket_credentials(tenant)
    assert poly.signer.address == venues.polymarket_address
    assert poly.api is not None and poly.api.passphrase == _needles(venues.dir)["api passphrase"]


async def test_store_config_holds_references_and_the_tier(venues: LocalVenues, tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "secrets")
    store = CredentialStore.open(tmp_path / "store", backend, create=True)
    paper = load_config(venues.config_path)
    _fill_store(store, "alice", venues.dir, paper.tenants[0].kalshi_key_id)

    tenant = engine_tenant_config(store, "alice", tier=Tier.PRO)
    assert tenant.tier == "pro" and tenant.user().tier is Tier.PRO
    assert tenant.user().limits.max_concurrent_sagas == 4  # the pro tier's, not the default's
    assert tenant.kalshi_key_id == paper.tenants[0].kalshi_key_id  # public label stays plain
    assert isinstance(tenant.kalshi_private_key, StoreKey)
    assert tenant.kalshi_private_key.store.backend == f"file:{(tmp_path / 'secrets').absolute()}"
    assert tenant.kalshi_private_key.store.root == str((tmp_path / "store").absolute())
    assert engine_tenant_config(store, "alice").tier == "institutional"  # the config default

    config = paper.with_overrides(tenants=(tenant,))
    _assert_config_clean(config, {**_needles(venues.dir), **_master_needles(tmp_path / "secrets")})

    poly = polymarket_credentials(tenant)
    assert poly.signer.address == venues.polymarket_address
    assert poly.api is not None and poly.api.secret == _needles(venues.dir)["api secret"]


def test_env_backend_reference_names_the_variable_not_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = MasterKeyRing.generate()
    prefix = "ARBITER_TEST_REFS_"
    monkeypatch.setenv(prefix + "MASTER_KEY", ring.to_secret().reveal_str())
    store = CredentialStore.open(tmp_path / "store", EnvBackend(prefix))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    wallet = "11" * 32
    store.put_kalshi("carol", KalshiCredentials("kid-carol", Secret(pem)))
    store.put_polymarket("carol", PolymarketCredentials(Secret(wallet)))

    tenant = engine_tenant_config(store, "carol", tier="free")
    assert isinstance(tenant.kalshi_private_key, StoreKey)
    assert tenant.kalshi_private_key.store.backend == f"env:{prefix}"
    assert tenant.polymarket_api is None  # no L2 triple stored: none referenced
    blob = cloudpickle.dumps(tenant)
    master = base64.b64encode(ring.key(1).reveal()).decode()
    body = pem.splitlines()[3]
    for needle in (master, body, wallet):
        assert needle.encode() not in blob
    headers = kalshi_signer(tenant).headers("GET", SIGNED_PATH, now_ms=5)
    assert verify_message(key.public_key(), "5", "GET", SIGNED_PATH, headers[HEADER_SIGNATURE])

    # where the variable is not set, the reference cannot be opened: a typed error, no key text
    monkeypatch.delenv(prefix + "MASTER_KEY")
    with pytest.raises(CredentialError, match="no master key ring in env:ARBITER_TEST_REFS_"):
        kalshi_signer(tenant)


def test_backend_uris_round_trip_without_secrets(tmp_path: Path) -> None:
    aws = AwsSecretsManagerBackend(prefix="arbiter/prod/", region="eu-west-1",
                                   endpoint_url="http://127.0.0.1:5999")
    again = backend_from_uri(aws.uri())
    assert isinstance(again, AwsSecretsManagerBackend) and again.uri() == aws.uri()
    assert again.describe() == "aws-secretsmanager:arbiter/prod/"
    chain = ChainBackend([EnvBackend("X_"), FileBackend(tmp_path)])
    assert chain.uri() == f"env:X_,file:{tmp_path.absolute()}"
    assert backend_from_uri(chain.uri()).describe() == chain.describe()
    # a store whose key ring cannot be named for another process cannot hand out references
    fixed = CredentialStore(DirectoryEnvelopeRepo(tmp_path / "fixed"), MasterKeyRing.generate())
    with pytest.raises(CredentialError, match="cannot be named for another process"):
        fixed.location()
    ring = MasterKeyRing.generate().to_secret().reveal_str()
    given = CredentialStore.open(tmp_path / "given", EnvBackend("Y_", environ={"Y_MASTER_KEY": ring}))
    with pytest.raises(CredentialError, match="cannot be named elsewhere"):
        given.location()
    assert given.location("file:/elsewhere").backend == "file:/elsewhere"


# --- load-time validation and in-process failures ------------------------------------------------


async def test_missing_key_file_is_a_config_error_at_load_time(venues: LocalVenues) -> None:
    (venues.dir / "polymarket.key").unlink()
    with pytest.raises(ConfigError, match=r"polymarket_private_key: cannot read .*polymarket.key"):
        load_config(venues.config_path)


async def test_inline_api_triple_must_be_complete(venues: LocalVenues) -> None:
    text = venues.config_path.read_text()
    venues.config_path.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("polymarket_api_secret"))
    )
    with pytest.raises(ConfigError, match="polymarket_api_secret must be a non-empty string"):
        load_config(venues.config_path)


async def test_config_edited_after_load_is_a_typed_error(venues: LocalVenues) -> None:
    config = load_config(venues.config_path)
    tenant = config.tenants[0]
    venues.config_path.write_text(venues.config_path.read_text().replace('name = "paper"', 'name = "other"'))
    with pytest.raises(CredentialUnavailable, match="changed since it was loaded"):
        polymarket_credentials(tenant)


# --- inside a real Ray actor ------------------------------------------------------------------------


class KeyUser:
    """Stands in for the arbiter/executor actors: gets the config, builds signers and clients."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config

    def pid(self) -> int:
        return os.getpid()

    def kalshi_headers(self, now_ms: int) -> dict[str, str]:
        return kalshi_signer(self.config.tenants[0]).headers("GET", SIGNED_PATH, now_ms=now_ms)

    def tenant_tier(self) -> str:
        return self.config.tenants[0].user().tier.value

    async def balances(self) -> dict[str, int]:
        clients = await build_clients(self.config, self.config.tenants[0])
        try:
            return {venue: int(await client.balance()) for venue, client in clients.items()}
        finally:
            for client in clients.values():
                await client.close()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    with ray_session(NAMESPACE, address="local", num_cpus=2, include_dashboard=False):
        yield


def _spawn(config: EngineConfig) -> Any:
    return ray.remote(KeyUser).options(num_cpus=0).remote(config)


async def _assert_works_in_actor(handle: Any, venues: LocalVenues) -> None:
    assert await handle.pid.remote() != os.getpid()  # another process resolves the references
    now_ms = 1_700_000_000_123
    headers = await handle.kalshi_headers.remote(now_ms)
    assert verify_message(_kalshi_public(venues.dir), str(now_ms), "GET", SIGNED_PATH,
                          headers[HEADER_SIGNATURE])
    # the local venues check the Kalshi signature and the Polymarket L2 HMAC of each request
    balances = await handle.balances.remote()
    assert balances["kalshi"] > 0 and balances["polymarket"] > 0


@pytest.mark.slow
async def test_file_references_resolve_inside_an_actor(local_ray: None, venues: LocalVenues) -> None:
    config = load_config(venues.config_path)
    handle = _spawn(config)
    try:
        await _assert_works_in_actor(handle, venues)
        # the key file disappears (say, the node lacks the mount): a typed error from the actor
        (venues.dir / "kalshi.pem").unlink()
        with pytest.raises(CredentialUnavailable) as info:
            await handle.kalshi_headers.remote(1)
        assert "kalshi_private_key: cannot read key file" in str(info.value)
    finally:
        ray.kill(handle, no_restart=True)


@pytest.mark.slow
async def test_store_references_resolve_inside_an_actor(
    local_ray: None, venues: LocalVenues, tmp_path: Path
) -> None:
    backend = FileBackend(tmp_path / "secrets")
    store = CredentialStore.open(tmp_path / "store", backend, create=True)
    paper = load_config(venues.config_path)
    _fill_store(store, "alice", venues.dir, paper.tenants[0].kalshi_key_id)
    config = paper.with_overrides(tenants=(engine_tenant_config(store, "alice", tier="free"),))
    handle = _spawn(config)
    try:
        await _assert_works_in_actor(handle, venues)
        assert await handle.tenant_tier.remote() == "free"

        # a flipped ciphertext byte in the envelope the actor reads: authentication fails there
        envelope = tmp_path / "store" / "alice" / "kalshi.json"
        doc = json.loads(envelope.read_text())
        raw = bytearray(base64.b64decode(doc["ciphertext"]))
        raw[10] ^= 0x01
        doc["ciphertext"] = base64.b64encode(bytes(raw)).decode()
        envelope.write_text(json.dumps(doc))
        with pytest.raises(CredentialTamperError) as info:
            await handle.kalshi_headers.remote(1)
        message = str(info.value)
        assert "'kalshi' of tenant 'alice' failed authentication" in message
        for name, text in _needles(venues.dir).items():
            assert text not in message, name
        # the Polymarket bundle is a different envelope and still opens
        assert await handle.tenant_tier.remote() == "free"
    finally:
        ray.kill(handle, no_restart=True)


def test_key_file_failures_are_typed_and_paths_absolute(tmp_path: Path) -> None:
    good = tmp_path / "good.key"
    good.write_text("aa" * 32 + "\n")
    first = FileKey(str(good), "good")
    with pytest.raises(CredentialUnavailable, match=r"missing: cannot read key file .*nope"):
        resolve_keys([first, FileKey(str(tmp_path / "nope"), "missing")])
    (secret,) = resolve_keys([first])
    assert secret is not None and secret.reveal() == b"aa" * 32  # surrounding whitespace dropped
    assert "aa" not in repr(secret)
    with pytest.raises(CredentialError, match="must be absolute"):
        FileKey("relative.key", "rel")
