"""The one local-venue launcher (paper money): both local venues on loopback, fresh credentials,
and an engine config for them.

``make demo``, the job test and the latency benchmark all need the same thing: a local Kalshi and
a local Polymarket quoting the *same* markets (one seeded random walk, venue-specific skews that
open arbitrage windows), accounts funded with fake money, and a config + pairs file the engine
can load. This module builds exactly that around the simulators, in-process
(:class:`LocalVenues`) or as a process of its own (``python -m arbiter.sim.launcher``), so the
engine under test talks to real servers over real sockets with real signatures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.core.pairs import review_lines
from arbiter.core.units import format_decimal
from arbiter.security.backends import backend_from_uri
from arbiter.security.credentials import CredentialStore
from arbiter.security.secrets import KalshiCredentials, PolymarketCredentials, Secret
from arbiter.sim.common import (
    BUILTIN_SCENARIOS,
    ScenarioSpec,
    SimConfigError,
    _spec_from,
    admin_headers,
    load_accounts,
    load_scenario,
    new_admin_token,
)
from arbiter.sim.kalshi.server import KalshiSim, build_sim
from arbiter.sim.polymarket.builder import build_exchange, market_from_scenario
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.telemetry.logging import setup
from arbiter.venues.polymarket.signing import Signer as PolySigner

__all__ = ["JOINT_SCENARIO", "PROBE_SCENARIO", "LocalVenues", "PaperProcess", "scenario_pairs_toml"]

#: The sims' joint scenario (``arbiter sim joint``): both venues walk the same fair values and
#: skew by a few ticks every few steps, opening arbitrage windows worth trading after fees.
JOINT_SCENARIO = "joint"

#: Still books with deep liquidity: the latency benchmark creates every opportunity itself.
PROBE_SCENARIO: dict[str, Any] = {
    "name": "latency-probe",
    "step_ms": 1000,
    "steps": 1,
    "market": [
        {"key": f"PROBE-{i}", "title": f"Probe market {i}", "fair": "0.50", "volatility_ticks": 0,
         "levels": 3, "spread_ticks": 2, "size": "1000000"}
        for i in range(8)
    ],
}

FAKE_CASH = "10000000"


def scenario_pairs_toml(spec: ScenarioSpec, at: datetime | None = None) -> str:
    """The pairs file matching a scenario: Kalshi ``KX<key>`` ↔ the derived Polymarket tokens.

    Every pair carries a review stamp naming the scenario as its reviewer: the engine trades
    reviewed pairs only (ADR 0136), and these are the same contract by construction — both
    local venues list them from one scenario market — not a look-alike a person must read."""
    review = review_lines(f"local scenario {spec.name!r} (arbiter.sim.launcher)",
                          at or datetime.now(UTC),
                          "both local venues list this market from one scenario spec: the same "
                          "contract by construction; local venues, fake money")
    lines = []
    for sm in spec.markets:
        pm = market_from_scenario(sm)
        ticker = str(sm.venues.get("kalshi", {}).get("ticker") or f"KX{sm.key}")
        lines += [
            "[[pair]]",
            f'name = "{sm.key.lower()}"',
            f'kalshi_ticker = "{ticker}"',
            f'polymarket_yes_token = "{pm.yes_token}"',
            f'polymarket_no_token = "{pm.no_token}"',
            f'polymarket_tick_size = "{pm.tick_text}"',
            f'polymarket_fee_rate = "{pm.fee.rate_text}"',
            f"polymarket_fee_exponent = {pm.fee_exponent}",
            f'polymarket_min_order_size = "{format_decimal(pm.min_order_size, 6)}"',
            *review,
            "",
        ]
    return "\n".join(lines)


def _scenario(name: str) -> ScenarioSpec:
    if name == PROBE_SCENARIO["name"]:
        return _spec_from(PROBE_SCENARIO, name)
    return load_scenario(name)


#: the file (mode 0600, in the work dir) holding the local venues' admin token
ADMIN_TOKEN_FILE = "sim-admin.token"


class LocalVenues:
    """Both simulators in this process, plus the files an engine needs to trade against them."""

    def __init__(self, workdir: str | Path, scenario: str = JOINT_SCENARIO,
                 seed: int = 7, journal_sync: str = "NORMAL",
                 admin_token: str | None = None, kalshi_port: int = 0,
                 polymarket_port: int = 0, tenants: tuple[str, ...] = ("paper",)) -> None:
        self.dir = Path(workdir)
        self.ports = (kalshi_port, polymarket_port)
        #: the paper tenants, each with its own Kalshi key and Polymarket wallet, funded alike;
        #: the first one's files keep the one-tenant names (``kalshi.pem``, ``polymarket.key``)
        self.tenants = tenants
        #: tenant -> (Kalshi key id, Polymarket address, Polymarket API triple)
        self.accounts: dict[str, tuple[str, str, tuple[str, str, str]]] = {}
        #: extra ``[[tenant]]`` lines per tenant beyond the first (tier, pairs)
        self.tenant_lines: dict[str, str] = {}
        self.spec = _scenario(scenario)
        #: both venues' ``/_sim/...`` test controls answer only with this token
        #: (``admin_headers()``; written to ``sim-admin.token`` for other processes)
        self.admin_token = admin_token or new_admin_token()
        self.seed = seed
        self.journal_sync = journal_sync
        self.kalshi: KalshiSim | None = None
        self.polymarket: PolymarketSim | None = None
        self._creds: tuple[str, str, tuple[str, str, str]] = ("", "", ("", "", ""))
        #: the paper tenant's Polymarket address (the maker of its orders)
        self.polymarket_address = ""
        #: extra ``[engine]``/``[risk]`` lines for the written config (benchmarks tune these);
        #: paper runs send leg 1 to Polymarket (the saga policy's own default): in the simulated
        #: windows it left fewer unhedged residuals than Kalshi first (measured, not derived)
        self.engine_extra = 'first_venue = "polymarket"\n'
        self.risk_extra = "max_hedge_failures = 1000\n"
        #: extra ``[kalshi]`` and ``[[tenant]]`` lines (API tier, negotiated order rate)
        self.kalshi_extra = ""
        self.tenant_extra = ""

    @property
    def config_path(self) -> Path:
        return self.dir / "engine.toml"

    def key_files(self, tenant: str) -> tuple[str, str]:
        """(Kalshi PEM, Polymarket key) file names of ``tenant`` in :attr:`dir`."""
        prefix = "" if tenant == self.tenants[0] else f"{tenant}-"
        return f"{prefix}kalshi.pem", f"{prefix}polymarket.key"

    def _credentials(self) -> tuple[str, str, tuple[str, str, str]]:
        self.dir.mkdir(parents=True, exist_ok=True)
        kalshi_accounts, poly_accounts = [], []
        for tenant in self.tenants:
            pem, poly_file = self.key_files(tenant)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            (self.dir / pem).write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            pub = pem.replace(".pem", ".pub.pem")
            (self.dir / pub).write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            key_id = f"paper-{secrets.token_hex(6)}"
            poly_key = "0x" + secrets.token_hex(32)
            (self.dir / poly_file).write_text(poly_key)
            address = PolySigner(poly_key).address
            # the L2 secret is url-safe base64 of random bytes, as the CLOB issues it; random,
            # never a constant in the source, so a scan for it (tests/jobs) finds only real leaks
            api = (f"paper-{secrets.token_hex(8)}",
                   base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii"),
                   secrets.token_hex(16))
            kalshi_accounts.append(
                f'[[account]]\napi_key_id = "{key_id}"\npublic_key = "{pub}"\n'
                f'cash = "{FAKE_CASH}"\n')
            poly_accounts.append(
                f'[[account]]\naddress = "{address}"\ncollateral = "{FAKE_CASH}"\n'
                f'api_key = "{api[0]}"\napi_secret = "{api[1]}"\napi_passphrase = "{api[2]}"\n')
            self.accounts[tenant] = (key_id, address, api)
        (self.dir / "kalshi-accounts.toml").write_text("\n".join(kalshi_accounts))
        (self.dir / "polymarket-accounts.toml").write_text("\n".join(poly_accounts))
        return self.accounts[self.tenants[0]]

    def build(self) -> tuple[KalshiSim, PolymarketSim]:
        """Create both simulators (not yet listening): a caller may add middlewares first."""
        self._creds = self._credentials()
        self.polymarket_address = self._creds[1]
        self.kalshi = build_sim(str(self.dir / "kalshi-accounts.toml"), self.spec, seed=self.seed,
                                admin_token=self.admin_token)
        exchange = build_exchange(
            self.spec, load_accounts(self.dir / "polymarket-accounts.toml"), seed=self.seed
        )
        self.polymarket = PolymarketSim(exchange, scenario=self.spec, seed=self.seed,
                                        admin_token=self.admin_token)
        return self.kalshi, self.polymarket

    async def start(self) -> None:
        if self.kalshi is None or self.polymarket is None:
            self.build()
        assert self.kalshi is not None and self.polymarket is not None
        await self.kalshi.start("127.0.0.1", self.ports[0])
        await self.polymarket.start("127.0.0.1", self.ports[1])
        (self.dir / "pairs.toml").write_text(scenario_pairs_toml(self.spec))
        token_file = self.dir / ADMIN_TOKEN_FILE
        token_file.touch(mode=0o600)
        token_file.write_text(self.admin_token)
        self.config_path.write_text(
            "# written by arbiter.sim.launcher: local venues, fake money\n"
            "[engine]\n"
            'pairs = "pairs.toml"\n'
            'journal_dir = "journal"\n'
            f'journal_sync = "{self.journal_sync}"\n'
            'mode = "paper"\n' + self.engine_extra + "\n"
            "[detection]\n"
            'min_edge = "0.001"\n'
            "max_contracts = 5\n\n"
            "[risk]\n"
            "max_open_sagas = 4\n" + self.risk_extra + "\n"
            "[kalshi]\n"
            f'rest_url = "{self.kalshi.rest_url}"\n'
            f'ws_url = "{self.kalshi.ws_url}"\n' + self.kalshi_extra + "\n"
            "[polymarket]\n"
            f'rest_url = "{self.polymarket.url}"\n'
            f'ws_url = "{self.polymarket.ws_url}"\n\n'
            + "\n".join(self.tenant_table(t) for t in self.tenants)
        )

    def admin_headers(self) -> dict[str, str]:
        """Headers for a ``/_sim/...`` call to either venue (faults, settle, fund, ...)."""
        return admin_headers(self.admin_token)

    def store_credentials(self, store: CredentialStore, tenant: str = "paper",
                          as_name: str | None = None) -> None:
        """Put a paper tenant's keys into the encrypted store (as ``as_name``, default the
        tenant's own), for a config that references them (``[[tenant]] credentials = "store"``,
        examples/engine.toml) instead of naming files."""
        key_id, _address, api = self.accounts[tenant]
        pem, poly_file = self.key_files(tenant)
        name = as_name or tenant
        store.put_kalshi(name, KalshiCredentials(
            key_id, Secret((self.dir / pem).read_bytes(), "kalshi.private_key_pem")))
        store.put_polymarket(name, PolymarketCredentials(
            Secret((self.dir / poly_file).read_text().strip(), "polymarket.private_key"),
            Secret(api[0], "polymarket.api_key"), Secret(api[1], "polymarket.api_secret"),
            Secret(api[2], "polymarket.passphrase")))

    def tenant_table(self, tenant: str) -> str:
        """The ``[[tenant]]`` table of one paper tenant (key files, API triple inline)."""
        key_id, _address, api = self.accounts[tenant]
        pem, poly_file = self.key_files(tenant)
        extra = self.tenant_extra if tenant == self.tenants[0] else ""
        return ("[[tenant]]\n"
                f'name = "{tenant}"\n'
                f'kalshi_key_id = "{key_id}"\n'
                f'kalshi_private_key = "{pem}"\n'
                f'polymarket_private_key = "{poly_file}"\n'
                f'polymarket_api_key = "{api[0]}"\n'
                f'polymarket_api_secret = "{api[1]}"\n'
                f'polymarket_api_passphrase = "{api[2]}"\n'
                + extra + self.tenant_lines.get(tenant, ""))

    async def stop(self) -> None:
        for sim in (self.polymarket, self.kalshi):
            if sim is not None:
                with contextlib.suppress(Exception):
                    await sim.stop()

    async def __aenter__(self) -> LocalVenues:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class PaperProcess:
    """:class:`LocalVenues` in a process of its own (what the demo and jobs use), so that the
    venues' clocks are not disturbed by whatever the parent does (drawing a terminal view)."""

    def __init__(self, workdir: str | Path, scenario: str = JOINT_SCENARIO,
                 seed: int = 7) -> None:
        self.dir = Path(workdir)
        self.scenario = scenario
        self.seed = seed
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def config_path(self) -> Path:
        return self.dir / "engine.toml"

    @property
    def admin_token(self) -> str:
        """The venues' ``/_sim/...`` token (the child wrote it, mode 0600, before ``ready``)."""
        return (self.dir / ADMIN_TOKEN_FILE).read_text().strip()

    async def start(self, timeout_s: float = 60.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "arbiter.sim.launcher", "--dir", str(self.dir),
            "--scenario", self.scenario, "--seed", str(self.seed), "--exit-with-stdin",
            stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout_s)
        if not line.startswith(b"ready "):
            await self.stop()
            raise RuntimeError(f"local venues did not start: {line.decode(errors='replace')!r}")

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Serve both venues until SIGTERM; prints ``ready <config path>`` once the files exist."""
    parser = argparse.ArgumentParser(prog="python -m arbiter.sim.launcher")
    parser.add_argument("--dir", required=True, help="where to write keys, pairs and engine.toml")
    parser.add_argument("--scenario", default=JOINT_SCENARIO,
                        help=f"{PROBE_SCENARIO['name']} or one of {', '.join(BUILTIN_SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="stop when stdin closes (the parent died): never outlive it")
    parser.add_argument("--kalshi-port", type=int, default=0, help="default: any free port")
    parser.add_argument("--polymarket-port", type=int, default=0, help="default: any free port")
    parser.add_argument("--store", action="store_true",
                        help="also put the paper tenant's keys into the credential store "
                             "($ARBITER_HOME, $ARBITER_SECRETS as `arbiter credentials`), for "
                             "examples/engine.toml")
    args = parser.parse_args(argv)
    setup()  # JSON with redaction, as every entry point (ADR 0143); stdout is the ready line

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.exit_with_stdin:
            def watch() -> None:
                sys.stdin.buffer.read()
                loop.call_soon_threadsafe(stop.set)

            threading.Thread(target=watch, daemon=True).start()
        venues = LocalVenues(args.dir, args.scenario, args.seed,
                             kalshi_port=args.kalshi_port, polymarket_port=args.polymarket_port)
        await venues.start()
        if args.store:
            home = Path(os.environ.get("ARBITER_HOME") or Path.home() / ".arbiter").expanduser()
            uri = os.environ.get("ARBITER_SECRETS") or f"file:{home / 'secrets'}"
            venues.store_credentials(
                CredentialStore.open(home / "credentials", backend_from_uri(uri), create=True))
        print(f"ready {venues.config_path}", flush=True)
        try:
            await stop.wait()
        finally:
            await venues.stop()

    try:
        asyncio.run(serve())
    except SimConfigError as exc:
        print(f"paper venues: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
