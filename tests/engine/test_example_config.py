"""``examples/engine.toml`` ships and runs: a dry run against the local venues, keys by reference.

The file is loaded with the real loader (``load_config``) against a credential store holding the
paper tenant's keys (what ``python -m arbiter.sim.launcher --store`` writes), and the tenant is
built and warmed up against both local venues: authenticated balance reads at a venue that
checks every signature prove the store references resolve in the process that signs; the
clients are the dry-run ones, so no order could leave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from arbiter.app.build import build_tenant, warm_up
from arbiter.app.config import load_config
from arbiter.app.errors import ConfigError
from arbiter.engine.uploads import scan_working_dir
from arbiter.security.backends import backend_from_uri
from arbiter.security.credentials import CredentialStore, StoreKey
from arbiter.sim.launcher import JOINT_SCENARIO, LocalVenues, _scenario, scenario_pairs_toml
from arbiter.venues.base import DryRunClient

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIG = EXAMPLES / "engine.toml"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$ARBITER_HOME`` of its own: the example's [credentials] defaults point there."""
    home = tmp_path / "arbiter-home"
    monkeypatch.setenv("ARBITER_HOME", str(home))
    monkeypatch.delenv("ARBITER_SECRETS", raising=False)
    return home


@pytest_asyncio.fixture
async def stored_venues(tmp_path: Path, home: Path) -> AsyncIterator[LocalVenues]:
    venues = LocalVenues(tmp_path / "paper")
    await venues.start()
    store = CredentialStore.open(home / "credentials", backend_from_uri(f"file:{home / 'secrets'}"),
                                 create=True)
    venues.store_credentials(store)
    try:
        yield venues
    finally:
        await venues.stop()


def test_example_pairs_are_the_local_venues_markets() -> None:
    """The same pairs, with the scenario's review stamp (its time aside: it is when it ran)."""

    def lines(text: str) -> list[str]:
        return [line for line in text.splitlines()
                if not line.startswith(("#", "reviewed_at = "))]

    assert lines((EXAMPLES / "pairs.toml").read_text()) == lines(
        scenario_pairs_toml(_scenario(JOINT_SCENARIO)))


def test_examples_hold_no_secret_to_upload() -> None:
    assert scan_working_dir(EXAMPLES) == []


def test_without_the_store_the_example_says_what_is_missing(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[credentials\].*arbiter credentials init"):
        load_config(CONFIG)


def test_a_store_tenant_takes_no_inline_key(home: Path, tmp_path: Path) -> None:
    text = CONFIG.read_text().replace('credentials = "store"',
                                      'credentials = "store"\npolymarket_api_secret = "x"')
    (tmp_path / "engine.toml").write_text(text)
    (tmp_path / "pairs.toml").write_text((EXAMPLES / "pairs.toml").read_text())
    with pytest.raises(ConfigError, match="remove polymarket_api_secret"):
        load_config(tmp_path / "engine.toml")


async def test_example_config_dry_runs_against_the_local_venues(
    stored_venues: LocalVenues, tmp_path: Path
) -> None:
    config = load_config(CONFIG)
    assert config.dry_run and config.mode == "dry-run"
    assert config.journal_dir == str(Path.home() / ".arbiter" / "journal" / "example")
    assert {config.endpoints.kalshi_rest, config.endpoints.polymarket_rest} == {
        "http://127.0.0.1:8700/trade-api/v2", "http://127.0.0.1:8710"}
    (tenant,) = config.tenants
    refs = [tenant.kalshi_private_key, tenant.polymarket_private_key, *(tenant.polymarket_api or ())]
    assert len(refs) == 5 and all(isinstance(r, StoreKey) for r in refs), refs
    assert len(config.pairs) == len(_scenario(JOINT_SCENARIO).markets)
    # the local venues listen on free ports here; everything else is the file as shipped
    kalshi, poly = stored_venues.kalshi, stored_venues.polymarket
    assert kalshi is not None and poly is not None
    config = config.with_overrides(
        endpoints=replace(config.endpoints, kalshi_rest=kalshi.rest_url, kalshi_ws=kalshi.ws_url,
                          polymarket_rest=poly.url, polymarket_ws=poly.ws_url),
        journal_dir=str(tmp_path / "journal"))
    runtime = await build_tenant(config, tenant)
    try:
        assert all(isinstance(c, DryRunClient) for c in runtime.clients.values())
        await warm_up(runtime, config)
        for venue in ("kalshi", "polymarket"):
            assert runtime.risk.book.balances[venue] > 0, venue
    finally:
        await runtime.close()
