"""Ed25519 API keys: the same pre-sign text, signed with Ed25519 (kalshi-python-sync 3.34.0
``auth.py``), accepted by our signer, our verifier and the local Kalshi, REST and WebSocket."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.kalshi.signing import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    Signer,
    load_private_key,
    load_public_key,
    sign_message,
    verify_message,
)
from arbiter.venues.kalshi.ws import KalshiFeed
from tests.venues.kalshi.test_ws import config, running

SDK_PYTHON = Path(__file__).resolve().parents[3] / ".venv-kalshi-sdk" / "bin" / "python"
KEY = ed25519.Ed25519PrivateKey.generate()
PRIVATE_PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # the form Kalshi generates
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
KEY_ID = "ed25519-trader"
PATH = "/trade-api/v2/portfolio/balance"


def test_ed25519_signs_the_same_text_and_verifies_strictly() -> None:
    private, public = load_private_key(PRIVATE_PEM), load_public_key(PUBLIC_PEM)
    sig = sign_message(private, 1700000000123, "get", PATH)
    assert sig == sign_message(private, 1700000000123, "GET", PATH)  # Ed25519 is deterministic
    assert verify_message(public, "1700000000123", "GET", PATH, sig)
    assert not verify_message(public, "1700000000124", "GET", PATH, sig)
    assert not verify_message(public, "1700000000123", "POST", PATH, sig)
    assert not verify_message(public, "1700000000123", "GET", PATH + "x", sig)
    urlsafe = sig.replace("+", "-").replace("/", "_")
    assert urlsafe == sig or not verify_message(public, "1700000000123", "GET", PATH, urlsafe)
    headers = Signer(KEY_ID, private).headers("GET", PATH, 1700000000123)
    assert headers[HEADER_SIGNATURE] == sig and headers[HEADER_KEY] == KEY_ID


def _ed25519_account(sim: KalshiSim) -> None:
    sim.exchange.add_account(KEY_ID, load_public_key(PUBLIC_PEM), 1000 * 10**10)


@pytest.mark.integration
async def test_the_local_kalshi_accepts_ed25519_keys_on_rest_and_websocket(sim: KalshiSim) -> None:
    _ed25519_account(sim)
    cfg = KalshiConfig(env=KalshiEnv.DEMO, rest_url=sim.rest_url, ws_url=sim.ws_url)
    signer = Signer(KEY_ID, load_private_key(PRIVATE_PEM))
    async with KalshiRestClient(cfg, signer) as client:
        assert await client.balance() == 1000 * 10**10
    feed = KalshiFeed(config(sim), signer, ["KXSTATIC-A"])  # orderbook_delta is private
    async with running(feed):
        assert await feed.wait_synced(15)
    assert sim.stats["auth_failures"] == 0


@pytest.mark.integration
@pytest.mark.slow  # the current SDK's interpreter start (~1.5 s)
@pytest.mark.skipif(not SDK_PYTHON.exists(), reason="no .venv-kalshi-sdk (make kalshi-sdk-venv)")
async def test_the_current_sdk_signs_with_ed25519_and_we_verify(sim: KalshiSim) -> None:
    script = (
        "import json, sys\nfrom kalshi_python_sync.auth import KalshiAuth\n"
        "a = KalshiAuth(sys.argv[1], sys.stdin.read())\n"
        "print(json.dumps(a.create_auth_headers('GET', sys.argv[2])))"
    )
    url = f"{sim.rest_url}/portfolio/balance?subaccount=0"
    out = subprocess.run([str(SDK_PYTHON), "-c", script, KEY_ID, url], input=PRIVATE_PEM.decode(),
                         text=True, capture_output=True, timeout=60, check=True)
    headers = json.loads(out.stdout)
    assert verify_message(load_public_key(PUBLIC_PEM), headers[HEADER_TIMESTAMP], "GET", PATH,
                          headers[HEADER_SIGNATURE])
    _ed25519_account(sim)
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def test_a_feed_without_credentials_refuses_to_connect() -> None:
    from arbiter.venues.kalshi.ws import UnauthenticatedFeedError

    feed = KalshiFeed(KalshiConfig(), None, ["KXA"])
    with pytest.raises(UnauthenticatedFeedError, match="every WebSocket connection is signed"):
        await feed.run()
