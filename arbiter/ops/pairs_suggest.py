"""``arbiter pairs suggest``: propose Kalshi ↔ Polymarket pairs for a human to review.

Look-alike markets are often *not* the same contract (resolution source, cut-off time, a
threshold of 4.00% vs 4.25%; venues.md §8), so this command only ever writes candidates, each
as a **commented-out** ``[[pair]]`` block with its score and the evidence: loading the file
yields no pair until the operator uncomments the ones they have checked. Nothing here trades.

Scoring (pure functions, deterministic): title similarity (sequence ratio and token overlap after
normalising wording such as "$100k" → "100000"), closeness of the close/end dates, and whether
the outcome wording lines up (a Polymarket market whose first outcome matches Kalshi's
``no_sub_title`` is proposed as ``inverted``). Differing numbers in the titles — the classic
false pair — halve the score. Each market is used in at most one candidate (greedy by score).

Each candidate's Polymarket market data (fee rate and exponent, minimum order size, tick,
neg-risk) is read from ``GET /clob-markets/{condition_id}`` — the only source of the fee that is
charged (ADR 0036). When it cannot be read, the block says so and leaves the fee fields out: such
a pair parses but never trades until ``arbiter pairs refresh`` fills them in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import aiohttp

from arbiter.ops.cli import UsageError
from arbiter.venues.polymarket.market_info import ClobMarketInfo, min_size_text

__all__ = ["Candidate", "KalshiListing", "PolyListing", "register", "render_toml", "suggest"]

_STOP = frozenset({
    "will", "the", "be", "a", "an", "of", "in", "on", "by", "to", "at", "for", "is", "are",
    "than", "or", "and", "end",
})
_SCALE = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_NUM = re.compile(r"\$?(\d+(?:[.,]\d+)*)\s*([kmb])?\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9.]+")


@dataclass(frozen=True, slots=True)
class KalshiListing:
    ticker: str
    title: str
    close: datetime | None
    yes_label: str = "Yes"
    no_label: str = "No"


@dataclass(frozen=True, slots=True)
class PolyListing:
    condition_id: str
    question: str
    end: datetime | None
    tokens: tuple[tuple[str, str], ...]  # (token id, outcome label), first = "YES" side
    tick_size: str = "0.01"
    neg_risk: bool = False
    #: the market's ``/clob-markets`` data, or why it could not be read (None, None: not asked)
    info: ClobMarketInfo | None = None
    info_error: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    kalshi: KalshiListing
    poly: PolyListing
    score: float
    title_score: float
    date_score: float
    outcome_score: float
    inverted: bool
    numbers_differ: bool


# -- parsing the venues' listings ------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def kalshi_listings(markets: Iterable[Mapping[str, Any]]) -> list[KalshiListing]:
    out = []
    for m in markets:
        if str(m.get("status", "active")) not in ("active", "open", "initialized"):
            continue
        title = str(m.get("title", ""))
        sub = str(m.get("subtitle") or "")
        out.append(KalshiListing(
            ticker=str(m["ticker"]),
            title=f"{title} {sub}".strip(),
            close=_when(m.get("close_time") or m.get("expected_expiration_time")),
            yes_label=str(m.get("yes_sub_title") or "Yes"),
            no_label=str(m.get("no_sub_title") or "No"),
        ))
    return out


def poly_listings(markets: Iterable[Mapping[str, Any]]) -> list[PolyListing]:
    out = []
    for m in markets:
        tokens = m.get("tokens") or []
        if m.get("closed") or not m.get("active", True) or len(tokens) != 2:
            continue
        tick = m.get("minimum_tick_size", 0.01)
        out.append(PolyListing(
            condition_id=str(m["condition_id"]),
            question=str(m.get("question", "")),
            end=_when(m.get("end_date_iso")),
            tokens=tuple((str(t["token_id"]), str(t.get("outcome", ""))) for t in tokens),
            tick_size=repr(tick) if isinstance(tick, float) else str(tick),
            neg_risk=bool(m.get("neg_risk", False)),
        ))
    return out


# -- scoring -----------------------------------------------------------------------------------


def _numbers(text: str) -> frozenset[str]:
    out = set()
    for digits, scale in _NUM.findall(text):
        value = digits.replace(",", "")
        if scale:
            try:
                value = str(int(Decimal(value) * _SCALE[scale.lower()]))
            except InvalidOperation:
                continue
        out.add(value.rstrip("0").rstrip(".") if "." in value else value)
    return frozenset(out)


def _normalise(text: str) -> str:
    lowered = text.lower()
    lowered = _NUM.sub(lambda m: " " + " ".join(sorted(_numbers(m.group(0)))) + " ", lowered)
    return " ".join(w for w in _WORD.findall(lowered) if w not in _STOP)


def title_similarity(a: str, b: str) -> float:
    na, nb = _normalise(a), _normalise(b)
    if not na or not nb:
        return 0.0
    ratio = SequenceMatcher(None, na, nb).ratio()
    ta, tb = set(na.split()), set(nb.split())
    jaccard = len(ta & tb) / len(ta | tb)
    return 0.5 * ratio + 0.5 * jaccard


def date_similarity(a: datetime | None, b: datetime | None, horizon_days: float = 30.0) -> float:
    if a is None or b is None:
        return 0.5
    days = abs((a - b).total_seconds()) / 86_400
    return max(0.0, 1.0 - days / horizon_days) if days > 1 else 1.0


def outcome_alignment(k: KalshiListing, p: PolyListing) -> tuple[float, bool]:
    """(score, inverted): binary Yes/No lines up; named outcomes must match Kalshi's labels."""
    first, second = (label.strip().lower() for _, label in p.tokens)
    yes, no = k.yes_label.strip().lower(), k.no_label.strip().lower()
    if (first, second) == ("yes", "no"):
        return (1.0, False) if yes in ("yes", "") or no in ("no", "") else (0.6, False)
    if first == yes or (second == no and second):
        return 1.0, False
    if first == no or second == yes:
        return 1.0, True
    best = max(SequenceMatcher(None, yes, first).ratio(), SequenceMatcher(None, no, second).ratio())
    worst = max(SequenceMatcher(None, yes, second).ratio(), SequenceMatcher(None, no, first).ratio())
    return (0.5 * max(best, worst), worst > best)


def score(k: KalshiListing, p: PolyListing) -> Candidate:
    t = title_similarity(k.title, p.question)
    d = date_similarity(k.close, p.end)
    o, inverted = outcome_alignment(k, p)
    total = 0.6 * t + 0.25 * d + 0.15 * o
    nk, np_ = _numbers(k.title), _numbers(p.question)
    differ = bool(nk and np_ and nk != np_)
    if differ:
        total *= 0.5
    return Candidate(k, p, round(total, 4), round(t, 4), round(d, 4), round(o, 4), inverted,
                     differ)


def suggest(
    kalshi: Sequence[KalshiListing], poly: Sequence[PolyListing], min_score: float = 0.55
) -> list[Candidate]:
    scored = [c for k in kalshi for p in poly if (c := score(k, p)).score >= min_score]
    scored.sort(key=lambda c: (-c.score, c.kalshi.ticker, c.poly.condition_id))
    used_k: set[str] = set()
    used_p: set[str] = set()
    out = []
    for c in scored:
        if c.kalshi.ticker in used_k or c.poly.condition_id in used_p:
            continue
        used_k.add(c.kalshi.ticker)
        used_p.add(c.poly.condition_id)
        out.append(c)
    return out


# -- output ------------------------------------------------------------------------------------


def _name(ticker: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ticker.lower()).strip("-")


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _day(d: datetime | None) -> str:
    return d.date().isoformat() if d else "unknown"


def render_toml(candidates: Sequence[Candidate], generated_at: datetime | None = None) -> str:
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        "# Candidate Kalshi <-> Polymarket pairs from `arbiter pairs suggest`, generated " + when,
        "# NOT CONFIRMED. Every pair below is commented out on purpose: look-alike markets often",
        "# resolve differently (source, cut-off time, threshold). Read both rule texts, then",
        "# uncomment the [[pair]] blocks you have checked; nothing trades a commented pair.",
        f"# {len(candidates)} candidate(s).",
        "",
    ]
    for c in candidates:
        (yes_token, yes_label), (no_token, no_label) = c.poly.tokens
        flags = []
        if c.numbers_differ:
            flags.append("NUMBERS IN THE TITLES DIFFER")
        if c.inverted:
            flags.append(f"inverted: Kalshi YES pays when Polymarket {yes_label!r} loses")
        lines += [
            f"# score {c.score:.2f} (title {c.title_score:.2f}, date {c.date_score:.2f}, "
            f"outcome {c.outcome_score:.2f}){'  ' + '; '.join(flags) if flags else ''}",
            f"#   kalshi     {c.kalshi.ticker}: {_q(c.kalshi.title)} closes {_day(c.kalshi.close)}",
            f"#   polymarket {c.poly.condition_id}: {_q(c.poly.question)} ends {_day(c.poly.end)}"
            f" outcomes {yes_label}/{no_label}",
            "# [[pair]]",
            f"# name = {_q(_name(c.kalshi.ticker))}",
            f"# kalshi_ticker = {_q(c.kalshi.ticker)}",
            f"# polymarket_yes_token = {_q(yes_token)}",
            f"# polymarket_no_token = {_q(no_token)}",
            *_market_lines(c.poly),
            f"# inverted = {'true' if c.inverted else 'false'}",
            "",
        ]
    return "\n".join(lines)


def _market_lines(poly: PolyListing) -> list[str]:
    """The Polymarket market-data fields: from ``/clob-markets`` when read, else a warning."""
    info = poly.info
    if info is None:
        why = poly.info_error or "not read (offline listing without --polymarket-url)"
        return [
            f"# polymarket_tick_size = {_q(poly.tick_size)}",
            f"# polymarket_neg_risk = {'true' if poly.neg_risk else 'false'}",
            f"#   FEE UNKNOWN: /clob-markets {why}; this pair will not trade until "
            "`arbiter pairs refresh` fills polymarket_fee_rate/_exponent/_min_order_size",
        ]
    return [
        f"# polymarket_condition_id = {_q(info.condition_id)}",
        f"# polymarket_tick_size = {_q(info.tick_text)}",
        f"# polymarket_neg_risk = {'true' if info.neg_risk else 'false'}",
        f"# polymarket_fee_rate = {_q(info.fee.rate_text)}",
        f"# polymarket_fee_exponent = {info.fee.exponent}",
        f"# polymarket_min_order_size = {_q(min_size_text(info.min_order_size))}",
    ]


# -- fetching ----------------------------------------------------------------------------------


async def with_market_info(candidates: Sequence[Candidate], url: str) -> list[Candidate]:
    """Attach each candidate's ``/clob-markets`` data (or the reason it is unreadable)."""
    from arbiter.venues.base import VenueError
    from arbiter.venues.polymarket.rest import PolymarketRest

    rest = PolymarketRest(url)
    out = []
    try:
        for c in candidates:
            try:
                info = await rest.clob_market(c.poly.condition_id)
            except (VenueError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                out.append(replace(c, poly=replace(c.poly, info_error=str(exc) or repr(exc))))
                continue
            tokens = {t for t, _ in c.poly.tokens}
            if not tokens <= info.token_ids:
                why = f"lists tokens {sorted(info.token_ids)}, not this market's"
                out.append(replace(c, poly=replace(c.poly, info_error=why)))
                continue
            out.append(replace(c, poly=replace(c.poly, info=info)))
    finally:
        await rest.close()
    return out


async def _kalshi_markets(url: str, limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = ""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
        while len(out) < limit:
            params = {"limit": "1000", "status": "open"}
            if cursor:
                params["cursor"] = cursor
            async with s.get(url.rstrip("/") + "/markets", params=params) as r:
                if r.status != 200:
                    raise UsageError(f"kalshi {url}: HTTP {r.status} listing markets")
                data = await r.json()
            out.extend(data.get("markets") or [])
            cursor = data.get("cursor") or ""
            if not cursor:
                break
    return out[:limit]


async def _poly_markets(url: str, limit: int) -> list[dict[str, Any]]:
    from arbiter.venues.base import VenueError
    from arbiter.venues.polymarket.rest import PolymarketRest

    rest = PolymarketRest(url)
    try:
        return (await rest.all_markets())[:limit]
    except VenueError as exc:
        raise UsageError(f"polymarket {url}: {exc}") from None
    finally:
        await rest.close()


def _load_json(path: str, key: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    items = data.get(key, data.get("data")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise UsageError(f"{path}: expected a list of markets (or an object with {key!r})")
    return items


def _run(args: argparse.Namespace) -> int:
    from arbiter.venues.kalshi.config import resolve_config

    async def gather() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if args.kalshi_markets:
            k = _load_json(args.kalshi_markets, "markets")
        else:
            try:
                url = args.kalshi_url or resolve_config(require_credentials=False).rest_url
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            try:
                k = await _kalshi_markets(url, args.limit)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise UsageError(f"kalshi {url}: {exc!r}") from None
        if args.polymarket_markets:
            p = _load_json(args.polymarket_markets, "data")
        else:
            from arbiter.venues.polymarket.constants import DEFAULT_REST_URL

            url = args.polymarket_url or DEFAULT_REST_URL
            try:
                p = await _poly_markets(url, args.limit)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise UsageError(f"polymarket {url}: {exc!r}") from None
        return k, p

    k_raw, p_raw = asyncio.run(gather())
    try:
        candidates = suggest(kalshi_listings(k_raw), poly_listings(p_raw), args.min_score)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"unexpected market listing: {exc!r}") from None
    if args.polymarket_url or not args.polymarket_markets:
        from arbiter.venues.polymarket.constants import DEFAULT_REST_URL

        candidates = asyncio.run(
            with_market_info(candidates, args.polymarket_url or DEFAULT_REST_URL)
        )
    text = render_toml(candidates)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {len(candidates)} candidate pair(s) to {args.output} (all commented out; "
              "review before use)", file=sys.stderr)
    else:
        print(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pairs = sub.choices.get("pairs")
    if pairs is None:
        pairs = sub.add_parser("pairs", help="work with the pairs file")
        psub = pairs.add_subparsers(dest="pairs_command", metavar="ACTION")
        psub.required = True
    else:  # another module registered `pairs` first: join its sub-commands
        psub = next(a for a in pairs._actions if isinstance(a, argparse._SubParsersAction))
    p = psub.add_parser(
        "suggest",
        help="propose candidate pairs (commented-out TOML for human review)",
        description="Read both venues' market lists and propose candidate pairs by title, "
        "dates and outcome wording. Output is TOML with every pair commented out.",
    )
    p.add_argument("--kalshi-url", help="Kalshi REST base (default: production, or a local one)")
    p.add_argument("--polymarket-url", help="Polymarket CLOB base URL")
    p.add_argument("--kalshi-markets", help="read Kalshi markets from a JSON file instead")
    p.add_argument("--polymarket-markets", help="read Polymarket markets from a JSON file")
    p.add_argument("--min-score", type=float, default=0.55, help="drop candidates below this")
    p.add_argument("--limit", type=int, default=20_000, help="max markets read per venue")
    p.add_argument("-o", "--output", help="write the TOML here instead of stdout")
    p.set_defaults(func=_run)
