"""``arbiter pairs refresh``: fill each pair's Polymarket market data from the venue, in place.

For every ``[[pair]]`` the command reads ``GET /clob-markets/{condition_id}`` (the condition id
from the pair, else from ``/markets-by-token`` of its YES token) and rewrites the fields the venue
owns — ``polymarket_condition_id``, ``polymarket_tick_size``, ``polymarket_neg_risk``,
``polymarket_fee_rate``, ``polymarket_fee_exponent``, ``polymarket_min_order_size`` — leaving every
other line (names, tickers, ``inverted``, caps, comments, order) as it was. A pre-2026 file with
``polymarket_fee_bps`` is migrated: that line is dropped (it never described the fee charged).

A market whose data cannot be read, or whose fee is unknown, has its fee and minimum *removed*:
the pair stays in the file but cannot trade (``arbiter scan`` refuses it, the engine skips it)
until a later refresh succeeds; the command then exits 2 and names each such pair. Nothing is
ever written as fee-free unless the venue says ``fd.r`` is 0 (ADR 0036).

With ``--kalshi-url`` (or ``--kalshi``: the configured Kalshi host) the Kalshi side is refreshed
too: ``kalshi_fee_type``, ``kalshi_fee_multiplier`` and ``kalshi_price_level_structure`` from the
market's series, event overrides and ``price_ranges`` (``venues.kalshi.series.kalshi_pair_updates``,
public GETs). A Kalshi market that cannot be read keeps its lines and is reported (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

import aiohttp

from arbiter.cli.errors import UsageError
from arbiter.cli.groups import command_group
from arbiter.core.pairs import Pair, PairsError, parse_pairs, set_pair_fields

__all__ = ["refresh_text", "register"]

_LEGACY_FEE = re.compile(r"^\s*polymarket_fee_bps\s*=.*(\r?\n|$)", re.MULTILINE)


async def refresh_text(
    text: str, url: str, source: str = "<pairs>", kalshi_url: str | None = None
) -> tuple[str, dict[str, str]]:
    """The pairs file with every pair's market data from the venue at ``url`` (and the Kalshi
    REST base ``kalshi_url``, when given), plus the pairs that could not be refreshed
    (name -> reason; their Polymarket fee fields are removed)."""
    from arbiter.venues.base import VenueError
    from arbiter.venues.polymarket.market_info import (
        fetch_pair_market,
        pair_fields,
        unknown_fields,
    )
    from arbiter.venues.polymarket.rest import PolymarketRest

    text = _LEGACY_FEE.sub("", text)
    pairs = parse_pairs(text, source)
    updates: dict[str, dict[str, str | int | bool | None]] = {}
    failed: dict[str, str] = {}
    rest = PolymarketRest(url)
    try:
        for pair in pairs:
            try:
                updates[pair.name] = pair_fields(await fetch_pair_market(rest, pair))
            except (VenueError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                failed[pair.name] = str(exc) or repr(exc)
                updates[pair.name] = unknown_fields()
    finally:
        await rest.close()
    if kalshi_url is not None:
        for name, result in (await _kalshi_fields(pairs, kalshi_url)).items():
            if isinstance(result, str):
                failed[name] = f"{failed[name]}; {result}" if name in failed else result
            else:
                updates[name].update(result)
    return set_pair_fields(text, updates, source), failed


async def _kalshi_fields(
    pairs: list[Pair], url: str
) -> dict[str, dict[str, str | int | bool | None] | str]:
    """Each pair's Kalshi fee schedule and grid as pairs-file fields, or why it is unreadable
    (``venues.kalshi.series.kalshi_pair_updates``: public GETs, nothing guessed)."""
    from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
    from arbiter.venues.kalshi.rest import KalshiRestClient
    from arbiter.venues.kalshi.series import kalshi_pair_updates

    env = KalshiEnv.DEMO if "demo" in url else KalshiEnv.PRODUCTION
    client = KalshiRestClient(KalshiConfig(env=env, rest_url=url, ws_url=""))
    out: dict[str, dict[str, str | int | bool | None] | str] = {}
    try:
        updates, failed = await kalshi_pair_updates(client, pairs)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return {p.name: f"kalshi: {exc!r}" for p in pairs}
    finally:
        await client.close()
    out.update({name: dict(fields) for name, fields in updates.items()})
    out.update({name: f"kalshi: {why}" for name, why in failed.items()})
    return out


def _run(args: argparse.Namespace) -> int:
    from arbiter.venues.polymarket.constants import DEFAULT_REST_URL

    path = Path(args.pairs)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read pairs file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"pairs file {path} is not UTF-8 text: {exc.reason}") from None
    url = args.polymarket_url or DEFAULT_REST_URL
    kalshi_url = args.kalshi_url
    if kalshi_url is None and args.kalshi:
        from arbiter.venues.kalshi.config import resolve_config

        try:
            kalshi_url = resolve_config(require_credentials=False).rest_url
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    try:
        new, failed = asyncio.run(refresh_text(text, url, str(path), kalshi_url))
    except PairsError as exc:
        raise UsageError(str(exc)) from None
    if args.check:
        changed = new != text
        print(f"{path}: {'would change' if changed else 'up to date'}", file=sys.stderr)
    elif new != text:
        tmp = path.with_name(path.name + ".refresh.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(path)  # atomic: a crash never leaves half a pairs file
    refreshed = len(parse_pairs(new, str(path))) - len(failed)
    print(f"{path}: {refreshed} pair(s) refreshed from {url}", file=sys.stderr)
    if failed:
        raise UsageError(
            "not tradable until a refresh succeeds: "
            + "; ".join(f"pair '{name}': {why}" for name, why in failed.items())
        )
    return 1 if args.check and new != text else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    psub = command_group(sub, "pairs", "work with the pairs file")
    p = psub.add_parser(
        "refresh",
        help="rewrite each pair's Polymarket fee, minimum size, tick, neg-risk from the venue",
        description="Read /clob-markets for every pair and rewrite its Polymarket market fields "
        "in place (everything else is kept). Pairs whose data cannot be read lose their fee "
        "fields and cannot trade; the command then exits 2.",
    )
    p.add_argument("--pairs", required=True, help="pairs TOML file (rewritten in place)")
    p.add_argument("--polymarket-url", help="Polymarket CLOB base URL (default: production)")
    p.add_argument("--kalshi-url", help="also refresh the Kalshi fee and grid fields from this "
                   "REST base (e.g. a local Kalshi's /trade-api/v2)")
    p.add_argument("--kalshi", action="store_true",
                   help="also refresh the Kalshi fields from the configured Kalshi host")
    p.add_argument("--check", action="store_true",
                   help="do not write; exit 1 when the file is out of date")
    p.set_defaults(func=_run)
