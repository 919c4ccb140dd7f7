"""The engine config file's schema: every table, every key, its type and its bounds, in one place.

:func:`decode_config` turns the parsed TOML into these typed structs once, at the edge
(``load_config``); nothing downstream reads the raw dict. msgspec does the checking
(``forbid_unknown_fields``: a misspelt key is an error, not a silently ignored setting; ``Meta``
bounds: ``max_open_sagas = -3`` is refused, where it used to start an engine that traded nothing
and exited 0). Its error is rewritten into one :class:`~arbiter.cli.errors.ConfigError` line that
names the file, the table and the key, with the value found::

    engine.toml [risk] max_open_sagas: must be a whole number at least 1, got -3
    engine.toml [engine] cooldwn_ms: unknown key (known: cooldown_ms, dry_run, ...)

Money values (``budget = "100"``) may be strings or numbers and are parsed exactly by
``load_config`` afterwards, which raises the same error shape (ADR 0164).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from arbiter.app.errors import ConfigError
from arbiter.venues.polymarket.constants import POLYGON_CHAIN_ID, SIG_EOA

__all__ = ["ConfigFile", "DetectionTable", "EngineTable", "RiskTable", "TenantTable", "VenueTable",
           "decode_config", "table_name"]

Count = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
#: a dollar amount: a TOML string ("0.01", exact) or a number; parsed exactly by load_config
MoneyValue = str | int | float


class EngineTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pairs: str | None = None
    namespace: Annotated[str, msgspec.Meta(min_length=1)] = "arbiter"
    journal_dir: Annotated[str, msgspec.Meta(min_length=1)] = "var/journal"
    journal_sync: Literal["FULL", "EXTRA", "INTENTS", "NORMAL"] = "INTENTS"
    dry_run: bool = False
    mode: Annotated[str, msgspec.Meta(min_length=1)] = "paper"
    cooldown_ms: NonNegative = 50
    #: nice -N of the tick path thread: Linux nice values go down to -20
    priority: Annotated[int, msgspec.Meta(ge=0, le=20)] = 0
    realtime: bool = False
    tick_cpus: list[Any] = msgspec.field(default_factory=list)  # checked by load_config
    warm_us: Any = 1000  # 0 or >= 100, checked by load_config (its own message)
    first_venue: Literal["kalshi", "polymarket"] = "kalshi"
    reconcile_s: Any = 60  # a number >= 1, checked by load_config
    #: 0 = a free port, negative = no endpoint
    metrics_port: Annotated[int, msgspec.Meta(le=65535)] = 0
    metrics_host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"


class DetectionTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    min_edge: MoneyValue | None = None
    max_contracts: MoneyValue | None = None
    budget: MoneyValue | None = None
    max_book_age_ms: Any = None  # a positive integer, checked by load_config


class RiskTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    max_open_sagas: Count = 4
    max_gross_exposure: MoneyValue | None = None
    max_daily_loss: MoneyValue | None = None
    require_balance: bool = True
    max_hedge_failures: Count = 3


class VenueTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    rest_url: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    ws_url: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    #: Kalshi only: the demo environment, and the account's API tier
    demo: bool = False
    api_tier: str = "basic"


class TenantTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str | None = None
    tier: str = "institutional"
    kalshi_key_id: str = ""
    kalshi_private_key: Any = None  # a path; load_config checks it is a readable file
    polymarket_private_key: Any = None
    polymarket_funder: str | None = None
    polymarket_signature_type: Literal[0, 1, 2, 3] = SIG_EOA  # EOA, proxy, Gnosis safe, 1271
    polymarket_api_key: Any = None  # the inline L2 triple: read again by the process that signs
    polymarket_api_secret: Any = None
    polymarket_api_passphrase: Any = None
    polymarket_chain_id: Count = POLYGON_CHAIN_ID
    orders_per_second: Any = None  # whole numbers >= 1, checked by load_config
    order_burst: Any = None
    #: "files" (the key paths above) or "store": every key from [credentials], by reference
    credentials: Literal["files", "store"] = "files"
    #: the pairs (by name) this tenant trades; None: all of them (at most the tier's max_markets)
    pairs: list[Annotated[str, msgspec.Meta(min_length=1)]] | None = None


class CredentialsTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The encrypted store ``arbiter credentials put`` fills (defaults as that command's)."""

    #: the ``--home`` of ``arbiter credentials``: envelopes in <home>/credentials, the master key
    #: ring in file:<home>/secrets, unless ``store``/``secrets`` say otherwise
    home: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    store: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    secrets: Annotated[str, msgspec.Meta(min_length=1)] | None = None


class ConfigFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    engine: EngineTable = msgspec.field(default_factory=EngineTable)
    detection: DetectionTable = msgspec.field(default_factory=DetectionTable)
    risk: RiskTable = msgspec.field(default_factory=RiskTable)
    kalshi: VenueTable = msgspec.field(default_factory=VenueTable)
    polymarket: VenueTable = msgspec.field(default_factory=VenueTable)
    tenant: list[TenantTable] = msgspec.field(default_factory=list)
    credentials: CredentialsTable = msgspec.field(default_factory=CredentialsTable)


_TABLES: dict[str, type[msgspec.Struct]] = {
    "engine": EngineTable, "detection": DetectionTable, "risk": RiskTable, "kalshi": VenueTable,
    "polymarket": VenueTable, "tenant": TenantTable, "credentials": CredentialsTable,
}
_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")
_TYPE_WORDS = {
    "int": "a whole number", "float": "a number", "str": "a string", "bool": "true or false",
    "array": "a list", "object": "a table", "int | float": "a number",
    "str | int | float": "a number or a string", "str | int | float | null": "a number or a string",
    "str | null": "a string", "int | float | str": "a number or a string",
}
_BOUNDS = {">=": "at least", ">": "above", "<=": "at most", "<": "below"}


def table_name(section: str, index: int | None = None) -> str:
    """How a table is written in the file: ``[risk]``, ``[[tenant]] #2``."""
    return f"[[{section}]] #{index + 1}" if index is not None else f"[{section}]"


def _path(path: str) -> tuple[str | None, int | None, str | None]:
    """``.tenant[1].orders_per_second`` -> ("tenant", 1, "orders_per_second")."""
    parts = re.findall(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]", path)
    section: str | None = None
    index: int | None = None
    key: str | None = None
    for name, number in parts:
        if number:
            index = int(number)
        elif section is None:
            section = name
        else:
            key = name
    return section, index, key


def _lookup(data: Any, section: str | None, index: int | None, key: str | None) -> Any:
    try:
        value = data[section] if section is not None else data
        if index is not None:
            value = value[index]
        return value[key] if key is not None else value
    except (KeyError, IndexError, TypeError):
        return None


def _problem(what: str, value: Any) -> str:
    unknown = re.match(r"Object contains unknown field `([^`]*)`", what)
    if unknown:
        return "unknown key"
    expected = re.match(r"Expected `(?P<type>[^`]+)`(?P<bound>(?: (?:>=|>|<=|<) -?[\d.e+]+)*)",
                        what)
    if expected:
        words = [_TYPE_WORDS.get(expected["type"], expected["type"])]
        for op, number in re.findall(r"(>=|>|<=|<) (-?[\d.e+]+)", expected["bound"]):
            words.append(f"{_BOUNDS[op]} {number}")
        if "length" in what:
            words = ["a non-empty string"]
        return f"must be {' '.join(words)}, got {value!r}"
    if what.startswith("Invalid enum value"):
        return f"not one of the allowed values, got {value!r}"
    if what.startswith("Object missing required field"):
        return what.replace("Object missing required field", "missing key")
    return what


def decode_config(data: dict[str, Any], file: str) -> ConfigFile:
    """The typed config, or one :class:`ConfigError` naming the file, table and key."""
    try:
        return msgspec.convert(data, ConfigFile, strict=True)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        what = match["what"] if match else str(exc)
        section, index, key = _path(match["path"] or "") if match else (None, None, None)
        unknown = re.match(r"Object contains unknown field `([^`]*)`", what)
        if unknown:  # the path names the table holding the key; the key is in the message
            key = unknown[1]
            table = _TABLES.get(section or "", ConfigFile)
            known = ", ".join(sorted(table.__struct_fields__))
            where = table_name(section, index) if section else None
            raise ConfigError(file, where, key, f"unknown key (known: {known})") from None
        value = _lookup(data, section, index, key)
        where = table_name(section, index) if section else None
        if section is not None and key is None and index is None:
            return_what = "must be a table" if section != "tenant" else "must be [[tenant]] tables"
            raise ConfigError(file, where, None, f"{return_what}, got {value!r}") from None
        raise ConfigError(file, where, key, _problem(what, value)) from None
