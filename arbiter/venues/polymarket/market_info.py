"""``GET /clob-markets/{condition_id}``: the market parameters that decide what a trade costs.

One call returns, per market, the fee curve (``fd``: rate ``r``, exponent ``e``, ``to``), the
minimum order size (``mos``), the tick (``mts``), neg-risk (``nr``) and the outcome tokens (``t``).
Sources: docs.polymarket.com ``/api-reference/markets/get-clob-market-info`` (numbers, e.g.
``"mos": 5, "mts": 0.01, "fd": {"r": 0.02, "e": 2, "to": true}``); ``polymarket-client`` 0.14.0
``_internal/actions/orders/market_data.py::_parse_market_info`` and ``py-clob-client-v2`` 1.2.1
``client.py::get_clob_market_info`` read the same keys.

Where we differ from the SDKs on purpose (ADR 0036): both SDKs read a missing ``fd`` (or a missing
``r``/``e``) as *no fee*; here it is a :class:`FeeUnknownError`, because a fee we cannot read must
block trading rather than price the market as free. A fee-free market must say ``"r": 0``.
``to`` ("taker only", per the docs' fee page: makers are never charged) is required to be true or
absent; anything else is a fee model we do not know. A missing ``nr`` means not neg-risk, as in both
SDKs (the docs' example omits it). Numbers are read through ``Decimal(str(x))`` like the SDKs, so
``0.04`` is exactly 4/100.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from arbiter.core.fees import POLYMARKET_MAX_EXPONENT, PolymarketFeeModel
from arbiter.core.pairs import Pair
from arbiter.core.units import POLYMARKET_TICKS, Size, UnitError, format_decimal, parse_size
from arbiter.venues.base import VenueError

if TYPE_CHECKING:
    from arbiter.venues.polymarket.rest import PolymarketRest

__all__ = [
    "ClobMarketError",
    "ClobMarketInfo",
    "FeeUnknownError",
    "apply_to_pair",
    "fetch_pair_market",
    "market_changed",
    "pair_fields",
    "parse_clob_market",
    "unknown_fields",
]

_TICK_BY_DECIMAL = {Decimal(text): (text, units) for text, units in POLYMARKET_TICKS.items()}


class ClobMarketError(VenueError):
    """A ``/clob-markets`` body of the wrong shape: the market's parameters are unknown."""

    def __init__(self, condition_id: str, message: str) -> None:
        super().__init__("CLOB_MARKET_INVALID", f"/clob-markets/{condition_id}: {message}")
        self.condition_id = condition_id


class FeeUnknownError(ClobMarketError):
    """The market's fee curve is absent or not one we can compute exactly: never trade it."""

    def __init__(self, condition_id: str, message: str) -> None:
        super().__init__(condition_id, message)
        self.code = "FEE_UNKNOWN"


@dataclass(frozen=True, slots=True)
class ClobMarketInfo:
    condition_id: str
    #: (token id, outcome label) in the venue's order
    tokens: tuple[tuple[str, str], ...]
    fee: PolymarketFeeModel
    min_order_size: Size
    #: tick in price units and as the wire string ("0.01")
    tick: int
    tick_text: str
    neg_risk: bool

    @property
    def token_ids(self) -> frozenset[str]:
        return frozenset(t for t, _ in self.tokens)


def _decimal(value: Any, field: str, cid: str, error: type[ClobMarketError]) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise error(cid, f"'{field}' must be a number, got {type(value).__name__} {value!r}")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise error(cid, f"'{field}' is not a number: {value!r}") from None
    if not result.is_finite():
        raise error(cid, f"'{field}' is not a finite number: {value!r}")
    return result


def _fee(body: dict[str, Any], cid: str) -> PolymarketFeeModel:
    fd = body.get("fd")
    if fd is None:
        raise FeeUnknownError(cid, "no fee data 'fd' (a fee-free market must state fd.r = 0)")
    if not isinstance(fd, dict):
        raise FeeUnknownError(cid, f"'fd' must be an object, got {type(fd).__name__}")
    for key in ("r", "e"):
        if fd.get(key) is None:
            raise FeeUnknownError(cid, f"fee data has no 'fd.{key}'")
    rate = _decimal(fd["r"], "fd.r", cid, FeeUnknownError)
    exponent = _decimal(fd["e"], "fd.e", cid, FeeUnknownError)
    if not 0 <= rate <= 1:
        raise FeeUnknownError(cid, f"'fd.r' {fd['r']!r} is outside [0, 1]")
    if exponent != exponent.to_integral_value() or not 0 <= exponent <= POLYMARKET_MAX_EXPONENT:
        raise FeeUnknownError(
            cid, f"'fd.e' {fd['e']!r} is not a whole number 0..{POLYMARKET_MAX_EXPONENT}"
        )
    taker_only = fd.get("to", True)
    if taker_only is not True:
        raise FeeUnknownError(cid, f"'fd.to' is {taker_only!r}: a maker-charging fee is not modelled")
    return PolymarketFeeModel(Fraction(rate), int(exponent))


def parse_clob_market(body: Any, condition_id: str) -> ClobMarketInfo:
    """Validate a ``/clob-markets`` answer; raises :class:`ClobMarketError` for a bad shape."""
    cid = condition_id
    if not isinstance(body, dict):
        raise ClobMarketError(cid, f"expected an object, got {type(body).__name__}")
    raw_tokens = body.get("t")
    if not isinstance(raw_tokens, list) or not raw_tokens:
        raise ClobMarketError(cid, "'t' must be a non-empty array of tokens")
    tokens: list[tuple[str, str]] = []
    for i, tok in enumerate(raw_tokens):
        if not isinstance(tok, dict) or not isinstance(tok.get("t"), str) or not tok["t"]:
            raise ClobMarketError(cid, f"'t[{i}].t' must be a non-empty token id string")
        tokens.append((tok["t"], str(tok.get("o", ""))))
    if "mts" not in body:
        raise ClobMarketError(cid, "no tick size 'mts'")
    tick_value = _decimal(body["mts"], "mts", cid, ClobMarketError)
    tick = _TICK_BY_DECIMAL.get(tick_value)
    if tick is None:
        raise ClobMarketError(
            cid, f"tick size {body['mts']!r} is not one of {', '.join(POLYMARKET_TICKS)}"
        )
    if "mos" not in body:
        raise ClobMarketError(cid, "no minimum order size 'mos'")
    mos = _decimal(body["mos"], "mos", cid, ClobMarketError)
    try:
        if mos < 0:
            raise UnitError("negative")
        min_size = parse_size(format(mos, "f"))
    except UnitError:
        raise ClobMarketError(
            cid, f"minimum order size {body['mos']!r} is not a share count"
        ) from None
    neg_risk = body.get("nr", False)
    if not isinstance(neg_risk, bool):
        raise ClobMarketError(cid, f"'nr' must be a bool, got {type(neg_risk).__name__}")
    return ClobMarketInfo(
        condition_id=cid,
        tokens=tuple(tokens),
        fee=_fee(body, cid),
        min_order_size=min_size,
        tick=tick[1],
        tick_text=tick[0],
        neg_risk=neg_risk,
    )


def min_size_text(size: int) -> str:
    """A minimum order size as the pairs file writes it ("5", "0.5")."""
    return format_decimal(size, 6)


def pair_fields(info: ClobMarketInfo) -> dict[str, str | int | bool | None]:
    """The pairs-file fields the venue states for a market (``core.pairs.POLYMARKET_MARKET_FIELDS``)."""
    return {
        "polymarket_condition_id": info.condition_id,
        "polymarket_tick_size": info.tick_text,
        "polymarket_neg_risk": info.neg_risk,
        "polymarket_fee_rate": info.fee.rate_text,
        "polymarket_fee_exponent": info.fee.exponent,
        "polymarket_min_order_size": min_size_text(info.min_order_size),
    }


def unknown_fields() -> dict[str, str | int | bool | None]:
    """Fields that make a pair untradable: its fee and minimum, removed (never guessed)."""
    return {
        "polymarket_fee_rate": None,
        "polymarket_fee_exponent": None,
        "polymarket_min_order_size": None,
    }


def apply_to_pair(pair: Pair, info: ClobMarketInfo) -> Pair:
    """``pair`` with the venue's current fee, minimum, tick and neg-risk."""
    return replace(
        pair,
        polymarket_condition_id=info.condition_id,
        polymarket_tick=info.tick,
        polymarket_neg_risk=info.neg_risk,
        polymarket_fee=info.fee,
        polymarket_min_order_size=info.min_order_size,
    )


async def fetch_pair_market(rest: PolymarketRest, pair: Pair) -> ClobMarketInfo:
    """Read the market of ``pair`` and check that both of its tokens belong to it.

    The condition id comes from the pair when stated, else from ``/markets-by-token`` of the YES
    token. A market that does not list both tokens is a :class:`ClobMarketError`: a pairs file
    pointing at the wrong market must not borrow that market's fee.
    """
    cid = pair.polymarket_condition_id or await rest.condition_of_token(pair.polymarket_yes_token)
    info = await rest.clob_market(cid)
    wanted = {pair.polymarket_yes_token, pair.polymarket_no_token}
    if not wanted <= info.token_ids:
        raise ClobMarketError(
            cid, f"market lists tokens {sorted(info.token_ids)}, not pair '{pair.name}' tokens "
            f"{sorted(wanted)}"
        )
    return info


#: Order refusals that mean the market's parameters moved under us (venue codes of
#: ``rest.ORDER_ERROR_CODES``; a v1 order whose signed ``feeRateBps`` is stale is refused with
#: "invalid fee rate (...), current market's fee rate is ..."). Each makes the engine re-read
#: ``/clob-markets`` for that market before it trades it again.
_CHANGED_CODES = frozenset({"INVALID_ORDER_MIN_TICK_SIZE", "INVALID_ORDER_MIN_SIZE"})


def market_changed(exc: BaseException) -> bool:
    """Whether an order refusal says the market's tick, minimum size or fee changed."""
    if not isinstance(exc, VenueError):
        return False
    text = f"{exc.code} {exc}".lower()
    return exc.code in _CHANGED_CODES or "fee rate" in text or "tick size" in text
