"""``arbiter pairs suggest`` and ``arbiter pairs review``: find pairs a trader can trust.

Both read the two catalogues as the venues serve them — live (Kalshi ``/events`` with nested
markets and ``/series``; Polymarket Gamma ``/events``), from a cache, or offline from files
(``--kalshi-markets F ... --polymarket-markets F ...``, the same bodies) — and run the pure
matcher (:mod:`arbiter.core.pairmatch`): a relation per candidate, not a score; the rules gate;
orientation from outcome names only; one-to-one assignment with a margin (docs/pairs.md).

``suggest`` writes candidates as **commented-out** ``[[pair]]`` blocks (nothing trades until a
person accepts), or with ``--json`` one JSON object per candidate per line. ``review`` shows
each claim with its evidence and both rules texts side by side (terminal, ``--html`` page) and
writes the pairs a person accepts — interactively, or ``--accept TICKER`` — into the pairs file
with ``reviewed_by``/``reviewed_at``/``review_note``.

Each written candidate also carries its Polymarket market data (fee rate and exponent, minimum
order size, tick, neg-risk) from ``GET /clob-markets/{condition_id}`` when a CLOB URL is given
(``--polymarket-url``): the only source of the fee that is charged (ADR 0036). When it is not
read, the block says FEE UNKNOWN and leaves those fields out: such a pair parses but never
trades until ``arbiter pairs refresh`` fills them in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from arbiter.cli.argtypes import count, seconds
from arbiter.cli.errors import UsageError
from arbiter.cli.groups import command_group
from arbiter.cli.pairs_catalogue import (
    DEFAULT_GAMMA_URL,
    fetch_kalshi,
    fetch_polymarket,
    load_bodies,
)
from arbiter.cli.pairs_review import (
    candidate_json,
    render_html,
    render_terminal,
    write_accepted,
)
from arbiter.core.pairmatch import (
    PROPOSE,
    REJECT,
    REVIEW,
    Candidate,
    CatalogueError,
    kalshi_markets,
    match,
    polymarket_markets,
)
from arbiter.core.pairmatch.matcher import DEFAULT_MIN_MARGIN
from arbiter.venues.polymarket.market_info import ClobMarketInfo, min_size_text

__all__ = ["candidates_from_args", "register", "render_toml"]


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def render_toml(candidates: Sequence[Candidate], generated_at: datetime | None = None,
                market_info: Mapping[str, ClobMarketInfo | str] | None = None) -> str:
    """Candidates as commented-out ``[[pair]]`` blocks: loading the file yields no pair.

    ``market_info`` maps a Polymarket condition id to its ``/clob-markets`` data, or to the
    reason it could not be read."""
    infos = market_info or {}
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = [c for c in candidates if c.verdict != REJECT]
    lines = [
        "# Candidate Kalshi <-> Polymarket pairs from `arbiter pairs suggest`, generated " + when,
        "# NOT CONFIRMED. Every pair below is commented out on purpose. Accept pairs with",
        "# `arbiter pairs review` (it shows both rules texts side by side and records who/when/why).",
        f"# {len(shown)} candidate(s) to review; {len(candidates) - len(shown)} rejected "
        "(see --json for their relations).",
        "",
    ]
    for c in shown:
        yes, no = c.poly.tokens or ("", "")
        margin = "n/a" if c.margin is None else f"{c.margin:.2f}"
        lines += [
            f"# {c.verdict.upper()} relation {c.relation.relation} score {c.score:.2f} "
            f"margin {margin}",
            f"#   kalshi     {c.kalshi.key}: {_q(c.kalshi.title)} YES {_q(c.kalshi.yes_label)}",
            f"#   polymarket {c.poly.key}: {_q(c.poly.title)} outcomes "
            f"{' / '.join(c.poly.outcomes)}",
        ]
        lines += [f"#   why: {r}" for r in c.reasons]
        if c.inverted is None:
            lines += ["#   orientation UNMAPPED: no pair can be written for it", ""]
            continue
        name = re.sub(r"[^a-z0-9]+", "-", c.kalshi.key.lower()).strip("-")
        lines += [
            "# [[pair]]",
            f"# name = {_q(name)}",
            f"# kalshi_ticker = {_q(c.kalshi.key)}",
            f"# polymarket_yes_token = {_q(yes)}",
            f"# polymarket_no_token = {_q(no)}",
            *_market_lines(c, infos.get(c.poly.key)),
            f"# inverted = {'true' if c.inverted else 'false'}",
            "",
        ]
    return "\n".join(lines)


def _market_lines(c: Candidate, info: ClobMarketInfo | str | None) -> list[str]:
    """The Polymarket market-data fields: from ``/clob-markets`` when read, else FEE UNKNOWN."""
    if not isinstance(info, ClobMarketInfo):
        why = info or "not read (no --polymarket-url)"
        return [
            f"# polymarket_tick_size = {_q(c.poly.tick_size)}",
            f"# polymarket_neg_risk = {'true' if c.poly.neg_risk else 'false'}",
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


async def market_info(candidates: Sequence[Candidate], url: str) -> dict[str, ClobMarketInfo | str]:
    """``/clob-markets`` for every candidate that can become a pair (or why it is unreadable)."""
    from arbiter.venues.base import VenueError
    from arbiter.venues.polymarket.rest import PolymarketRest

    rest = PolymarketRest(url)
    out: dict[str, ClobMarketInfo | str] = {}
    try:
        for c in candidates:
            if c.verdict == REJECT or c.inverted is None or c.poly.key in out:
                continue
            try:
                info = await rest.clob_market(c.poly.key)
            except (VenueError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                out[c.poly.key] = str(exc) or repr(exc)
                continue
            if not c.poly.tokens or not set(c.poly.tokens) <= info.token_ids:
                out[c.poly.key] = f"lists tokens {sorted(info.token_ids)}, not this market's"
                continue
            out[c.poly.key] = info
    finally:
        await rest.close()
    return out


def candidates_from_args(args: argparse.Namespace) -> list[Candidate]:
    """Read both catalogues (files, cache or live venues) and run the matcher."""
    from arbiter.venues.kalshi.config import resolve_config

    cache = Path(args.cache_dir) if args.cache_dir else None

    async def gather() -> tuple[list[Any], list[Any]]:
        if args.kalshi_markets:
            k = load_bodies(args.kalshi_markets)
        else:
            try:
                url = args.kalshi_url or resolve_config(require_credentials=False).rest_url
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            try:
                k = await fetch_kalshi(url, args.limit, cache, args.cache_ttl)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise UsageError(f"kalshi {url}: {exc!r}") from None
        if args.polymarket_markets:
            p = load_bodies(args.polymarket_markets)
        else:
            url = args.polymarket_gamma_url or DEFAULT_GAMMA_URL
            try:
                p = await fetch_polymarket(url, args.limit, cache, args.cache_ttl)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise UsageError(f"polymarket {url}: {exc!r}") from None
        return k, p

    k_raw, p_raw = asyncio.run(gather())
    skipped: list[str] = []
    try:
        k, p = kalshi_markets(k_raw, skipped), polymarket_markets(p_raw, skipped)
    except CatalogueError as exc:
        raise UsageError(f"unexpected catalogue body: {exc}") from None
    if skipped:
        print(f"skipped {len(skipped)} unreadable market(s), e.g. {skipped[0]}", file=sys.stderr)
    print(f"read {len(k)} Kalshi and {len(p)} Polymarket market(s)", file=sys.stderr)
    return match(k, p, args.min_margin)


def _suggest(args: argparse.Namespace) -> int:
    candidates = candidates_from_args(args)
    if args.json:
        text = "\n".join(json.dumps(candidate_json(c), ensure_ascii=False) for c in candidates)
    else:
        infos = asyncio.run(market_info(candidates, args.polymarket_url)) \
            if args.polymarket_url else None
        text = render_toml(candidates, market_info=infos)
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(f"wrote {len(candidates)} candidate(s) to {args.output} (nothing is a pair until "
              "reviewed)", file=sys.stderr)
    else:
        print(text)
    return 0


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        return "q"


def _review(args: argparse.Namespace) -> int:
    interactive = sys.stdin.isatty() and not args.no_input and not args.accept
    if (args.accept or interactive) and not (args.reviewer and args.reviewer.strip()):
        raise UsageError("--reviewer is required to accept pairs (who reads both rules texts)")
    if (args.accept or interactive) and not args.pairs_file:
        raise UsageError("--pairs-file is required to accept pairs (where they are written)")
    candidates = candidates_from_args(args)
    shown = [c for c in candidates if c.verdict in (PROPOSE, REVIEW)]
    if args.html:
        Path(args.html).write_text(render_html(shown, everything=candidates))
        print(f"wrote {args.html} ({len(shown)} candidate(s))", file=sys.stderr)
    by_ticker = {c.kalshi.key: c for c in shown if c.inverted is not None}
    accepted: list[tuple[Candidate, str]] = []
    if args.accept:
        for ticker in args.accept:
            c = by_ticker.get(ticker)
            if c is None:
                known = next((x for x in candidates if x.kalshi.key == ticker), None)
                why = (f"verdict {known.verdict}, relation {known.relation.relation}"
                       f"{', orientation unmapped' if known.inverted is None else ''}"
                       if known else "no candidate")
                raise UsageError(f"{ticker}: cannot be accepted ({why})")
            accepted.append((c, args.note or ""))
        for c, _ in accepted:
            print(render_terminal(c, shown.index(c) + 1, candidates=candidates))
    else:
        try:
            for i, c in enumerate(shown, 1):
                print(render_terminal(c, i, candidates=candidates))
                if not interactive or c.inverted is None:
                    continue
                answer = _ask("[a]ccept / [s]kip / [q]uit? ").strip().lower()
                if answer.startswith("q"):
                    break
                if answer.startswith("a"):
                    note = _ask("why (review note): ").strip()
                    accepted.append((c, note))
        except KeyboardInterrupt:  # keep what was accepted before the interrupt
            print("\ninterrupted: writing the pairs accepted so far", file=sys.stderr)
    if accepted:
        if not args.pairs_file:
            raise UsageError("--pairs-file is required to write accepted pairs")
        n = write_accepted(Path(args.pairs_file), accepted, args.reviewer or "")
        print(f"accepted {n} pair(s) into {args.pairs_file}", file=sys.stderr)
    return 0


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kalshi-url", help="Kalshi REST base (default: production, or a local one)")
    p.add_argument("--polymarket-gamma-url", help=f"Polymarket Gamma base (default "
                                                  f"{DEFAULT_GAMMA_URL})")
    p.add_argument("--polymarket-url", help="Polymarket CLOB base: read each candidate's fee, "
                   "minimum size and tick from /clob-markets (without it: FEE UNKNOWN)")
    p.add_argument("--kalshi-markets", nargs="+", metavar="FILE",
                   help="read Kalshi bodies (/events, /markets, /series answers) from files")
    p.add_argument("--polymarket-markets", nargs="+", metavar="FILE",
                   help="read Polymarket Gamma bodies (/events or /markets answers) from files")
    p.add_argument("--cache-dir", help="keep fetched catalogues here and reuse them")
    p.add_argument("--cache-ttl", type=seconds(inclusive=True), default=900.0,
                   help="seconds a cache stays fresh")
    p.add_argument("--limit", type=count(), default=20_000, help="max events read per venue")
    p.add_argument("--min-margin", type=float, default=DEFAULT_MIN_MARGIN,
                   help="required score margin over the runner-up claim")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    psub = command_group(sub, "pairs", "work with the pairs file")
    s = psub.add_parser(
        "suggest", help="propose candidate pairs (relation, verdict, commented-out TOML)",
        description="Match both venues' catalogues: each candidate gets a relation (identity, "
        "complement, subset, superset, overlap, disjoint), a rules-gate result, an orientation "
        "from outcome names and a verdict (propose / review / reject).")
    _inputs(s)
    s.add_argument("--json", action="store_true", help="one JSON object per candidate per line")
    s.add_argument("-o", "--output", help="write here instead of stdout")
    s.set_defaults(func=_suggest)
    r = psub.add_parser(
        "review", help="review candidates side by side and write accepted pairs",
        description="Show each candidate with relation, margin, orientation evidence and both "
        "rules texts; accept interactively or with --accept; accepted pairs are appended to the "
        "pairs file with reviewed_by / reviewed_at / review_note.")
    _inputs(r)
    r.add_argument("--pairs-file", help="the pairs TOML to append accepted pairs to")
    r.add_argument("--reviewer", help="who is reviewing (written as reviewed_by)")
    r.add_argument("--accept", nargs="+", metavar="KALSHI_TICKER",
                   help="accept these candidates without prompting")
    r.add_argument("--note", help="review note for --accept (why the differences are fine)")
    r.add_argument("--html", help="also write a self-contained HTML review page here")
    r.add_argument("--no-input", action="store_true", help="never prompt (list only)")
    r.set_defaults(func=_review)
