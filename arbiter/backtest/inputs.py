"""Command-line inputs shared by ``arbiter backtest/sweep`` and the Ray job entrypoints.

Every problem a user can cause (bad spec, missing file, unknown parameter) raises
:class:`InputError` with one line that names it; the shells turn that into exit code 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from arbiter.backtest.events import EventBatch
from arbiter.backtest.replay import BacktestParams
from arbiter.backtest.storage import EventStore, StorageError
from arbiter.backtest.synthetic import SyntheticConfig, generate, make_pairs
from arbiter.core.pairs import Pair, PairsError, parse_pairs

__all__ = ["InputError", "StoredEvents", "load_inputs", "parse_assignments", "parse_space",
           "parse_synthetic", "parse_time"]


class InputError(ValueError):
    """A user-supplied input that cannot be used; the message is one line."""


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_synthetic(spec: str) -> SyntheticConfig:
    """``events=200000,pairs=8,days=2,seed=1`` (any :class:`SyntheticConfig` field)."""
    known = {f.name: type(f.default) for f in fields(SyntheticConfig)}
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, eq, raw = part.partition("=")
        if not eq or key not in known:
            raise InputError(f"bad synthetic spec item {part!r}; fields: {', '.join(sorted(known))}")
        value = _value(raw)
        if known[key] is float and isinstance(value, int):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, known[key]):
            raise InputError(f"bad synthetic spec item {part!r}: {key} must be {known[key].__name__}")
        values[key] = value
    try:
        return SyntheticConfig(**values)
    except TypeError as exc:
        raise InputError(f"bad synthetic spec {spec!r}: {exc}") from None


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``min_edge=150`` items into backtest parameters (validated)."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq:
            raise InputError(f"parameter {item!r} must look like name=value")
        out[key.strip()] = _value(raw.strip())
    try:
        BacktestParams.from_dict(out)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad backtest parameters: {exc}") from None
    return out


def parse_space(items: Sequence[str]) -> dict[str, list[Any]]:
    """``min_edge=100,200 leg_order=poly_first,kalshi_first`` into a search space."""
    names = {f.name for f in fields(BacktestParams)}
    space: dict[str, list[Any]] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or key not in names:
            raise InputError(f"bad grid axis {item!r}; parameters: {', '.join(sorted(names))}")
        space[key] = [_value(v.strip()) for v in raw.split(",") if v.strip()]
        if not space[key]:
            raise InputError(f"grid axis {key!r} has no values")
    return space


def parse_time(text: str | None) -> int | None:
    """ISO date/time (UTC unless an offset is given) or integer ns to ns since the epoch."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"bad time {text!r}: use ISO 8601 (2026-01-05T12:00) or ns") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


@dataclass(frozen=True, slots=True)
class StoredEvents:
    """A recorded store's rows in a time range, read afresh as a stream of batches each time it
    is iterated (:meth:`EventStore.batches`): a replay over it holds one chunk at a time, so a
    recorded day of any size fits (ADR 0151). A store that turns out unreadable part-way raises
    :class:`InputError`, like one unreadable from the start."""

    path: str
    start_ns: int | None = None
    end_ns: int | None = None

    def __iter__(self) -> Iterator[EventBatch]:
        try:
            yield from EventStore(self.path).batches(self.start_ns, self.end_ns)
        except StorageError as exc:
            raise InputError(str(exc)) from None


def load_inputs(data: str | None, synthetic: str | None, pairs_file: str | None,
                start: str | None = None, end: str | None = None, *, stream: bool = False
                ) -> tuple[list[Pair], EventBatch | StoredEvents]:
    """Pairs and events from a recorded store (``data`` + ``pairs_file``) or a synthetic spec.

    With ``stream`` a store's events come as :class:`StoredEvents` (bounded memory; checked to
    hold a row in the range); otherwise loaded whole (a sweep ships one batch to its workers).
    """
    if (data is None) == (synthetic is None):
        raise InputError("give exactly one of --data DIR or --synthetic SPEC")
    if synthetic is not None:
        cfg = parse_synthetic(synthetic)
        pairs = make_pairs(cfg.pairs)
        if pairs_file is not None:
            pairs = _pairs(pairs_file)
        return pairs, generate(cfg).between(parse_time(start), parse_time(end))
    if pairs_file is None:
        raise InputError("--data needs --pairs PAIRS.toml")
    assert data is not None
    if stream:
        stored = StoredEvents(data, parse_time(start), parse_time(end))
        if not any(len(batch) for batch in stored):  # reads up to the first non-empty batch
            raise InputError(f"no recorded events in {data} for that time range")
        return _pairs(pairs_file), stored
    try:
        events = EventStore(data).load(parse_time(start), parse_time(end))
    except StorageError as exc:
        raise InputError(str(exc)) from None
    if not len(events):
        raise InputError(f"no recorded events in {data} for that time range")
    return _pairs(pairs_file), events


def _pairs(path: str) -> list[Pair]:
    try:
        pairs = parse_pairs(Path(path).read_text(encoding="utf-8"), path)
    except OSError as exc:
        raise InputError(f"cannot read pairs file {path}: {exc.strerror}") from None
    except PairsError as exc:
        raise InputError(str(exc)) from None
    # a backtest priced with an unknown Polymarket fee would report profits that do not exist
    reasons = [r for r in (p.untradable_reason() for p in pairs) if r is not None]
    if reasons:
        raise InputError(f"{path}: " + "; ".join(reasons))
    return pairs
