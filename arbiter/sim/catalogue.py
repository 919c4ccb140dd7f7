"""The local venues' catalogues: the listing endpoints ``arbiter pairs`` reads, in the venues'
shapes.

- Local Kalshi ``GET /trade-api/v2/events`` — ``{"events": [...], "cursor": "..."}`` with
  ``limit`` (1..200, default 100), ``cursor``, ``status``, ``series_ticker`` and
  ``with_nested_markets`` (docs.kalshi.com/api-reference/events/get-events; multivariate events
  are not listed there, so none are here).
- Local Polymarket Gamma ``GET /gamma/events`` and ``/gamma/markets`` — JSON arrays with
  ``limit``/``offset``/``closed`` (docs.polymarket.com/developers/open-api/get-events.json); the
  Gamma base URL of the local venue is ``<url>/gamma``.

Two sources feed them: the markets the local exchange trades (rendered in the venue's shape,
markets nested under events) and a *catalogue* of real bodies loaded verbatim
(:meth:`KalshiCatalogue.load` / :meth:`GammaCatalogue.load`, e.g. the captures in
``tests/pairs/data``), served as they are, so the review flow runs end to end against loopback
on real listings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["GammaCatalogue", "KalshiCatalogue", "gamma_event_of"]

_KALSHI_MAX = 200


def _int(text: str | None, default: int, lo: int, hi: int) -> int:
    try:
        value = int(text) if text not in (None, "") else default
    except ValueError:
        value = default
    return max(lo, min(hi, value))


class KalshiCatalogue:
    """Events (with nested markets) and series loaded from real Kalshi bodies."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.series: list[dict[str, Any]] = []

    def load(self, bodies: Iterable[Any]) -> None:
        """Accepts ``/events``, ``/event``, ``/markets``, ``/market`` and ``/series`` answers;
        bare markets are grouped into events by ``event_ticker``."""
        by_event: dict[str, dict[str, Any]] = {e["event_ticker"]: e for e in self.events}

        def add_market(m: Mapping[str, Any]) -> None:
            ticker = str(m.get("event_ticker", ""))
            ev = by_event.get(ticker)
            if ev is None:
                ev = {"event_ticker": ticker, "series_ticker": ticker.split("-")[0],
                      "title": m.get("title", ""), "sub_title": "", "mutually_exclusive": False,
                      "category": "", "markets": []}
                by_event[ticker] = ev
                self.events.append(ev)
            ev.setdefault("markets", []).append(dict(m))

        def walk(body: Any) -> None:
            if isinstance(body, list):
                for b in body:
                    walk(b)
                return
            if not isinstance(body, Mapping):
                return
            if isinstance(body.get("series"), Mapping):
                self.series.append(dict(body["series"]))
            for ev in body.get("events") or []:
                if isinstance(ev, Mapping):
                    for m in ev.get("markets") or []:
                        add_market(m)
                    by_event[str(ev.get("event_ticker"))].update(
                        {k: v for k, v in ev.items() if k != "markets"})
            markets = body.get("markets")
            if isinstance(markets, list):
                for m in markets:
                    if isinstance(m, Mapping):
                        add_market(m)
            if isinstance(body.get("market"), Mapping):
                add_market(body["market"])
            for key, value in body.items():
                if key not in ("markets", "events", "series", "market") and isinstance(
                        value, list) and all(isinstance(v, Mapping) and "ticker" in v
                                             for v in value):
                    for m in value:
                        add_market(m)

        for b in bodies:
            walk(b)

    def page(self, query: Mapping[str, str], live: list[dict[str, Any]]) -> dict[str, Any]:
        """One ``GET /events`` page over the catalogue's events, then the live ones."""
        rows = [*self.events, *live]
        if query.get("series_ticker"):
            rows = [e for e in rows if e.get("series_ticker") == query["series_ticker"]]
        if query.get("status") == "open":
            rows = [e for e in rows if any(m.get("status") in ("active", "open")
                                           for m in e.get("markets") or [])]
        limit = _int(query.get("limit"), 100, 1, _KALSHI_MAX)
        start = _int(query.get("cursor"), 0, 0, len(rows))
        page = rows[start:start + limit]
        nested = query.get("with_nested_markets") == "true"
        out = [e if nested else {k: v for k, v in e.items() if k != "markets"} for e in page]
        end = start + len(page)
        return {"events": out, "cursor": str(end) if end < len(rows) else ""}


def gamma_event_of(market: Mapping[str, Any]) -> dict[str, Any]:
    """A Gamma event for one CLOB-shaped market of the local exchange (``market_json``)."""
    tokens = market.get("tokens") or []
    slug = str(market.get("market_slug") or market.get("condition_id"))
    gm = {
        "id": slug,
        "question": market.get("question", ""),
        "conditionId": market.get("condition_id"),
        "slug": slug,
        "description": market.get("description", ""),
        "resolutionSource": "",
        "endDate": market.get("end_date_iso"),
        "outcomes": json.dumps([t.get("outcome") for t in tokens]),
        "clobTokenIds": json.dumps([t.get("token_id") for t in tokens]),
        "active": market.get("active", True),
        "closed": market.get("closed", False),
        "orderPriceMinTickSize": float(str(market.get("minimum_tick_size", "0.01"))),
        "negRisk": market.get("neg_risk", False),
    }
    return {"id": slug, "slug": slug, "title": gm["question"], "description": gm["description"],
            "endDate": gm["endDate"], "active": gm["active"], "closed": gm["closed"],
            "negRisk": gm["negRisk"], "markets": [gm]}


class GammaCatalogue:
    """Gamma events loaded from real Polymarket bodies (events, or markets with events)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def load(self, bodies: Iterable[Any]) -> None:
        for body in bodies:
            items = body if isinstance(body, list) else [body]
            for item in items:
                if not isinstance(item, Mapping):
                    continue
                if isinstance(item.get("markets"), list):
                    self.events.append(dict(item))
                elif "conditionId" in item:
                    nested = [e for e in item.get("events") or [] if isinstance(e, Mapping)]
                    ev = dict(nested[0]) if nested else {"slug": item.get("slug", "")}
                    ev["markets"] = [{k: v for k, v in item.items() if k != "events"}]
                    self.events.append(ev)

    @staticmethod
    def _window(rows: list[Any], query: Mapping[str, str]) -> list[Any]:
        if query.get("closed") == "false":
            rows = [r for r in rows if not r.get("closed")]
        offset = _int(query.get("offset"), 0, 0, len(rows))
        limit = _int(query.get("limit"), 100, 1, 500)
        return rows[offset:offset + limit]

    def events_page(self, query: Mapping[str, str], live: list[dict[str, Any]]) -> list[Any]:
        return self._window([*self.events, *live], query)

    def markets_page(self, query: Mapping[str, str], live: list[dict[str, Any]]) -> list[Any]:
        rows = []
        for ev in [*self.events, *live]:
            for m in ev.get("markets") or []:
                rows.append({**m, "events": [{k: v for k, v in ev.items() if k != "markets"}]})
        return self._window(rows, query)
