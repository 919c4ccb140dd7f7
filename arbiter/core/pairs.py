"""The pairs file: which Kalshi market and which Polymarket tokens are the same event.

Pairing is a human decision (look-alike markets often resolve differently), so the file is strict:
an unknown key, a duplicate name or id, a bad tick size or a missing token is an error that names
the file, the pair and the field. Parsing is pure (text in, typed pairs out); reading the file is
the caller's job.

Keys of a ``[[pair]]`` table:

| key | type | meaning |
|---|---|---|
| `name` | string, required | unique name used in logs, opportunities and limits |
| `kalshi_ticker` | string, required | Kalshi market ticker |
| `polymarket_yes_token` | string, required | decimal token id of the Polymarket YES outcome |
| `polymarket_no_token` | string, required | decimal token id of the Polymarket NO outcome |
| `polymarket_tick_size` | string, default "0.01" | one of 0.1, 0.01, 0.005, 0.0025, 0.001, 0.0001 |
| `polymarket_neg_risk` | bool, default false | market uses the Neg-Risk exchange |
| `polymarket_condition_id` | string, optional | the market's condition id (`0x…`), for refreshes |
| `polymarket_fee_rate` | decimal string, no default | taker fee rate `fd.r` ("0.04"; "0" = fee-free) |
| `polymarket_fee_exponent` | int, no default | fee curve exponent `fd.e` (0..4, today 1) |
| `polymarket_min_order_size` | decimal string or int, no default | venue minimum order size `mos` (shares) |
| `kalshi_price_level_structure` | string, default "linear_cent" | the market's price grid (see below) |
| `kalshi_tick_size` | string, optional | legacy: "0.01" = linear_cent, "0.001" = deci_cent |
| `kalshi_fee_type` | string, default "quadratic" | the series' `fee_type` (`GET /series/{ticker}`) |
| `kalshi_fee_multiplier` | string, default "1" | the series' `fee_multiplier` (needs the type) |

`kalshi_fee_multiplier` is a multiplier on Kalshi's fee schedule as the venue means it (1 = the
schedule as printed), not the 0.07 coefficient the file held before; a file giving it without
`kalshi_fee_type`, or giving an old coefficient (0.07, 0.035, 0.0175), is refused with the
reason. Neither given: the General Trading Fees Table as printed (quadratic, 1).

`kalshi_price_level_structure` is the market's `price_level_structure`: `linear_cent` ($0.01),
`tapered_deci_cent` ($0.001 below $0.10 and above $0.90, $0.01 between) or `deci_cent` ($0.001).
The Kalshi feed checks it against the venue's `price_ranges` before the market is traded.
| `inverted` | bool, default false | Kalshi YES pays when Polymarket NO pays |
| `max_contracts` | int or decimal string, optional | per-pair cap on contracts per opportunity |

**Unknown is never free** (ADR 0036). A pair that omits `polymarket_fee_rate` or
`polymarket_min_order_size` parses (so `arbiter pairs refresh` can fill it in) but is *not tradable*:
:meth:`Pair.untradable_reason` names what is missing, `arbiter scan` refuses it (exit 2), the detector
builds no route for it, and live/paper trading fills the fields from the venue at start or refuses
the pair. A fee-free market says `polymarket_fee_rate = "0"` explicitly. The two fee fields come as
a pair: one without the other is an error. The pre-2026 `polymarket_fee_bps` is rejected with an
error naming the new fields (it described the legacy `/fee-rate` base fee, not what is charged).
| `reviewed_by` | string | who checked both venues' rules and accepted the pair |
| `reviewed_at` | RFC 3339 date-time with zone | when (written by `arbiter pairs review`) |
| `review_note` | string, optional | why: the reviewer's reading of the rules differences |

The review group is all-or-nothing: `reviewed_by` and `reviewed_at` come together (a note alone
or a name without a time is refused). ``parse_pairs(..., require_review=True)`` refuses any pair
without them: `arbiter pairs review` checks its own output with it, and every place a pairs file
reaches trading (the engine config, `arbiter scan`, the demo) parses with it (ADR 0136).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from arbiter.core.book import Outcome
from arbiter.core.fees import (
    KALSHI_DEFAULT_FEES,
    POLYMARKET_MAX_EXPONENT,
    KalshiFeeError,
    KalshiSeriesFees,
    PolymarketFeeModel,
)
from arbiter.core.price_grid import STRUCTURES, PriceGrid
from arbiter.core.units import (
    POLYMARKET_TICKS,
    Size,
    UnitError,
    parse_size,
    parse_tick,
    size_from_count,
)

__all__ = [
    "POLYMARKET_MARKET_FIELDS", "Pair", "PairsError", "parse_pairs", "review_lines", "set_pair_fields",
]

#: The fields ``arbiter pairs refresh`` (and the engine's start-up refresh) own: everything the
#: venue states about a Polymarket market. The rest of a ``[[pair]]`` is the operator's.
POLYMARKET_MARKET_FIELDS = (
    "polymarket_condition_id",
    "polymarket_tick_size",
    "polymarket_neg_risk",
    "polymarket_fee_rate",
    "polymarket_fee_exponent",
    "polymarket_min_order_size",
)

_KALSHI_TICKS = {"0.01": 100, "0.001": 10}
_KNOWN = {
    "name",
    "kalshi_ticker",
    "polymarket_yes_token",
    "polymarket_no_token",
    "polymarket_tick_size",
    "polymarket_neg_risk",
    "polymarket_condition_id",
    "polymarket_fee_rate",
    "polymarket_fee_exponent",
    "polymarket_min_order_size",
    "kalshi_tick_size",
    "kalshi_price_level_structure",
    "kalshi_fee_type",
    "kalshi_fee_multiplier",
    "inverted",
    "max_contracts",
    "reviewed_by",
    "reviewed_at",
    "review_note",
}
_REQUIRED = ("name", "kalshi_ticker", "polymarket_yes_token", "polymarket_no_token")


class PairsError(ValueError):
    """A pairs file that cannot be trusted; the message names file, pair and field."""


@dataclass(frozen=True, slots=True)
class Pair:
    name: str
    kalshi_ticker: str
    polymarket_yes_token: str
    polymarket_no_token: str
    polymarket_tick: int = 100
    polymarket_neg_risk: bool = False
    #: the market's taker fee; None = unknown, and an unknown fee is never traded
    polymarket_fee: PolymarketFeeModel | None = None
    kalshi_tick: int = 100
    #: the market's price grid (``price_level_structure``); None: uniform ``kalshi_tick``
    kalshi_grid: PriceGrid | None = None
    #: the series' fee schedule as the venue states it (type + multiplier on the schedule)
    kalshi_fees: KalshiSeriesFees = KALSHI_DEFAULT_FEES
    inverted: bool = False
    max_contracts: Size | None = None
    #: the venue's minimum order size (``mos``); None = unknown, never traded
    polymarket_min_order_size: Size | None = None
    #: the Polymarket market (``0x`` + 64 hex); optional, found from the tokens when absent
    polymarket_condition_id: str | None = None

    #: who accepted the pair after reading both rules texts, when, and why (None: unreviewed)
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_note: str = ""

    def untradable_reason(self) -> str | None:
        """Why this pair must not be traded (unknown Polymarket market data), or None."""
        missing = []
        if self.polymarket_fee is None:
            missing.append("polymarket_fee_rate/polymarket_fee_exponent")
        if self.polymarket_min_order_size is None:
            missing.append("polymarket_min_order_size")
        if not missing:
            return None
        return (
            f"pair '{self.name}': Polymarket {' and '.join(missing)} unknown "
            "(run 'arbiter pairs refresh', or state them; a fee-free market says "
            'polymarket_fee_rate = "0")'
        )

    @property
    def kalshi_price_grid(self) -> PriceGrid:
        """The grid the Kalshi book, detection and hedges use (the feed checks it with the
        venue's ``price_ranges`` before the market is traded)."""
        return self.kalshi_grid if self.kalshi_grid is not None else PriceGrid.uniform(
            self.kalshi_tick, "linear_cent" if self.kalshi_tick == 100 else "")

    def polymarket_token(self, kalshi_outcome: Outcome) -> str:
        """The Polymarket token that pays exactly when Kalshi ``kalshi_outcome`` pays."""
        same_as_yes = (kalshi_outcome is Outcome.YES) != self.inverted
        return self.polymarket_yes_token if same_as_yes else self.polymarket_no_token

    def polymarket_outcome(self, token: str) -> Outcome:
        return Outcome.YES if token == self.polymarket_yes_token else Outcome.NO


def _fail(source: str, where: str, message: str) -> PairsError:
    return PairsError(f"{source}: {where}: {message}")


def _string(table: dict[str, Any], key: str, source: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, where, f"field '{key}' must be a non-empty string")
    return value.strip()


def _bool(table: dict[str, Any], key: str, source: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise _fail(source, where, f"field '{key}' must be true or false, got {value!r}")
    return value


def _parse_one(table: Any, index: int, source: str) -> Pair:
    where = f"pair #{index + 1}"
    if not isinstance(table, dict):
        raise _fail(source, where, "each [[pair]] must be a table")
    if isinstance(table.get("name"), str):
        where = f"pair '{table['name']}'"
    if "polymarket_fee_bps" in table:
        raise _fail(
            source,
            where,
            "field 'polymarket_fee_bps' is no longer accepted (it was the legacy /fee-rate base "
            "fee, not the fee charged): state 'polymarket_fee_rate' (decimal string, e.g. "
            "\"0.04\") and 'polymarket_fee_exponent' (integer, e.g. 1) from the market's "
            "/clob-markets fd.r and fd.e, or run 'arbiter pairs refresh'",
        )
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        raise _fail(source, where, f"unknown field '{unknown[0]}'")
    for key in _REQUIRED:
        if key not in table:
            raise _fail(source, where, f"missing field '{key}'")
    name = _string(table, "name", source, where)
    yes_token = _string(table, "polymarket_yes_token", source, where)
    no_token = _string(table, "polymarket_no_token", source, where)
    for key, token in (("polymarket_yes_token", yes_token), ("polymarket_no_token", no_token)):
        if not token.isdigit():
            raise _fail(source, where, f"field '{key}' must be a decimal token id, got {token!r}")
    if yes_token == no_token:
        raise _fail(source, where, "polymarket_yes_token and polymarket_no_token are the same")
    tick_text = table.get("polymarket_tick_size", "0.01")
    try:
        poly_tick = parse_tick(tick_text)
    except UnitError:
        raise _fail(
            source,
            where,
            f"field 'polymarket_tick_size' must be one of {', '.join(POLYMARKET_TICKS)}, "
            f"got {tick_text!r}",
        ) from None
    kalshi_grid = _kalshi_grid(table, source, where)
    poly_fee = _polymarket_fee(table, source, where)
    min_order = _polymarket_min_order(table, source, where)
    kalshi_fees = _kalshi_fees(table, source, where)
    max_contracts: Size | None = None
    if "max_contracts" in table:
        raw = table["max_contracts"]
        try:
            if isinstance(raw, bool):
                raise UnitError("boolean")
            max_contracts = size_from_count(raw) if isinstance(raw, int) else parse_size(raw)
        except UnitError:
            raise _fail(
                source, where, f"field 'max_contracts' must be a positive count, got {raw!r}"
            ) from None
        if max_contracts <= 0:
            raise _fail(source, where, f"field 'max_contracts' must be positive, got {raw!r}")
    return Pair(
        name=name,
        kalshi_ticker=_string(table, "kalshi_ticker", source, where),
        polymarket_yes_token=yes_token,
        polymarket_no_token=no_token,
        polymarket_tick=poly_tick,
        polymarket_neg_risk=_bool(table, "polymarket_neg_risk", source, where),
        polymarket_fee=poly_fee,
        kalshi_tick=kalshi_grid.tick,
        kalshi_grid=kalshi_grid,
        kalshi_fees=kalshi_fees,
        inverted=_bool(table, "inverted", source, where),
        max_contracts=max_contracts,
        polymarket_min_order_size=min_order,
        polymarket_condition_id=_condition_id(table, source, where),
        **_review(table, source, where),
    )


def _condition_id(table: dict[str, Any], source: str, where: str) -> str | None:
    if "polymarket_condition_id" not in table:
        return None
    cid = table["polymarket_condition_id"]
    ok = isinstance(cid, str) and cid.startswith("0x") and len(cid) == 66
    if not ok or any(ch not in "0123456789abcdefABCDEF" for ch in cid[2:]):
        raise _fail(
            source, where, f"field 'polymarket_condition_id' must be 0x + 64 hex digits, got {cid!r}"
        )
    return str(cid)


def _polymarket_fee(table: dict[str, Any], source: str, where: str) -> PolymarketFeeModel | None:
    has_rate, has_exp = "polymarket_fee_rate" in table, "polymarket_fee_exponent" in table
    if not has_rate and not has_exp:
        return None  # unknown: parses, never trades
    if has_rate != has_exp:
        given, other = (
            ("polymarket_fee_rate", "polymarket_fee_exponent")
            if has_rate
            else ("polymarket_fee_exponent", "polymarket_fee_rate")
        )
        raise _fail(source, where, f"field '{given}' needs '{other}' too")
    rate_text, exponent = table["polymarket_fee_rate"], table["polymarket_fee_exponent"]
    if isinstance(exponent, bool) or not isinstance(exponent, int) or not (
        0 <= exponent <= POLYMARKET_MAX_EXPONENT
    ):
        raise _fail(
            source,
            where,
            f"field 'polymarket_fee_exponent' must be an integer 0..{POLYMARKET_MAX_EXPONENT}, "
            f"got {exponent!r}",
        )
    try:
        if not isinstance(rate_text, str):
            raise ValueError
        return PolymarketFeeModel(Fraction(Decimal(rate_text.strip())), exponent)
    except (ValueError, ArithmeticError, UnitError):
        raise _fail(
            source,
            where,
            f"field 'polymarket_fee_rate' must be a decimal string in [0, 1] (e.g. \"0.04\"), "
            f"got {rate_text!r}",
        ) from None


def _polymarket_min_order(table: dict[str, Any], source: str, where: str) -> Size | None:
    if "polymarket_min_order_size" not in table:
        return None
    raw = table["polymarket_min_order_size"]
    try:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise UnitError("type")
        size = size_from_count(raw) if isinstance(raw, int) else parse_size(raw)
    except UnitError:
        raise _fail(
            source,
            where,
            f"field 'polymarket_min_order_size' must be a non-negative share count, got {raw!r}",
        ) from None
    return size


def _review(table: dict[str, Any], source: str, where: str) -> dict[str, Any]:
    """The review group: who and when together, or none of it."""
    if not any(k in table for k in ("reviewed_by", "reviewed_at", "review_note")):
        return {}
    if "reviewed_by" not in table or "reviewed_at" not in table:
        raise _fail(source, where, "reviewed_by and reviewed_at go together (run `arbiter pairs "
                                   "review`, which writes both)")
    by = _string(table, "reviewed_by", source, where)
    at = table["reviewed_at"]
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(source, where, f"field 'reviewed_at' must be a date-time, got {at!r}"
                        ) from None
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise _fail(source, where, "field 'reviewed_at' must be a date-time with a time zone")
    note = table.get("review_note", "")
    if not isinstance(note, str):
        raise _fail(source, where, "field 'review_note' must be a string")
    return {"reviewed_by": by, "reviewed_at": at, "review_note": note.strip()}


_LEGACY_TICK_STRUCTURE = {"0.01": "linear_cent", "0.001": "deci_cent"}


def _kalshi_grid(table: dict[str, Any], source: str, where: str) -> PriceGrid:
    """The market's price grid; the legacy tick key maps to the uniform structures."""
    tick_text = table.get("kalshi_tick_size")
    if tick_text is not None and tick_text not in _KALSHI_TICKS:
        raise _fail(source, where,
                    f"field 'kalshi_tick_size' must be 0.01 or 0.001, got {tick_text!r}")
    structure = table.get("kalshi_price_level_structure")
    if structure is None:
        return STRUCTURES[_LEGACY_TICK_STRUCTURE[tick_text or "0.01"]]
    if structure not in STRUCTURES:
        raise _fail(source, where, f"field 'kalshi_price_level_structure' must be one of "
                                   f"{', '.join(STRUCTURES)}, got {structure!r}")
    grid = STRUCTURES[structure]
    if tick_text is not None and _LEGACY_TICK_STRUCTURE[tick_text] != structure:
        raise _fail(source, where, f"kalshi_tick_size {tick_text!r} contradicts "
                                   f"kalshi_price_level_structure {structure!r}")
    return grid


#: values of the old ``kalshi_fee_multiplier`` (the schedule's coefficient itself)
_OLD_COEFFICIENTS = {Fraction(7, 100), Fraction(35, 1000), Fraction(175, 10_000)}
_CHANGED = (
    "kalshi_fee_multiplier is now the series' fee_multiplier from GET /series/{ticker} (a "
    "multiplier on Kalshi's fee schedule, usually 1), no longer the fee coefficient: the old "
    "0.07 is the new 1, 0.035 is 0.5; state kalshi_fee_type beside it (or run `arbiter pairs "
    "refresh`, which writes both from the venue)"
)


def _kalshi_fees(table: dict[str, Any], source: str, where: str) -> KalshiSeriesFees:
    """The pair's Kalshi fee schedule; old-style multipliers and unknown types are errors."""
    has_type = "kalshi_fee_type" in table
    has_multiplier = "kalshi_fee_multiplier" in table
    if not has_type and not has_multiplier:
        return KALSHI_DEFAULT_FEES
    if has_multiplier and not has_type:
        raise _fail(source, where, f"field 'kalshi_fee_type' is missing: {_CHANGED}")
    text = table.get("kalshi_fee_multiplier", "1")
    try:
        if not isinstance(text, str):
            raise ValueError
        multiplier = Fraction(text)
        if multiplier < 0:
            raise ValueError
    except (ValueError, ZeroDivisionError):
        raise _fail(
            source, where,
            f"field 'kalshi_fee_multiplier' must be a non-negative decimal string, got {text!r}",
        ) from None
    if multiplier in _OLD_COEFFICIENTS:
        raise _fail(source, where, f"kalshi_fee_multiplier {text!r} is an old-style value: {_CHANGED}")
    try:
        return KalshiSeriesFees.of(table["kalshi_fee_type"], multiplier)
    except KalshiFeeError as exc:
        raise _fail(source, where, f"field 'kalshi_fee_type': {exc}") from None


def parse_pairs(text: str, source: str = "<pairs>", require_review: bool = False) -> list[Pair]:
    """Parse and validate a pairs TOML document; raises :class:`PairsError`.

    ``require_review``: every pair must carry ``reviewed_by``/``reviewed_at``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PairsError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"pair"})
    if extra:
        raise PairsError(f"{source}: unknown top-level key '{extra[0]}' (expected [[pair]] tables)")
    tables = document.get("pair", [])
    if not isinstance(tables, list) or not tables:
        raise PairsError(f"{source}: no [[pair]] tables")
    pairs = [_parse_one(table, i, source) for i, table in enumerate(tables)]
    _check_unique(pairs, source)
    if require_review:
        for pair in pairs:
            if pair.reviewed_by is None:
                raise _fail(source, f"pair '{pair.name}'", "not reviewed: no reviewed_by / "
                                                           "reviewed_at (run `arbiter pairs review`)")
    return pairs


def review_lines(by: str, at: datetime, note: str) -> list[str]:
    """The review group as TOML lines (one home for its shape): who accepted the pair, when
    (UTC, to the second) and why. ``arbiter pairs review`` writes it for a person; the local
    scenarios write it for pairs that are the same contract by construction (ADR 0136)."""
    if not by.strip():
        raise PairsError("a review needs a reviewer")
    if at.tzinfo is None:
        raise PairsError("a review time needs a time zone")
    stamp = at.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [f"reviewed_by = {json.dumps(by.strip(), ensure_ascii=False)}",
            f"reviewed_at = {stamp}",
            f"review_note = {json.dumps(note.strip(), ensure_ascii=False)}"]


def _check_unique(pairs: Iterable[Pair], source: str) -> None:
    names: set[str] = set()
    tickers: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for pair in pairs:
        where = f"pair '{pair.name}'"
        if pair.name in names:
            raise _fail(source, where, "duplicate name")
        names.add(pair.name)
        if pair.kalshi_ticker in tickers:
            raise _fail(
                source,
                where,
                f"kalshi_ticker {pair.kalshi_ticker!r} is already used by pair "
                f"'{tickers[pair.kalshi_ticker]}'",
            )
        tickers[pair.kalshi_ticker] = pair.name
        for key, token in (
            ("polymarket_yes_token", pair.polymarket_yes_token),
            ("polymarket_no_token", pair.polymarket_no_token),
        ):
            if token in tokens:
                raise _fail(
                    source, where, f"{key} {token!r} is already used by pair '{tokens[token]}'"
                )
            tokens[token] = pair.name


def _toml_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_HEADER = re.compile(r"^\s*\[")
_PAIR_HEADER = re.compile(r"^\s*\[\[\s*pair\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r'^(\s*)([A-Za-z0-9_-]+)(\s*=\s*)("(?:[^"\\]|\\.)*"|[^#]*?)(\s*(#.*)?)$')


def set_pair_fields(
    text: str, updates: dict[str, dict[str, str | int | bool | None]], source: str = "<pairs>"
) -> str:
    """Rewrite fields of named ``[[pair]]`` tables in place, keeping everything else.

    ``updates`` maps a pair name to ``{field: value}``; ``None`` removes the field. A field
    already present keeps its line (and any trailing comment) with the new value; a new field
    goes after the table's last key. Comments, blank lines, order and the other pairs are left
    untouched. The result is parsed again before it is returned, so a rewrite can never produce
    a file the engine would refuse to load for a reason the input did not have.
    """
    lines = text.splitlines(keepends=True)
    blocks: list[tuple[int, int]] = []  # [start, end) of each [[pair]] table, header included
    start: int | None = None
    for i, line in enumerate(lines):
        if _HEADER.match(line):
            if start is not None:
                blocks.append((start, i))
                start = None
            if _PAIR_HEADER.match(line):
                start = i
    if start is not None:
        blocks.append((start, len(lines)))
    names: dict[str, tuple[int, int]] = {}
    for a, b in blocks:
        for line in lines[a + 1 : b]:
            m = _KEY.match(line.rstrip("\r\n"))
            if m and m.group(2) == "name":
                names[tomllib.loads(f"v = {m.group(4)}")["v"]] = (a, b)
    missing = sorted(set(updates) - set(names))
    if missing:
        raise PairsError(f"{source}: no [[pair]] named {missing[0]!r}")
    out: list[str] = []
    edits = {names[name][0]: (names[name][1], fields) for name, fields in updates.items()}
    i = 0
    while i < len(lines):
        if i not in edits:
            out.append(lines[i])
            i += 1
            continue
        end, fields = edits[i]
        todo = dict(fields)
        block: list[str] = [lines[i]]
        last_key = 0
        for line in lines[i + 1 : end]:
            body = line.rstrip("\r\n")
            newline = line[len(body):] or "\n"
            m = _KEY.match(body)
            if m and m.group(2) in todo:
                value = todo.pop(m.group(2))
                if value is None:
                    continue
                block.append(f"{m.group(1)}{m.group(2)}{m.group(3)}{_toml_value(value)}"
                             f"{m.group(5)}{newline}")
                last_key = len(block)
                continue
            block.append(line)
            if m:
                last_key = len(block)
        if not block[last_key - 1 if last_key else 0].endswith("\n"):
            block[last_key - 1 if last_key else 0] += "\n"
        added = [f"{key} = {_toml_value(v)}\n" for key, v in todo.items() if v is not None]
        at = last_key if last_key else 1
        block[at:at] = added
        out.extend(block)
        i = end
    result = "".join(out)
    parse_pairs(result, source)
    return result
