"""Kalshi environments, endpoints and credentials.

Production is the default on purpose: a forgotten flag must never send real orders to a demo
account we think is production or vice versa, so the *credentials* are tied to the environment
(separate variable names) and a demo run refuses anything that looks like a production key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from arbiter.venues.kalshi.signing import Signer, load_private_key_file

__all__ = [
    "CredentialError",
    "KalshiConfig",
    "KalshiEnv",
    "load_signer",
    "resolve_config",
]

REST_PREFIX: Final = "/trade-api/v2"
WS_PATH: Final = "/trade-api/ws/v2"


class KalshiEnv(StrEnum):
    PRODUCTION = "production"
    DEMO = "demo"


#: the recommended hosts (docs /getting_started/api_environments: "the external-api hosts are
#: dedicated to the external Trade API and are the recommended hosts for API traders"; the same
#: in kalshi-python-sync 3.34.0 ``Configuration``). The shared hosts below remain supported and
#: can be given with --kalshi-rest / --kalshi-ws; the signature does not depend on the host.
DEFAULT_URLS: Final = {
    KalshiEnv.PRODUCTION: (
        "https://external-api.kalshi.com/trade-api/v2",
        "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
    ),
    KalshiEnv.DEMO: (
        "https://external-api.demo.kalshi.co/trade-api/v2",
        "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
    ),
}
#: the shared hosts, "also supported" (same docs page)
SHARED_URLS: Final = {
    KalshiEnv.PRODUCTION: (
        "https://api.elections.kalshi.com/trade-api/v2",
        "wss://api.elections.kalshi.com/trade-api/ws/v2",
    ),
    KalshiEnv.DEMO: (
        "https://demo-api.kalshi.co/trade-api/v2",
        "wss://demo-api.kalshi.co/trade-api/ws/v2",
    ),
}

ENV_VARS: Final = {
    KalshiEnv.PRODUCTION: ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH"),
    KalshiEnv.DEMO: ("KALSHI_DEMO_API_KEY_ID", "KALSHI_DEMO_PRIVATE_KEY_PATH"),
}


class CredentialError(ValueError):
    """Missing or mismatched credentials; the message names variables, never values of keys."""


@dataclass(frozen=True)
class KalshiConfig:
    env: KalshiEnv = KalshiEnv.PRODUCTION
    rest_url: str = DEFAULT_URLS[KalshiEnv.PRODUCTION][0]
    ws_url: str = DEFAULT_URLS[KalshiEnv.PRODUCTION][1]
    key_id: str | None = None
    key_path: Path | None = None

    @property
    def has_credentials(self) -> bool:
        return self.key_id is not None and self.key_path is not None


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or Path(a).read_bytes() == Path(b).read_bytes()
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def resolve_config(
    demo: bool = False,
    rest_url: str | None = None,
    ws_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = True,
) -> KalshiConfig:
    """Build the config for one run from flags and environment variables.

    Demo runs read only the ``KALSHI_DEMO_*`` variables and refuse to start when only the
    production ones are set, or when both name the same key (id or file): a demo run holding a
    production key is exactly the accident this guards against.
    """
    env_map = os.environ if environ is None else environ
    env = KalshiEnv.DEMO if demo else KalshiEnv.PRODUCTION
    id_var, path_var = ENV_VARS[env]
    key_id = env_map.get(id_var) or None
    key_path = env_map.get(path_var) or None
    if env is KalshiEnv.DEMO:
        prod_id = env_map.get("KALSHI_API_KEY_ID") or None
        prod_path = env_map.get("KALSHI_PRIVATE_KEY_PATH") or None
        if (prod_id or prod_path) and not (key_id or key_path):
            raise CredentialError(
                "demo run refused: only production credentials (KALSHI_API_KEY_ID / "
                "KALSHI_PRIVATE_KEY_PATH) are set; set KALSHI_DEMO_API_KEY_ID and "
                "KALSHI_DEMO_PRIVATE_KEY_PATH"
            )
        if key_id and prod_id and key_id == prod_id:
            raise CredentialError(
                "demo run refused: KALSHI_DEMO_API_KEY_ID is the production key id"
            )
        if key_path and prod_path and _same_file(key_path, prod_path):
            raise CredentialError(
                "demo run refused: KALSHI_DEMO_PRIVATE_KEY_PATH is the production private key"
            )
    if require_credentials and not (key_id and key_path):
        missing = [v for v, x in ((id_var, key_id), (path_var, key_path)) if not x]
        raise CredentialError(f"Kalshi {env.value} credentials missing: set {', '.join(missing)}")
    default_rest, default_ws = DEFAULT_URLS[env]
    return KalshiConfig(
        env=env,
        rest_url=(rest_url or default_rest).rstrip("/"),
        ws_url=(ws_url or default_ws).rstrip("/"),
        key_id=key_id,
        key_path=Path(key_path) if key_path else None,
    )


def load_signer(config: KalshiConfig) -> Signer:
    if config.key_id is None or config.key_path is None:
        raise CredentialError(f"Kalshi {config.env.value} credentials missing")
    return Signer(config.key_id, load_private_key_file(config.key_path))
