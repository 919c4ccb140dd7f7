"""Pieces every local venue simulator shares: accounts files, fault switches, scenarios.

The simulators exist so that every live code path (signing, REST, WebSocket, reconnects) runs
against something real on loopback. What makes them useful beyond "it answers" is that they are
*deterministic* (seeded random walks, seeded fault dice) and *steerable from tests* (fault switches
a test flips on a running server). Both venue simulators use the same three pieces so a
cross-venue scenario with the same seed produces correlated books and occasional mispricings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import random
import secrets
import signal
import sys
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from arbiter.core.units import (
    PRICE_SCALE,
    Money,
    Price,
    Size,
    UnitError,
    parse_money,
    parse_price,
    parse_size,
)

__all__ = [
    "ADMIN_HEADER",
    "ADMIN_PREFIX",
    "ADMIN_TOKEN_ENV",
    "BUILTIN_SCENARIOS",
    "WRITE_HIGH_WATER",
    "AccountEntry",
    "BadInput",
    "FaultSwitches",
    "MakerQuote",
    "RandomWalk",
    "ScenarioMarket",
    "ScenarioSpec",
    "SimConfigError",
    "add_admin_token_arg",
    "admin_authorized",
    "admin_headers",
    "admin_token_arg",
    "diff_quotes",
    "load_accounts",
    "load_scenario",
    "maker_quotes",
    "new_admin_token",
    "parse_json",
    "text_frame",
    "write_batch",
]


#: 50 contracts: enough depth that a manual test order fills at once.
DEFAULT_MAKER_SIZE: Final = Size(50_000_000)


_F = TypeVar("_F")


class SimConfigError(ValueError):
    """A broken accounts or scenario file; the message names the file and the entry."""


# -- accounts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountEntry:
    """One ``[[account]]`` table; typed accessors resolve paths against the file's folder."""

    raw: Mapping[str, Any]
    base_dir: Path
    source: Path
    index: int

    def _where(self, key: str) -> str:
        return f"{self.source}: account #{self.index + 1} field {key!r}"

    def string(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str) or not value:
            raise SimConfigError(f"{self._where(key)} must be a non-empty string")
        return value

    def path(self, key: str) -> Path:
        p = Path(self.string(key))
        return p if p.is_absolute() else (self.base_dir / p)

    def read_text(self, key: str) -> str:
        p = self.path(key)
        try:
            return p.read_text()
        except OSError as exc:
            raise SimConfigError(f"{self._where(key)}: cannot read {p}: {exc.strerror}") from None

    def money(self, key: str, default: str = "0") -> Money:
        value = self.raw.get(key, default)
        try:
            return parse_money(str(value) if isinstance(value, int) else value)
        except UnitError as exc:
            raise SimConfigError(f"{self._where(key)}: {exc}") from None


def load_accounts(path: str | Path) -> list[AccountEntry]:
    """Parse an ACCOUNTS.toml (``[[account]]`` tables); venue sims pick the fields they need."""
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text())
    except OSError as exc:
        raise SimConfigError(f"cannot read accounts file {source}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SimConfigError(f"{source}: not valid TOML: {exc}") from None
    tables = data.get("account", [])
    if not isinstance(tables, list) or not tables:
        raise SimConfigError(f"{source}: expected at least one [[account]] table")
    return [
        AccountEntry(raw=t, base_dir=source.parent, source=source, index=i)
        for i, t in enumerate(tables)
    ]


# -- WebSocket batch writes ----------------------------------------------------------------------

#: bytes a connection's transport may hold unsent before a batch writer waits for it to drain
WRITE_HIGH_WATER: Final = 4 << 20


def text_frame(text: str | bytes) -> bytes:
    """One unmasked, unfragmented server text frame (RFC 6455 §5.2).

    The simulators' writers send a batch of queued frames as one ``transport.write`` of these
    instead of one ``send_str`` per message: a venue gateway's frames reach a busy client
    coalesced in TCP segments, and a per-message send would make the local venue, not the
    client, the limit of a feed benchmark. Per-frame sends stay for the latency and
    disconnect faults, which act between frames.
    """
    data = text.encode() if isinstance(text, str) else text
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + data
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + data


async def write_batch(transport: asyncio.Transport, frames: Iterable[str | bytes]) -> bool:
    """Write ``frames`` as one batch of text frames, then wait while the socket's backlog is
    over :data:`WRITE_HIGH_WATER`. False when the connection is closing (before the write: then
    nothing was written), the writer's cue to end."""
    if transport.is_closing():
        return False
    transport.write(b"".join(text_frame(f) for f in frames))
    while transport.get_write_buffer_size() > WRITE_HIGH_WATER:
        if transport.is_closing():
            return False
        await asyncio.sleep(0.0005)
    return True


# -- fault injection -------------------------------------------------------------------------------


@dataclass
class FaultSwitches:
    """Switches a test flips on a running simulator; all randomness comes from ``seed``.

    Probabilities apply per outgoing WebSocket data frame; the ``*_next`` counters are one-shot
    and exact, which is what deterministic tests want (“the next 3 POSTs answer 503”).
    """

    seed: int = 0
    drop_prob: float = 0.0
    duplicate_prob: float = 0.0
    reorder_prob: float = 0.0
    seq_gap_prob: float = 0.0
    latency_ms: int = 0
    #: (status, count): the next ``count`` HTTP requests matching ``http_burst_methods`` fail
    http_burst: tuple[int, int] = (0, 0)
    http_burst_methods: frozenset[str] = frozenset({"GET", "POST", "DELETE"})
    #: fail *after* the request took effect (the "did my order go through?" case)
    http_burst_after: bool = False
    #: one-shot: skip one seq number on the next data frame of every subscription
    seq_gap_next: int = 0
    #: one-shot: close every WebSocket connection after this many more data frames
    disconnect_after: int | None = None
    #: accounts (Kalshi API key ids) whose authenticated requests hang ``stall_ms`` before the
    #: venue answers: one account's stalled connection, the others' served as usual
    stall_accounts: frozenset[str] = frozenset()
    stall_ms: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reset(self) -> None:
        seed = self.seed
        self.__init__(seed=seed)  # type: ignore[misc]

    def update(self, settings: Mapping[str, Any]) -> None:
        """Apply a JSON/TOML mapping (the simulators' admin endpoint uses this).

        All or nothing: every value is converted first, so a bad one (:class:`SimConfigError`,
        ``ValueError``, ``TypeError``, ``OverflowError``) leaves every switch as it was.
        """
        changes: dict[str, Any] = {}
        for key, value in settings.items():
            if key == "http_burst":
                status, count = value
                changes[key] = (int(status), int(count))
            elif key == "http_burst_methods":
                if isinstance(value, str):
                    raise SimConfigError("http_burst_methods must be a list of methods")
                changes[key] = frozenset(str(m).upper() for m in value)
            elif key == "http_burst_after":
                changes[key] = bool(value)
            elif key == "seed":
                changes[key] = int(value)
            elif key in {"drop_prob", "duplicate_prob", "reorder_prob", "seq_gap_prob"}:
                changes[key] = float(value)
            elif key in {"latency_ms", "seq_gap_next"}:
                changes[key] = int(value)
            elif key == "disconnect_after":
                changes[key] = None if value is None else int(value)
            elif key == "stall_accounts":
                if isinstance(value, str):
                    raise SimConfigError("stall_accounts must be a list of account ids")
                changes[key] = frozenset(str(a) for a in value)
            elif key == "stall_ms":
                changes[key] = int(value)
            else:
                raise SimConfigError(f"unknown fault switch {str(key)[:60]!r}")
        for key, value in changes.items():
            setattr(self, key, value)
            if key == "seed":
                self._rng = random.Random(value)

    def take_http_fault(self, method: str) -> int | None:
        """Status to fail this request with, or ``None``; consumes one unit of the burst."""
        status, count = self.http_burst
        if count > 0 and method.upper() in self.http_burst_methods:
            self.http_burst = (status, count - 1)
            return status
        return None

    def roll(self, prob: float) -> bool:
        return prob > 0.0 and self._rng.random() < prob

    def take_seq_gap(self) -> bool:
        if self.seq_gap_next > 0:
            self.seq_gap_next -= 1
            return True
        return self.roll(self.seq_gap_prob)

    @property
    def between_frames(self) -> bool:
        """A latency or disconnect fault is set: it acts between frames, so the writers send
        one frame at a time instead of a batch (:func:`write_batch`)."""
        return bool(self.latency_ms) or self.disconnect_after is not None

    def take_disconnect(self) -> bool:
        """Counts one outgoing data frame; true when the connection should now be dropped."""
        if self.disconnect_after is None:
            return False
        if self.disconnect_after <= 0:
            self.disconnect_after = None
            return True
        self.disconnect_after -= 1
        return False

    async def delay(self) -> None:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)

    async def stall(self, account: str | None) -> None:
        """Hold a request of a stalled account (see :attr:`stall_accounts`)."""
        if account is not None and account in self.stall_accounts and self.stall_ms > 0:
            await asyncio.sleep(self.stall_ms / 1000)

    def shape_frames(self, frames: list[_F]) -> list[_F]:
        """Drop / duplicate / reorder a batch of already-sequenced outgoing frames."""
        if not (self.drop_prob or self.duplicate_prob or self.reorder_prob):
            return frames
        out: list[_F] = []
        for frame in frames:
            if self.roll(self.drop_prob):
                continue
            out.append(frame)
            if self.roll(self.duplicate_prob):
                out.append(frame)
        if len(out) > 1 and self.roll(self.reorder_prob):
            i = self._rng.randrange(len(out) - 1)
            out[i], out[i + 1] = out[i + 1], out[i]
        return out


# -- scenarios -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioMarket:
    """One market quoted by liquidity makers; ``venues`` holds per-venue ids and overrides."""

    key: str
    title: str
    fair: Price
    tick: int = 100
    volatility_ticks: int = 1
    levels: int = 3
    spread_ticks: int = 1
    size: Size = DEFAULT_MAKER_SIZE
    #: every N walk steps one venue's quotes are skewed by ``mispricing_ticks`` (0 = never)
    mispricing_every: int = 0
    mispricing_ticks: int = 4
    venues: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    markets: tuple[ScenarioMarket, ...]
    step_ms: int = 250
    #: number of walk steps before makers stop moving (0 = forever)
    steps: int = 0


def _market_from(raw: Mapping[str, Any], where: str) -> ScenarioMarket:
    try:
        tick = int(raw.get("tick", 100))
        return ScenarioMarket(
            key=str(raw["key"]),
            title=str(raw.get("title", raw["key"])),
            fair=parse_price(str(raw.get("fair", "0.50")), tick),
            tick=tick,
            volatility_ticks=int(raw.get("volatility_ticks", 1)),
            levels=int(raw.get("levels", 3)),
            spread_ticks=int(raw.get("spread_ticks", 1)),
            size=parse_size(str(raw.get("size", "50"))),
            mispricing_every=int(raw.get("mispricing_every", 0)),
            mispricing_ticks=int(raw.get("mispricing_ticks", 4)),
            venues={k: v for k, v in raw.items() if isinstance(v, dict)},
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise SimConfigError(f"{where}: bad market entry: {exc}") from None


def _spec_from(data: Mapping[str, Any], where: str) -> ScenarioSpec:
    markets = data.get("market", [])
    if not isinstance(markets, list) or not markets:
        raise SimConfigError(f"{where}: a scenario needs at least one [[market]]")
    return ScenarioSpec(
        name=str(data.get("name", where)),
        markets=tuple(_market_from(m, where) for m in markets),
        step_ms=int(data.get("step_ms", 250)),
        steps=int(data.get("steps", 0)),
    )


#: Named scenarios usable as ``--scenario NAME`` on every simulator.
BUILTIN_SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {
        "name": "default",
        "step_ms": 500,
        # Polymarket taker fee rates by category (docs /trading/fees): economics 0.05, crypto
        # 0.07, weather 0.05, politics 0.04; exponent 1
        "market": [
            {"key": "FED-26DEC-T4.00", "title": "Fed above 4.00% in Dec 2026", "fair": "0.42",
             "mispricing_every": 20, "polymarket": {"fee_rate": "0.05"}},
            {"key": "BTC-26DEC31-100K", "title": "BTC above $100k on Dec 31", "fair": "0.63",
             "mispricing_every": 30, "polymarket": {"fee_rate": "0.07"}},
            {"key": "NYC-26NOV30-RAIN", "title": "Rain in NYC on Nov 30", "fair": "0.18",
             "polymarket": {"fee_rate": "0.05"}},
            {"key": "ELEC-26-HOUSE-D", "title": "Democrats win the House", "fair": "0.55",
             "levels": 5, "polymarket": {"fee_rate": "0.04"}},
        ],
    },
    # A still book: makers quote once and never move (tests that want exact levels).
    "static": {
        "name": "static",
        "step_ms": 500,
        "steps": 0,
        "market": [
            {"key": "STATIC-A", "title": "Static market A", "fair": "0.40", "volatility_ticks": 0},
            {"key": "STATIC-B", "title": "Static market B", "fair": "0.70", "volatility_ticks": 0},
        ],
    },
    # Both local venues at once (`arbiter sim joint`): same walks, venue-specific skews every few
    # steps wide enough to open real cross-venue arbitrage windows after fees (the demo).
    "joint": {
        "name": "joint",
        "step_ms": 500,
        "market": [
            {"key": "FED-26DEC-T4.00", "title": "Fed above 4.00% in Dec 2026", "fair": "0.42",
             "mispricing_every": 8, "mispricing_ticks": 6, "polymarket": {"fee_rate": "0.05"}},
            {"key": "BTC-26DEC31-100K", "title": "BTC above $100k on Dec 31", "fair": "0.63",
             "mispricing_every": 12, "mispricing_ticks": 7, "polymarket": {"fee_rate": "0.07"}},
            {"key": "ELEC-26-HOUSE-D", "title": "Democrats win the House", "fair": "0.55",
             "levels": 5, "mispricing_every": 15, "mispricing_ticks": 6,
             "polymarket": {"fee_rate": "0.04"}},
        ],
    },
    # Many fast-moving markets: feed benchmarks and gap/reorder soak tests.
    "busy": {
        "name": "busy",
        "step_ms": 20,
        "market": [
            {"key": f"BUSY-{i:02d}", "title": f"Busy market {i}", "fair": f"0.{20 + 3 * i:02d}",
             "volatility_ticks": 2, "levels": 5}
            for i in range(20)
        ],
    },
}


def load_scenario(name_or_file: str | None) -> ScenarioSpec:
    """A built-in scenario by name, or a TOML file path; ``None`` is the default scenario."""
    key = name_or_file or "default"
    if key in BUILTIN_SCENARIOS:
        return _spec_from(BUILTIN_SCENARIOS[key], key)
    path = Path(key)
    if not path.exists():
        raise SimConfigError(
            f"unknown scenario {key!r}: not one of {', '.join(BUILTIN_SCENARIOS)} and no such file"
        )
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SimConfigError(f"cannot read scenario file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SimConfigError(f"{path}: not valid TOML: {exc}") from None
    return _spec_from(data, str(path))


class RandomWalk:
    """Seeded fair-value walk of one market, identical in every simulator given the same seed.

    The rng is keyed by (seed, market key) only, so a Kalshi and a Polymarket simulator started
    with the same seed walk the same path; the venue-specific skew (``offset``) is what creates
    cross-venue mispricings.
    """

    def __init__(self, market: ScenarioMarket, seed: int, venue: str) -> None:
        self.market = market
        self.venue = venue
        self._rng = random.Random(f"{seed}:{market.key}")
        self._venue_rng = random.Random(f"{seed}:{market.key}:{venue}")
        self.fair = int(market.fair)
        self.step_no = 0
        self.offset = 0

    def step(self) -> int:
        """Advance one step; returns the venue's quoted mid (fair value plus any skew)."""
        m = self.market
        self.step_no += 1
        if m.volatility_ticks:
            move = self._rng.randint(-m.volatility_ticks, m.volatility_ticks) * m.tick
            low = m.tick * (m.levels + m.spread_ticks + 1)
            self.fair = min(max(self.fair + move, low), PRICE_SCALE - low)
        self.offset = 0
        if m.mispricing_every and self.step_no % m.mispricing_every == 0:
            sign = 1 if self._venue_rng.random() < 0.5 else -1
            self.offset = sign * m.mispricing_ticks * m.tick
        return self.mid

    @property
    def mid(self) -> int:
        m = self.market
        low = m.tick * (m.levels + m.spread_ticks + 1)
        return min(max(self.fair + self.offset, low), PRICE_SCALE - low)


@dataclass(frozen=True, slots=True)
class MakerQuote:
    """A desired resting maker order on the YES axis: ``is_bid`` at ``price`` for ``size``."""

    is_bid: bool
    price: int
    size: int


def maker_quotes(market: ScenarioMarket, mid: int) -> list[MakerQuote]:
    """Ladder of ``levels`` bids and asks around ``mid`` (at least one tick apart), on grid."""
    tick = market.tick
    mid = (mid // tick) * tick
    half = max(market.spread_ticks, 1) * tick
    out: list[MakerQuote] = []
    for i in range(market.levels):
        bid = mid - half - i * tick + (tick if market.spread_ticks == 0 else 0)
        ask = mid + half + i * tick
        if 0 < bid < PRICE_SCALE:
            out.append(MakerQuote(True, bid, market.size))
        if 0 < ask < PRICE_SCALE:
            out.append(MakerQuote(False, ask, market.size))
    return out


def diff_quotes(
    current: Mapping[tuple[bool, int], int], desired: Iterable[MakerQuote]
) -> tuple[list[tuple[bool, int]], list[MakerQuote]]:
    """Which (is_bid, price) levels to cancel and which quotes to (re)place.

    A level whose resting size already equals the target is left alone, so a maker keeps its
    queue priority when the walk does not move.
    """
    want = {(q.is_bid, q.price): q for q in desired}
    cancels = [k for k, size in current.items() if k not in want or want[k].size != size]
    places = [q for k, q in want.items() if current.get(k) != q.size]
    return cancels, places


def serve_until_signalled(
    start: Callable[[], Awaitable[str]], stop: Callable[[], Awaitable[None]], stopped: str
) -> int:
    """Run a local venue until SIGINT/SIGTERM: ``start`` returns the banner, ``stop`` tears down.

    One loop for every ``arbiter sim ...`` command, so all of them exit the same way (banner on
    stdout once listening, which tests wait for; a last line on stderr once stopped).
    """

    async def serve() -> None:
        event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, event.set)
        print(await start(), flush=True)
        try:
            await event.wait()
        finally:
            await stop()

    asyncio.run(serve())
    print(stopped, file=sys.stderr)
    return 0


# -- hostile input ---------------------------------------------------------------------------------


class BadInput(ValueError):
    """A request body, query value or WebSocket frame the venue cannot even parse.

    Each local venue turns it into its own "bad request" answer (Kalshi's top-level
    ``bad_request`` body, Polymarket's ``{"error": ...}``, the WebSocket error frames), never a
    5xx and never a dropped connection: a client bug must look to the client exactly as it would
    on the live venue.
    """


def _no_constant(name: str) -> Any:
    raise BadInput(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BadInput(f"number {text[:40]} is out of range")
    return value


def parse_json(data: bytes | str) -> Any:
    """Strict JSON as the venues' servers read it, or :class:`BadInput`.

    Strict where Python's ``json`` is lenient: UTF-8 only, no ``NaN``/``Infinity`` (RFC 8259
    §6), no number that overflows a double (``1e999``), and bounded nesting (a nesting bomb is
    a ``RecursionError`` inside ``json``; here it is a refused body like any other).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except BadInput:
        raise
    except RecursionError:
        raise BadInput("JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise BadInput(f"not JSON: {str(exc)[:80]}") from None


# -- admin (test-control) routes -------------------------------------------------------------------

#: every local venue's test controls live under this prefix; none of it is the venue's surface
ADMIN_PREFIX: Final = "/_sim/"
#: the header that carries the admin token (``arbiter sim ... --admin-token``,
#: ``LocalVenues.admin_token``)
ADMIN_HEADER: Final = "X-Sim-Admin-Token"
#: where ``arbiter sim ...`` reads the token when ``--admin-token`` is not given
ADMIN_TOKEN_ENV: Final = "ARBITER_SIM_ADMIN_TOKEN"


def new_admin_token() -> str:
    """A fresh random token: a local venue whose caller named none still has locked controls."""
    return secrets.token_urlsafe(24)


def admin_authorized(headers: Mapping[str, str], token: str) -> bool:
    """Constant-time check of the admin header (anyone on the host can reach loopback ports:
    settling a market or funding an account must take more than knowing the port)."""
    given = headers.get(ADMIN_HEADER, "")
    return hmac.compare_digest(given.encode(), token.encode())


def add_admin_token_arg(parser: argparse.ArgumentParser) -> None:
    """``--admin-token`` of every ``arbiter sim ...`` command (one flag, one meaning)."""
    parser.add_argument(
        "--admin-token", metavar="TOKEN",
        help=f"token the /_sim/ test controls require in the {ADMIN_HEADER} header (default: "
             f"${ADMIN_TOKEN_ENV}, else a random one: the controls are then locked)")


def admin_token_arg(args: argparse.Namespace) -> str | None:
    """The token from ``--admin-token`` or the environment; ``None``: the venue makes one."""
    return args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None


def admin_headers(token: str) -> dict[str, str]:
    """The headers a test, bench or demo sends with a ``/_sim/...`` call."""
    return {ADMIN_HEADER: token}
