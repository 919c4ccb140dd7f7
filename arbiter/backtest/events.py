"""The normalised market-event stream: one columnar schema for recording, storage and replay.

Every venue frame the engine cares about reduces to rows of eight integer-friendly columns, so a
day of both venues is a handful of contiguous numpy arrays (hftbacktest's lesson): replay iterates
them without building one Python object per event, and Parquet stores them compressed.

Columns (money in the core's integer units, docs/backtesting.md):

=========  ===============================  ================================================
column     Arrow type                       meaning
=========  ===============================  ================================================
ts_ns      int64                            exchange (or receive) time, ns since the epoch
venue      dictionary<int8, string>         ``kalshi`` | ``polymarket``
market     dictionary<int32, string>        Kalshi ticker or Polymarket token id
kind       uint8                            :data:`KIND_DELTA` ... :data:`KIND_TICK`
side       uint8                            ladder: Kalshi 0 = YES bids, 1 = NO bids;
                                            Polymarket 0 = bids, 1 = asks
price      int32                            ``Price`` units ($0.0001); for TICK the new tick
size       int64                            ``Size`` units (1e-6 contract); signed for DELTA
seq        int64                            recorder-global sequence: the total order of rows
=========  ===============================  ================================================

Kinds: ``DELTA`` adds ``size`` to a level (Kalshi ``orderbook_delta``); ``LEVEL`` sets a level's
absolute size (Polymarket ``price_change``, snapshot rows); ``CLEAR`` empties both ladders of a
market (a snapshot is CLEAR then LEVEL rows with one ``ts_ns``); ``TRADE`` is a print against the
resting ladder ``side`` at ``price`` (the level decrease follows as its own row); ``TICK`` changes
a Polymarket token's tick to ``price``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from arbiter.core.tape import KIND_CLEAR, KIND_DELTA, KIND_LEVEL, KIND_TICK, KIND_TRADE

__all__ = [
    "EVENT_SCHEMA",
    "KALSHI",
    "KINDS",
    "KIND_CLEAR",
    "KIND_DELTA",
    "KIND_LEVEL",
    "KIND_TICK",
    "KIND_TRADE",
    "POLYMARKET",
    "VENUES",
    "EventBatch",
    "EventBuilder",
]

KALSHI: Final = 0
POLYMARKET: Final = 1
VENUES: Final = ("kalshi", "polymarket")

#: names of the kind codes, whose one home is the replay's row loop (:mod:`arbiter.core.tape`)
KINDS: Final = ("delta", "level", "clear", "trade", "tick")

EVENT_SCHEMA: Final = pa.schema(
    [
        ("ts_ns", pa.int64()),
        ("venue", pa.dictionary(pa.int8(), pa.string())),
        ("market", pa.dictionary(pa.int32(), pa.string())),
        ("kind", pa.uint8()),
        ("side", pa.uint8()),
        ("price", pa.int32()),
        ("size", pa.int64()),
        ("seq", pa.int64()),
    ]
)

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]


@dataclass(slots=True)
class EventBatch:
    """Events as parallel numpy columns; ``market`` holds indices into ``markets``.

    ``venue`` holds :data:`KALSHI`/:data:`POLYMARKET` codes. Batches are immutable by convention:
    every transformation returns a new batch.
    """

    ts_ns: I64
    venue: U8
    market: I32
    kind: U8
    side: U8
    price: I32
    size: I64
    seq: I64
    markets: list[str]

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    @staticmethod
    def empty() -> EventBatch:
        return EventBatch(
            np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.int32),
            np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(0, np.int32),
            np.zeros(0, np.int64), np.zeros(0, np.int64), [],
        )

    def take(self, index: npt.NDArray[Any] | slice) -> EventBatch:
        """Rows selected by a boolean mask, an index array or a slice (a view; same market table)."""
        return EventBatch(
            self.ts_ns[index], self.venue[index], self.market[index], self.kind[index],
            self.side[index], self.price[index], self.size[index], self.seq[index], self.markets,
        )

    def sorted(self) -> EventBatch:
        """Rows in replay order: by ``ts_ns``, ties broken by ``seq`` (the recorder's order)."""
        order = np.lexsort((self.seq, self.ts_ns))
        return self.take(order)

    def between(self, start_ns: int | None, end_ns: int | None) -> EventBatch:
        """Rows with ``start_ns <= ts_ns < end_ns`` (either bound optional)."""
        mask = np.ones(len(self), dtype=bool)
        if start_ns is not None:
            mask &= self.ts_ns >= start_ns
        if end_ns is not None:
            mask &= self.ts_ns < end_ns
        return self.take(mask)

    def market_names(self) -> list[str]:
        return [self.markets[i] for i in self.market.tolist()]

    # -- Arrow -----------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        venues = pa.DictionaryArray.from_arrays(
            pa.array(self.venue.astype(np.int8)), pa.array(list(VENUES), pa.string())
        )
        markets = pa.DictionaryArray.from_arrays(
            pa.array(self.market), pa.array(self.markets, pa.string())
        )
        return pa.Table.from_arrays(
            [
                pa.array(self.ts_ns), venues, markets, pa.array(self.kind), pa.array(self.side),
                pa.array(self.price), pa.array(self.size), pa.array(self.seq),
            ],
            schema=EVENT_SCHEMA,
        )

    @staticmethod
    def from_arrow(table: pa.Table) -> EventBatch:
        """Back to numpy columns without a per-row Python object (dictionaries unified)."""
        if table.num_rows == 0:
            return EventBatch.empty()
        table = table.select([f.name for f in EVENT_SCHEMA]).cast(EVENT_SCHEMA)
        table = table.unify_dictionaries().combine_chunks()

        def ints(name: str, dtype: type) -> npt.NDArray[Any]:
            return np.asarray(table.column(name).chunk(0).to_numpy(zero_copy_only=False), dtype=dtype)

        venue_col = table.column("venue").chunk(0)
        venue_names = venue_col.dictionary.to_pylist()
        venue_map = np.array([VENUES.index(v) for v in venue_names] or [0], dtype=np.uint8)
        venue = venue_map[venue_col.indices.to_numpy(zero_copy_only=False)]
        market_col = table.column("market").chunk(0)
        return EventBatch(
            ints("ts_ns", np.int64), venue.astype(np.uint8),
            np.asarray(market_col.indices.to_numpy(zero_copy_only=False), dtype=np.int32),
            ints("kind", np.uint8), ints("side", np.uint8), ints("price", np.int32),
            ints("size", np.int64), ints("seq", np.int64),
            [str(m) for m in market_col.dictionary.to_pylist()],
        )

    @staticmethod
    def concat(batches: Sequence[EventBatch]) -> EventBatch:
        """One batch from many, remapping every market table onto a shared one."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return EventBatch.empty()
        names: dict[str, int] = {}
        remapped: list[I32] = []
        for b in batches:
            table = np.array([names.setdefault(m, len(names)) for m in b.markets] or [0], np.int32)
            remapped.append(table[b.market])
        return EventBatch(
            np.concatenate([b.ts_ns for b in batches]), np.concatenate([b.venue for b in batches]),
            np.concatenate(remapped), np.concatenate([b.kind for b in batches]),
            np.concatenate([b.side for b in batches]), np.concatenate([b.price for b in batches]),
            np.concatenate([b.size for b in batches]), np.concatenate([b.seq for b in batches]),
            list(names),
        )


class EventBuilder:
    """Row-at-a-time accumulation (feeds, generators) into an :class:`EventBatch`.

    Python lists grow cheaply; the arrays are built once in :meth:`build`. ``seq`` is assigned
    here, so whoever appends defines the total order.
    """

    __slots__ = ("_market_ids", "kind", "market", "markets", "next_seq", "price", "seq", "side",
                 "size", "ts_ns", "venue")

    def __init__(self, first_seq: int = 0) -> None:
        self.ts_ns: list[int] = []
        self.venue: list[int] = []
        self.market: list[int] = []
        self.kind: list[int] = []
        self.side: list[int] = []
        self.price: list[int] = []
        self.size: list[int] = []
        self.seq: list[int] = []
        self.markets: list[str] = []
        self._market_ids: dict[str, int] = {}
        self.next_seq = first_seq

    def __len__(self) -> int:
        return len(self.ts_ns)

    def market_id(self, market: str) -> int:
        mid = self._market_ids.get(market)
        if mid is None:
            mid = self._market_ids[market] = len(self.markets)
            self.markets.append(market)
        return mid

    def add(self, ts_ns: int, venue: int, market: str, kind: int, side: int, price: int,
            size: int) -> None:
        self.ts_ns.append(ts_ns)
        self.venue.append(venue)
        self.market.append(self.market_id(market))
        self.kind.append(kind)
        self.side.append(side)
        self.price.append(price)
        self.size.append(size)
        self.seq.append(self.next_seq)
        self.next_seq += 1

    def extend_rows(self, rows: Iterable[tuple[int, int, str, int, int, int, int]]) -> None:
        for row in rows:
            self.add(*row)

    def build(self) -> EventBatch:
        return EventBatch(
            np.array(self.ts_ns, np.int64), np.array(self.venue, np.uint8),
            np.array(self.market, np.int32), np.array(self.kind, np.uint8),
            np.array(self.side, np.uint8), np.array(self.price, np.int32),
            np.array(self.size, np.int64), np.array(self.seq, np.int64), list(self.markets),
        )

    def clear(self) -> None:
        """Drop buffered rows; market ids and the sequence keep counting."""
        for col in (self.ts_ns, self.venue, self.market, self.kind, self.side, self.price,
                    self.size, self.seq):
            col.clear()
