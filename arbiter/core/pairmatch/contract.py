"""One venue-neutral view of a binary market, parsed from the bodies the venues serve (pure).

Parsing takes the decoded JSON the venues send — Kalshi ``GET /events?with_nested_markets=true``,
``/markets``, ``/markets/{ticker}`` and ``/series/{ticker}``; Polymarket Gamma ``/events`` and
``/markets`` — and never does I/O. What it reads, and why (issue 22):

- **Date**: Kalshi ``expected_expiration_time`` (or ``occurrence_datetime``) is when the event
  happens; ``close_time`` is a settlement bound that can lie years out for futures, so it is
  never the date. Polymarket: ``gameStartTime``/event ``startTime`` for games, else ``endDate``.
- **Entity**: Kalshi sibling markets share one title ("Who will win?"); the entity lives in
  ``yes_sub_title``. ``no_sub_title`` equals ``yes_sub_title`` on every real listing seen, so it
  is never read as the NO side's meaning.
- **Participants** of a game: Kalshi's ``rules_primary`` ("the DET Lions vs BUF Bills Pro
  Football game"), the event ticker's team codes (``KXNFLTOTAL-26SEP20CARATL``); Polymarket's
  event ``teams`` (name, alias, abbreviation), the two outcome names, the slug's codes.
- **Rules**: Kalshi ``rules_primary`` + ``rules_secondary`` and the series' ``settlement_sources``;
  Polymarket ``description`` (the market's own, or its event's when the market *is* the event's
  main market) and ``resolutionSource``. Absent text stays empty: the rules gate fails closed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from arbiter.core.pairmatch.quantity import Interval, Quantity, parse_quantities, strip_dates
from arbiter.core.pairmatch.text import names_match, normalise

__all__ = [
    "CatalogueError",
    "Market",
    "Participant",
    "Proposition",
    "kalshi_markets",
    "polymarket_markets",
]

#: kinds of proposition: "margin" (entity's points minus the other's; "wins" is margin > 0),
#: "total" (points of both), "text" (anything else: a stem of words plus a threshold)
MARGIN, TOTAL, TEXT = "margin", "total", "text"
_GENERIC_OUTCOMES = frozenset({"yes", "no", "over", "under"})
_STOP = frozenset({
    "will", "the", "be", "a", "an", "of", "in", "on", "by", "to", "at", "for", "is", "are", "than",
    "or", "and", "end", "before", "after", "this", "that", "what", "who", "which", "how", "many",
    "much", "market", "resolve", "resolves", "yes", "no", "above", "below", "over", "under",
    "more", "less", "between", "least", "most", "greater", "fewer",
})


class CatalogueError(ValueError):
    """A catalogue body without the fields a market needs (names the market and the field)."""


@dataclass(frozen=True, slots=True)
class Participant:
    """One side of a game, with every name the venue gives it."""

    name: str
    aliases: frozenset[str]

    def matches(self, name: str) -> bool:
        return any(names_match(name, alias) for alias in self.aliases)


@dataclass(frozen=True, slots=True)
class Proposition:
    """What must happen for one side of a market to pay."""

    kind: str  # MARGIN | TOTAL | TEXT
    label: str  # the venue's words for it
    entity: str = ""  # MARGIN: whose margin
    interval: Interval | None = None  # the true-set of the measure
    unit: str = ""
    stem: frozenset[str] = frozenset()  # TEXT: identity-bearing words
    #: TEXT: "happens by/before the date": an earlier deadline is a subset of a later one
    deadline: bool = False

    def describe(self) -> str:
        iv = self.interval.describe(self.unit) if self.interval else ""
        if self.kind == MARGIN:
            return f"margin({self.entity}) {iv}"
        if self.kind == TOTAL:
            return f"total {iv}"
        return f"{' '.join(sorted(self.stem))} {iv}".strip()


@dataclass(frozen=True, slots=True)
class Market:
    """A binary market of either venue, reduced to what matching compares."""

    venue: str  # "kalshi" | "polymarket"
    key: str  # Kalshi ticker | Polymarket condition id
    title: str
    group: str  # Kalshi event ticker | Polymarket event slug
    series: str
    when: datetime | None
    #: Kalshi: what YES pays on. Polymarket: the first outcome's proposition
    first: Proposition
    #: Polymarket named markets: the second outcome's proposition; None: the complement of first
    second: Proposition | None
    outcomes: tuple[str, str]
    participants: tuple[Participant, ...] = ()
    codes: str = ""  # team codes as one lower-case string ("detbuf")
    rules: str = ""
    sources: tuple[str, ...] = ()
    tokens: tuple[str, str] | None = None  # Polymarket: token ids of outcomes[0], outcomes[1]
    tick_size: str = "0.01"
    neg_risk: bool = False
    yes_label: str = ""  # Kalshi yes_sub_title as served
    extra: Mapping[str, str] = field(default_factory=dict)


# -- small readers ----------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "T", 1)
    if re.fullmatch(r".*[+-]\d{2}$", text):  # Gamma's "2026-09-18 00:15:00+00"
        text += ":00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str(m: Mapping[str, Any], key: str) -> str:
    v = m.get(key)
    return v.strip() if isinstance(v, str) else ""


def _json_list(value: Any) -> list[str]:
    """Gamma sends ``outcomes``/``clobTokenIds`` as JSON text inside JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _stem(text: str) -> frozenset[str]:
    words = normalise(strip_dates(text)).split()
    return frozenset(w for w in words if w not in _STOP and not re.fullmatch(r"[-+]?[\d.]+", w))


_DEADLINE = re.compile(r"\b(?:by|before)\b", re.IGNORECASE)


def _entity(label: str) -> str:
    """A name-like label ("Gavin Newsom"), not a generic side or a threshold ("$74,300 or
    above", "December 31, 2026")."""
    if not label or normalise(label) in _GENERIC_OUTCOMES or re.search(r"\d", label):
        return ""
    return label


def _fraction(value: Any) -> Fraction | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None


_SPORT_WORDS = frozenset({
    "pro", "professional", "football", "college", "basketball", "baseball", "hockey", "soccer",
    "tennis", "men", "mens", "women", "womens", "s", "nfl", "nba", "mlb", "nhl", "ncaa", "league",
})
_VS = re.compile(r"\bthe (?P<a>.+?) vs\.? (?P<b>.+?) (?:game|match)\b", re.IGNORECASE)


def _strip_sport(name: str) -> str:
    words = name.split()
    while words and normalise(words[-1]) in _SPORT_WORDS | {""}:
        words.pop()
    return " ".join(words)


def _rules_participants(rules: str) -> tuple[str, ...]:
    m = _VS.search(rules)
    if m is None:
        return ()
    return (_strip_sport(m.group("a")), _strip_sport(m.group("b")))


_TICKER_DATE = re.compile(r"^\d{2}[A-Z]{3}\d{2}(?:\d{4})?")


def _kalshi_codes(event_ticker: str) -> str:
    """``KXNFLTOTAL-26SEP20CARATL`` → ``caratl`` (date stripped); "" when there is none."""
    parts = event_ticker.split("-")
    if len(parts) < 2:
        return ""
    m = _TICKER_DATE.match(parts[1])
    if m is None:
        return ""
    rest = parts[1][m.end():]
    return rest.lower() if rest.isalpha() else ""


def _slug_codes(slug: str) -> str:
    """``nfl-det-buf-2026-09-18-total-49pt5`` → ``detbuf``."""
    parts = slug.split("-")
    out = []
    for part in parts[1:]:
        if re.fullmatch(r"(?:19|20)\d{2}", part):
            break
        out.append(part)
    return "".join(out) if parts and re.search(r"-(?:19|20)\d{2}-\d{2}-\d{2}", slug) else ""


# -- Kalshi -----------------------------------------------------------------------------------

_WINS_BY = re.compile(r"^(?P<who>.+?) wins by (?P<rest>.+)$", re.IGNORECASE)
_WINS = re.compile(r"^(?:if )?(?P<who>.+?) wins\b", re.IGNORECASE)
_POINTS = re.compile(r"\b(?:points?|runs?|goals?) scored\b|\btotal\b", re.IGNORECASE)


def _kalshi_interval(m: Mapping[str, Any]) -> tuple[Interval | None, str]:
    """The threshold from the structured strike fields (Kalshi ``strike_type``)."""
    kind = _str(m, "strike_type")
    floor, cap = _fraction(m.get("floor_strike")), _fraction(m.get("cap_strike"))
    if kind == "greater" and floor is not None:
        return Interval.above(floor), ""
    if kind == "greater_or_equal" and floor is not None:
        return Interval.above(floor, inclusive=True), ""
    if kind == "less" and cap is not None:
        return Interval.below(cap), ""
    if kind == "less_or_equal" and cap is not None:
        return Interval.below(cap, inclusive=True), ""
    if kind == "between" and floor is not None and cap is not None:
        return Interval(floor, cap, True, True), ""
    return None, ""


def _kalshi_proposition(m: Mapping[str, Any], codes: str) -> Proposition:
    yes = _str(m, "yes_sub_title")
    title = _str(m, "title")
    rules = _str(m, "rules_primary")
    strike, _ = _kalshi_interval(m)
    for text in (yes, title):
        wb = _WINS_BY.match(text.rstrip("?"))
        if wb:
            qs = parse_quantities(wb.group("rest"))
            iv = strike or (qs[0].interval if qs else None)
            return Proposition(MARGIN, text, entity=wb.group("who").strip(), interval=iv,
                               unit="pts")
    for text in (yes, title):
        if _POINTS.search(text):
            qs = parse_quantities(text)
            iv = strike or (qs[0].interval if qs else None)
            return Proposition(TOTAL, text, interval=iv, unit="pts")
    wins = _WINS.match(rules) or _WINS.match(title.rstrip("?"))
    if wins and (_rules_participants(rules) or codes):  # a game: "X wins" is margin(X) > 0
        who = yes if yes and yes.lower() not in ("yes", "no") else wins.group("who").strip()
        return Proposition(MARGIN, yes or title, entity=who, interval=Interval.above(Fraction(0)),
                           unit="pts")
    words = f"{title} {yes}" if yes.lower() not in ("yes", "") else title
    qs = parse_quantities(yes) or parse_quantities(title)
    iv = strike or (qs[0].interval if qs else None)
    unit = qs[0].unit if qs else ""
    return Proposition(TEXT, words, entity=_entity(yes), interval=iv, unit=unit,
                       stem=_stem(words), deadline=bool(_DEADLINE.search(title)))


def _kalshi_market(m: Mapping[str, Any], event: Mapping[str, Any],
                   series: Mapping[str, Mapping[str, Any]]) -> Market:
    ticker = _str(m, "ticker")
    if not ticker:
        raise CatalogueError("kalshi market without 'ticker'")
    event_ticker = _str(m, "event_ticker") or _str(event, "event_ticker")
    series_ticker = _str(event, "series_ticker") or event_ticker.split("-")[0]
    rules = "\n".join(t for t in (_str(m, "rules_primary"), _str(m, "rules_secondary")) if t)
    sources: list[str] = []
    for holder in (series.get(series_ticker, {}), event):
        for src in holder.get("settlement_sources") or []:
            if isinstance(src, Mapping):
                sources += [s for s in (_str(src, "url"), _str(src, "name")) if s]
    names = _rules_participants(_str(m, "rules_primary"))
    parts = tuple(Participant(n, frozenset({n})) for n in names)
    return Market(
        venue="kalshi",
        key=ticker,
        title=_str(m, "title") or _str(event, "title"),
        group=event_ticker,
        series=series_ticker,
        when=_when(m.get("expected_expiration_time")) or _when(m.get("occurrence_datetime")),
        first=_kalshi_proposition(m, _kalshi_codes(event_ticker)),
        second=None,
        outcomes=("Yes", "No"),
        participants=parts,
        codes=_kalshi_codes(event_ticker),
        rules=rules,
        sources=tuple(sources),
        yes_label=_str(m, "yes_sub_title"),
        extra={"price_level_structure": _str(m, "price_level_structure"),
               "status": _str(m, "status")},
    )


def kalshi_markets(bodies: Iterable[Any], skipped: list[str] | None = None) -> list[Market]:
    """Every open binary market in Kalshi bodies: ``{"events": [...]}`` (nested markets),
    ``{"event": ..., "markets": [...]}``, ``{"markets": [...]}``, ``{"market": {...}}``,
    ``{"series": {...}}`` (read for settlement sources), or an object whose values are lists of
    markets. Closed, settled and non-binary markets are left out. ``skipped``: a market that
    cannot be read is reported there and left out (without it: :class:`CatalogueError`)."""
    series: dict[str, Mapping[str, Any]] = {}
    pending: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []

    def walk(body: Any) -> None:
        if isinstance(body, list):
            for item in body:
                walk(item)
            return
        if not isinstance(body, Mapping):
            return
        if isinstance(body.get("series"), Mapping):
            s = body["series"]
            series[_str(s, "ticker")] = s
        if isinstance(body.get("series"), list):
            for s in body["series"]:
                if isinstance(s, Mapping):
                    series[_str(s, "ticker")] = s
        raw_event = body.get("event")
        event: Mapping[str, Any] = raw_event if isinstance(raw_event, Mapping) else {}
        for ev in body.get("events") or []:
            if isinstance(ev, Mapping):
                for mk in ev.get("markets") or []:
                    if isinstance(mk, Mapping):
                        pending.append((mk, ev))
        if isinstance(event.get("markets"), list):
            pending.extend((mk, event) for mk in event["markets"] if isinstance(mk, Mapping))
        elif isinstance(body.get("markets"), list):
            pending.extend((mk, event) for mk in body["markets"] if isinstance(mk, Mapping))
        if isinstance(body.get("market"), Mapping):
            pending.append((body["market"], event))
        if "ticker" in body and "market_type" in body:
            pending.append((body, {}))
        for key, value in body.items():
            if key not in ("events", "markets", "market", "series", "event") and isinstance(
                    value, list) and value and all(
                    isinstance(v, Mapping) and "ticker" in v for v in value):
                pending.extend((mk, {}) for mk in value)

    for b in bodies:
        walk(b)
    out: dict[str, Market] = {}
    for mk, ev in pending:
        if _str(mk, "market_type") not in ("", "binary"):
            continue
        if _str(mk, "status") not in ("", "active", "open", "initialized"):
            continue
        try:
            market = _kalshi_market(mk, ev, series)
        except CatalogueError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
            continue
        out.setdefault(market.key, market)
    return list(out.values())


# -- Polymarket -------------------------------------------------------------------------------


_GAME_TITLE = re.compile(r"^(?P<a>[^:]+?)\s+vs\.?\s+(?P<b>[^:]+?)\s*(?::.*)?$", re.IGNORECASE)


def _poly_participants(event: Mapping[str, Any], outcomes: list[str],
                       question: str = "") -> tuple[Participant, ...]:
    """The two sides of a game: the event's ``teams``, else two named outcomes, else the game's
    title ("Fresno State vs. San Jose State", or the question "…: O/U 57.5" of a totals market
    whose outcomes are Over/Under) — the same "A vs B" reading as Kalshi's rules text."""
    teams = [t for t in event.get("teams") or [] if isinstance(t, Mapping)]
    if teams:
        return tuple(
            Participant(_str(t, "name"), frozenset(
                a for a in (_str(t, "name"), _str(t, "alias"), _str(t, "abbreviation")) if a))
            for t in teams)
    named = [o for o in outcomes if normalise(o) not in _GENERIC_OUTCOMES]
    if len(named) == 2:
        return tuple(Participant(o, frozenset({o})) for o in named)
    if [normalise(o) for o in outcomes] in (["over", "under"], ["under", "over"]):
        for title in (_str(event, "title"), question):
            m = _GAME_TITLE.match(title)
            if m:
                return tuple(Participant(n, frozenset({n}))
                             for n in (m.group("a").strip(), m.group("b").strip()))
    return ()


def _labelled_quantities(label: str, question: str) -> list[Quantity]:
    """The threshold of a ladder market: its short label (Gamma ``groupItemTitle`` "64,000")
    names the value, the question ("above $64,000 on March 11?") the comparator and unit. A
    bare label value is read with the question's comparator when the question states that
    same value; otherwise the label wins (it is what tells sibling markets apart)."""
    from_label = parse_quantities(label)
    from_question = parse_quantities(question)
    if not from_label:
        return from_question
    first = from_label[0]
    iv = first.interval
    if iv.lo is not None and iv.lo == iv.hi:
        for q in from_question:
            if iv.lo in (q.interval.lo, q.interval.hi) and q.interval.lo != q.interval.hi and (
                    not first.unit or first.unit == q.unit):
                return [q, *from_label[1:]]
    return from_label


def _poly_propositions(m: Mapping[str, Any], outcomes: list[str],
                       question: str) -> tuple[Proposition, Proposition | None]:
    kind = _str(m, "sportsMarketType")
    line = _fraction(m.get("line"))
    low = [normalise(o) for o in outcomes]
    if kind == "totals" or low in (["over", "under"], ["under", "over"]):
        qs = parse_quantities(_str(m, "groupItemTitle") or question)
        value = line if line is not None else (qs[0].interval.lo if qs else None)
        if value is not None and low in (["over", "under"], ["under", "over"]):
            over = Proposition(TOTAL, "Over", interval=Interval.above(value), unit="pts")
            under = Proposition(TOTAL, "Under", interval=Interval.below(value), unit="pts")
            return (over, under) if low[0] == "over" else (under, over)
    if kind == "spreads" and line is not None and len(outcomes) == 2:
        # the line is the first outcome's handicap: "Bills (-1.5)" pays when the Bills win by
        # more than 1.5; the other outcome pays when the first's margin is below 1.5
        a, b = outcomes
        return (Proposition(MARGIN, a, entity=a, interval=Interval.above(-line), unit="pts"),
                Proposition(MARGIN, b, entity=b, interval=Interval.above(line), unit="pts"))
    if len(outcomes) == 2 and not set(low) & _GENERIC_OUTCOMES and kind in ("", "moneyline"):
        a, b = outcomes
        zero = Interval.above(Fraction(0))
        return (Proposition(MARGIN, a, entity=a, interval=zero, unit="pts"),
                Proposition(MARGIN, b, entity=b, interval=zero, unit="pts"))
    words = question
    group = _str(m, "groupItemTitle")
    if group and normalise(group) not in normalise(question):
        words = f"{question} {group}"
    qs = _labelled_quantities(group, question)
    iv = qs[0].interval if qs else None
    first = Proposition(TEXT, words, entity=_entity(group), interval=iv,
                        unit=qs[0].unit if qs else "", stem=_stem(words),
                        deadline=bool(_DEADLINE.search(question)))
    return first, None


def _poly_market(m: Mapping[str, Any], event: Mapping[str, Any]) -> Market:
    cid = _str(m, "conditionId") or _str(m, "condition_id")
    if not cid:
        raise CatalogueError(f"polymarket market {m.get('id')!r} without 'conditionId'")
    outcomes = _json_list(m.get("outcomes"))
    tokens = _json_list(m.get("clobTokenIds"))
    if len(outcomes) != 2 or len(tokens) != 2:
        raise CatalogueError(f"polymarket market {cid}: needs two outcomes and two token ids")
    question = _str(m, "question") or _str(event, "title")
    slug = _str(m, "slug")
    main = (slug and slug == _str(event, "slug")) or len(event.get("markets") or []) == 1
    rules = _str(m, "description") or (_str(event, "description") if main else "")
    sources = tuple(s for s in (_str(m, "resolutionSource"),
                                _str(event, "resolutionSource") if main else "") if s)
    first, second = _poly_propositions(m, outcomes, question)
    when = (_when(m.get("gameStartTime")) or _when(event.get("startTime"))
            or _when(m.get("endDate")) or _when(event.get("endDate")))
    tick = m.get("orderPriceMinTickSize", 0.01)
    return Market(
        venue="polymarket",
        key=cid,
        title=question,
        group=_str(event, "slug") or slug,
        series=_str(event, "seriesSlug"),
        when=when,
        first=first,
        second=second,
        outcomes=(outcomes[0], outcomes[1]),
        participants=_poly_participants(event, outcomes, question),
        codes=_slug_codes(_str(event, "slug") or slug),
        rules=rules,
        sources=sources,
        tokens=(tokens[0], tokens[1]),
        tick_size=repr(tick) if isinstance(tick, float) else str(tick),
        neg_risk=bool(m.get("negRisk", False)),
        extra={"neg_risk_market_id": _str(m, "negRiskMarketID")},
    )


def polymarket_markets(bodies: Iterable[Any], skipped: list[str] | None = None) -> list[Market]:
    """Every open two-outcome market in Gamma bodies: a list of events (``markets`` nested), a
    list of markets (``events`` nested), ``{"data": [...]}`` or a search answer
    ``{"events": [...]}``. ``skipped`` as for
    :func:`kalshi_markets` (real catalogues hold markets without a condition id or tokens)."""
    pending: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []

    def walk(body: Any) -> None:
        if isinstance(body, Mapping) and isinstance(body.get("data"), list):
            body = body["data"]
        # Gamma ``GET /public-search`` answers ``{"events": [...], "pagination": ...}``
        # (nautechsystems/nautilus_trader crates/adapters/polymarket/test_data/
        # search_response.json@a95c8042b00133829d252ae8cf68f78fc176a973)
        elif isinstance(body, Mapping) and isinstance(body.get("events"), list):
            body = body["events"]
        items = body if isinstance(body, list) else [body]
        for item in items:
            if not isinstance(item, Mapping):
                continue
            if isinstance(item.get("markets"), list):
                pending.extend((mk, item) for mk in item["markets"] if isinstance(mk, Mapping))
            elif "conditionId" in item or "condition_id" in item:
                events = [e for e in item.get("events") or [] if isinstance(e, Mapping)]
                pending.append((item, events[0] if events else {}))

    for b in bodies:
        walk(b)
    out: dict[str, Market] = {}
    for mk, ev in pending:
        if mk.get("closed") is True or mk.get("active") is False:
            continue
        try:
            market = _poly_market(mk, ev)
        except CatalogueError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
            continue
        out.setdefault(market.key, market)
    return list(out.values())
