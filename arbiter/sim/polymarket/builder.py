"""Building a local Polymarket from a scenario and an ACCOUNTS.toml.

Market and token ids are derived from the scenario key (keccak), so the same scenario always
lists the same ids, in every process, and a pairs file written against one run works against the
next. A scenario can pin real-looking ids or venue settings in a ``[market.polymarket]`` table
(``condition_id``, ``yes_token``, ``no_token``, ``question``, ``tick_size``, ``neg_risk``,
``fee_rate`` (decimal string, the market's ``fd.r``; default "0"), ``fee_exponent`` (``fd.e``,
default 1), ``fee_bps`` (the legacy ``/fee-rate`` base fee; default 1000 when ``fee_rate`` is
above 0, else 0, as the live venue answers), ``min_order_size``, ``end_date``, ``slug``,
``seconds_delay``: the matching delay of marketable orders, as on sports markets;
``protocol = "v2"``: a protocol-V2 market whose outcome ids are position ids, traded on ExchangeV3).

Accounts (``[[account]]``): ``address`` (the funder, i.e. the order ``maker``), ``collateral``
(dollars), optional ``signer`` + ``signature_type`` (1 proxy, 2 Safe) when the address is a wallet
controlled by another EOA, optional ``api_key``/``api_secret``/``api_passphrase`` (pre-set L2
credentials of the signer) and ``[account.tokens]`` (token id = share count).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from eth_hash.auto import keccak

from arbiter.core.units import POLYMARKET_TICKS, UnitError, parse_size, parse_tick
from arbiter.sim.common import AccountEntry, ScenarioMarket, ScenarioSpec, SimConfigError
from arbiter.sim.polymarket.exchange import Exchange, SimMarket
from arbiter.venues.polymarket.auth import ApiCreds
from arbiter.venues.polymarket.constants import SIG_EOA
from arbiter.venues.polymarket.signing import SignatureError, checksum

__all__ = ["build_exchange", "load_accounts_into", "market_from_scenario"]


def _token_id(condition_id: str, outcome: str) -> str:
    return str(int.from_bytes(keccak(f"{condition_id}:{outcome}".encode()), "big"))


def _position_id(condition_id: str, outcome: str) -> str:
    """A protocol-V2 position id: module byte 1 (binary), bits 40..103 zero, the outcome index
    in the last byte (``polymarket-client`` ``_internal/protocol.py`` layout)."""
    h = int.from_bytes(keccak(f"v2:{condition_id}".encode()), "big")
    high, low = (h >> 112) & ((1 << 144) - 1), h & ((1 << 32) - 1)
    return str((1 << 248) | (high << 104) | (low << 8) | (0 if outcome == "yes" else 1))


#: bits 40..103 of a position id are reserved zero; a CTF token id is a hash and has them set
#: (``polymarket-client`` 0.14.0 ``_internal/protocol.py`` layout, docs /protocol-v2-migration)
_RESERVED_BITS = ((1 << 64) - 1) << 40


def _is_position_id(token: str) -> bool:
    """Is a pinned outcome id a protocol-V2 position id (then the market is protocol V2)?"""
    try:
        value = int(token)
    except ValueError:
        return False
    return 0 <= value < 2**256 and not value & _RESERVED_BITS


def _delay_ms(value: object) -> int:
    """``seconds_delay`` (the venue's market field; fractions allowed here for fast tests)."""
    delay = Decimal(str(value))
    if delay < 0:
        raise ValueError(f"seconds_delay must not be negative, got {value}")
    return int(delay * 1000)


def market_from_scenario(sm: ScenarioMarket) -> SimMarket:
    pm = dict(sm.venues.get("polymarket", {}))
    where = f"scenario market {sm.key!r}"
    try:
        cid = str(pm.get("condition_id") or "0x" + keccak(f"polymarket:{sm.key}".encode()).hex())
        tick = parse_tick(str(pm["tick_size"])) if "tick_size" in pm else sm.tick
        if tick not in POLYMARKET_TICKS.values():
            raise UnitError(f"tick {tick} is not a Polymarket tick")
        rate_text = pm.get("fee_rate", "0")
        if not isinstance(rate_text, str):
            raise UnitError(f"fee_rate must be a decimal string, got {rate_text!r}")
        rate = Fraction(Decimal(rate_text))
        exponent = pm.get("fee_exponent", 1)
        if isinstance(exponent, bool) or not isinstance(exponent, int):
            raise UnitError(f"fee_exponent must be an integer, got {exponent!r}")
        min_size = parse_size(str(pm.get("min_order_size", "5")))
        slug = str(pm.get("slug") or sm.key.lower())
        protocol = str(pm.get("protocol", "v1")).lower()
        if protocol not in ("v1", "v2"):
            raise ValueError(f"protocol must be v1 (CTF tokens) or v2 (position ids): {protocol}")
        token_of = _position_id if protocol == "v2" else _token_id
        yes = str(pm.get("yes_token") or token_of(cid, "yes"))
        no = str(pm.get("no_token") or token_of(cid, "no"))
        shapes = {_is_position_id(yes), _is_position_id(no)}
        if len(shapes) > 1:
            raise ValueError("yes_token and no_token must both be position ids or both CTF "
                             "token ids (one market is one protocol)")
        if protocol == "v1" and shapes == {True}:
            # pinned ids of the position-id shape cannot be CTF token ids (hashes): such a
            # market is protocol V2 on the venue, whatever the table forgot to say
            protocol = "v2"
        return SimMarket(
            key=sm.key,
            condition_id=cid,
            question=str(pm.get("question") or sm.title),
            yes_token=yes,
            no_token=no,
            tick=tick,
            min_order_size=min_size,
            neg_risk=bool(pm.get("neg_risk", False)),
            fee_rate=rate,
            fee_exponent=exponent,
            fee_bps=int(pm.get("fee_bps", 1000 if rate else 0)),
            end_date_iso=str(pm.get("end_date", "2026-12-31T23:59:59Z")),
            description=str(pm.get("description", sm.title)),
            slug=slug,
            match_delay_ms=_delay_ms(pm.get("seconds_delay", 0)),
            position_ids=protocol == "v2",
        )
    except (UnitError, ValueError, TypeError, ArithmeticError) as exc:
        raise SimConfigError(f"{where}: {exc}") from None


def load_accounts_into(exchange: Exchange, entries: Sequence[AccountEntry]) -> None:
    for entry in entries:
        raw = entry.raw
        try:
            address = checksum(entry.string("address"))
            exchange.wallet(address)
            exchange.fund(address, collateral=entry.money("collateral"))
            tokens = raw.get("tokens") or {}
            if not isinstance(tokens, dict):
                raise SimConfigError(f"{entry.source}: account {address}: tokens must be a table")
            exchange.fund(address, tokens={str(t): parse_size(str(v)) for t, v in tokens.items()})
            signer = checksum(str(raw["signer"])) if raw.get("signer") else address
            sig_type = int(raw.get("signature_type", SIG_EOA if signer == address else 2))
            if signer != address:
                if sig_type not in (1, 2, 3):
                    raise SimConfigError(
                        f"{entry.source}: account {address}: a wallet with a separate signer "
                        "needs signature_type 1 (proxy), 2 (Safe) or 3 (deposit wallet)"
                    )
                exchange.register_funder(address, signer, sig_type)
            if raw.get("api_key"):
                creds = ApiCreds(
                    entry.string("api_key"), entry.string("api_secret"),
                    entry.string("api_passphrase"),
                )
                exchange.set_api_key(signer, creds, int(raw.get("api_nonce", 0)))
        except (SignatureError, UnitError, ValueError, TypeError) as exc:
            raise SimConfigError(f"{entry.source}: account #{entry.index + 1}: {exc}") from None


def build_exchange(
    spec: ScenarioSpec | None,
    accounts: Sequence[AccountEntry] = (),
    *,
    seed: int = 0,
    version: int = 1,
) -> Exchange:
    exchange = Exchange(seed=seed, version=version)
    if spec is not None:
        for sm in spec.markets:
            exchange.add_market(market_from_scenario(sm))
    load_accounts_into(exchange, accounts)
    return exchange
