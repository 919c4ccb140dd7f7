"""Environments and credentials: production by default, demo never runs on production keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.venues.kalshi.config import CredentialError, KalshiEnv, load_signer, resolve_config
from tests.venues.kalshi.support import TRADER, make_key


def _keyfile(tmp_path: Path, name: str, key_id: str = TRADER) -> str:
    path = tmp_path / name
    path.write_bytes(make_key(key_id).private_pem)
    return str(path)


def test_production_is_the_default(tmp_path: Path) -> None:
    env = {"KALSHI_API_KEY_ID": "prod", "KALSHI_PRIVATE_KEY_PATH": _keyfile(tmp_path, "p.pem")}
    config = resolve_config(environ=env)
    assert config.env is KalshiEnv.PRODUCTION
    # the recommended hosts of docs /getting_started/api_environments
    assert config.rest_url == "https://external-api.kalshi.com/trade-api/v2"
    assert config.ws_url == "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
    assert config.key_id == "prod"
    assert load_signer(config).key_id == "prod"


def test_demo_uses_only_demo_variables_and_urls(tmp_path: Path) -> None:
    env = {
        "KALSHI_API_KEY_ID": "prod", "KALSHI_PRIVATE_KEY_PATH": _keyfile(tmp_path, "p.pem"),
        "KALSHI_DEMO_API_KEY_ID": "demo",
        "KALSHI_DEMO_PRIVATE_KEY_PATH": _keyfile(tmp_path, "d.pem", "other-key"),
    }
    config = resolve_config(demo=True, environ=env)
    assert config.env is KalshiEnv.DEMO
    assert config.key_id == "demo"
    assert config.rest_url == "https://external-api.demo.kalshi.co/trade-api/v2"
    assert config.ws_url == "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"


def test_demo_refuses_production_only_credentials(tmp_path: Path) -> None:
    env = {"KALSHI_API_KEY_ID": "prod", "KALSHI_PRIVATE_KEY_PATH": _keyfile(tmp_path, "p.pem")}
    with pytest.raises(CredentialError, match="demo run refused: only production credentials"):
        resolve_config(demo=True, environ=env)


def test_demo_refuses_the_production_key_id(tmp_path: Path) -> None:
    env = {
        "KALSHI_API_KEY_ID": "same", "KALSHI_PRIVATE_KEY_PATH": _keyfile(tmp_path, "p.pem"),
        "KALSHI_DEMO_API_KEY_ID": "same",
        "KALSHI_DEMO_PRIVATE_KEY_PATH": _keyfile(tmp_path, "d.pem", "other-key"),
    }
    with pytest.raises(CredentialError, match="production key id"):
        resolve_config(demo=True, environ=env)


def test_demo_refuses_the_production_key_file_even_as_a_copy(tmp_path: Path) -> None:
    prod = _keyfile(tmp_path, "p.pem")
    copy = _keyfile(tmp_path, "copy.pem")  # same key bytes, different path
    env = {"KALSHI_API_KEY_ID": "prod", "KALSHI_PRIVATE_KEY_PATH": prod,
           "KALSHI_DEMO_API_KEY_ID": "demo", "KALSHI_DEMO_PRIVATE_KEY_PATH": copy}
    with pytest.raises(CredentialError, match="production private key"):
        resolve_config(demo=True, environ=env)


def test_missing_credentials_name_the_variables() -> None:
    with pytest.raises(CredentialError, match="KALSHI_DEMO_API_KEY_ID, KALSHI_DEMO_PRIVATE_KEY"):
        resolve_config(demo=True, environ={})
    config = resolve_config(environ={}, require_credentials=False)
    assert not config.has_credentials


def test_url_overrides_apply_to_either_environment() -> None:
    config = resolve_config(
        demo=True, rest_url="http://127.0.0.1:9/trade-api/v2/", ws_url="ws://127.0.0.1:9/x",
        environ={}, require_credentials=False,
    )
    assert config.rest_url == "http://127.0.0.1:9/trade-api/v2"
    assert config.ws_url == "ws://127.0.0.1:9/x"
