"""The two venues' catalogues as they serve them: paged, cached, for ``arbiter pairs``.

- **Kalshi** ``GET /events?with_nested_markets=true&status=open`` (cursor-paged, ``limit`` ≤ 200;
  docs.kalshi.com/api-reference/events/get-events: the endpoint *excludes multivariate events*,
  so the auto-generated parlays that dominate ``/markets?status=open`` never crowd out the real
  markets; docs.kalshi.com/getting_started/pagination), then ``GET /series`` for the series'
  ``settlement_sources``.
- **Polymarket** Gamma ``GET /events?closed=false&limit=&offset=`` (offset-paged;
  docs.polymarket.com/developers/open-api/get-events.json), markets nested with ``question``,
  ``groupItemTitle``, ``outcomes``, ``clobTokenIds``, ``description``, ``resolutionSource``,
  ``negRisk``.

The bodies are kept exactly as served (a list of page bodies per venue) so the same files feed
``--kalshi-markets``/``--polymarket-markets`` offline; with ``cache_dir`` they are written there
and reused while younger than ``ttl_s``. Reading them is the pure core's job
(:mod:`arbiter.core.pairmatch.contract`).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from arbiter.cli.errors import UsageError

__all__ = ["DEFAULT_GAMMA_URL", "fetch_kalshi", "fetch_polymarket", "load_bodies"]

DEFAULT_GAMMA_URL = "https://gamma-api.polymarket.com"
_KALSHI_PAGE = 200
_GAMMA_PAGE = 100
_TIMEOUT = aiohttp.ClientTimeout(total=60)


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> Any:
    async with session.get(url, params=params) as r:
        if r.status != 200:
            raise UsageError(f"{url}: HTTP {r.status}")
        return await r.json(content_type=None)


def _cached(cache_dir: Path | None, name: str, ttl_s: float) -> list[Any] | None:
    if cache_dir is None:
        return None
    path = cache_dir / f"{name}.json"
    if path.exists() and time.time() - path.stat().st_mtime < ttl_s:
        data = json.loads(path.read_text())
        return data if isinstance(data, list) else None
    return None


def _store(cache_dir: Path | None, name: str, pages: list[Any]) -> None:
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{name}.json.tmp"
        tmp.write_text(json.dumps(pages))
        tmp.replace(cache_dir / f"{name}.json")


async def fetch_kalshi(rest_url: str, max_events: int = 20_000, cache_dir: Path | None = None,
                       ttl_s: float = 900.0) -> list[Any]:
    """Page bodies of ``/events`` (nested markets, open) plus one ``/series`` body."""
    if (hit := _cached(cache_dir, "kalshi", ttl_s)) is not None:
        return hit
    base = rest_url.rstrip("/")
    pages: list[Any] = []
    seen = 0
    cursor = ""
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as s:
        while seen < max_events:
            params = {"with_nested_markets": "true", "status": "open",
                      "limit": str(min(_KALSHI_PAGE, max_events - seen))}
            if cursor:
                params["cursor"] = cursor
            body = await _get(s, base + "/events", params)
            if not isinstance(body, dict) or not isinstance(body.get("events"), list):
                raise UsageError(f"{base}/events: not an events page")
            pages.append(body)
            seen += len(body["events"])
            cursor = body.get("cursor") or ""
            if not cursor or not body["events"]:
                break
        # the series' settlement sources; without them the rules gate says "missing"
        with contextlib.suppress(UsageError):
            pages.append(await _get(s, base + "/series", {}))
    _store(cache_dir, "kalshi", pages)
    return pages


async def fetch_polymarket(gamma_url: str, max_events: int = 20_000,
                           cache_dir: Path | None = None, ttl_s: float = 900.0) -> list[Any]:
    """Page bodies of Gamma ``/events?closed=false`` (each a list of events)."""
    if (hit := _cached(cache_dir, "polymarket", ttl_s)) is not None:
        return hit
    base = gamma_url.rstrip("/")
    pages: list[Any] = []
    offset = 0
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as s:
        while offset < max_events:
            limit = min(_GAMMA_PAGE, max_events - offset)
            body = await _get(s, base + "/events", {"closed": "false", "limit": str(limit),
                                                     "offset": str(offset)})
            if not isinstance(body, list):
                raise UsageError(f"{base}/events: not a list of events")
            pages.append(body)
            offset += len(body)
            if len(body) < limit:
                break
    _store(cache_dir, "polymarket", pages)
    return pages


def load_bodies(paths: list[str]) -> list[Any]:
    """The JSON bodies of ``paths`` (each a venue answer, or a cache file of pages)."""
    out: list[Any] = []
    for path in paths:
        try:
            out.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None
    return out
