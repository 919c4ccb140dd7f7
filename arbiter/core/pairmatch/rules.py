"""The fail-closed rules gate: both venues' rules texts, clause by clause (pure).

Two contracts with the same words can still settle differently: another settlement source or
oracle, another cut-off day or time zone, a window that starts later, a tie paid 50/50 on one
venue and NO on the other, a postponed game kept open on one and settled at a "fair price" on
the other, regulation time vs extra time. The gate reads each topic's clause on both sides and
passes only when every topic says the same thing; a topic stated on one side only, a differing
value, or a missing rules text sends the candidate to review with both clauses quoted side by
side. It never decides that a difference is harmless: that is the reviewer's call (ADR 0132).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from arbiter.core.pairmatch.contract import Market
from arbiter.core.pairmatch.text import normalise

__all__ = ["DIFFER", "MISSING", "SAME", "Clause", "RulesCheck", "check_rules"]

SAME, DIFFER, MISSING = "same", "differ", "missing"
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_URL = re.compile(r"https?://([^/\s\"')]+)", re.IGNORECASE)
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_MONTH_DAY = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})\b",
                        re.IGNORECASE)
_TZ = re.compile(r"\b(ET|EST|EDT|UTC|GMT|PT|PST|PDT|CT|CST|CDT)\b")


@dataclass(frozen=True, slots=True)
class Clause:
    topic: str
    status: str  # same | differ | missing
    kalshi: str  # the clause quoted from Kalshi's rules ("" if none)
    polymarket: str


@dataclass(frozen=True, slots=True)
class RulesCheck:
    clauses: tuple[Clause, ...]

    @property
    def clean(self) -> bool:
        return all(c.status == SAME for c in self.clauses)

    @property
    def problems(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.status != SAME)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def _settlement(sentence: str) -> str:
    low = sentence.lower()
    if re.search(r"50-50|50/50|\$0\.50|half", low):
        return "split 50/50"
    if "fair price" in low:
        return "fair price"
    if re.search(r"remain open|remains open", low):
        return "stays open"
    if re.search(r"resolves? (?:to )?\"?no\b", low):
        return "NO"
    if re.search(r"resolves? (?:to )?\"?yes\b", low):
        return "YES"
    return normalise(sentence)


def _postponement(sentence: str) -> str:
    low = sentence.lower()
    hours = re.search(r"(\d+)\s*hours", low)
    return f"{_settlement(sentence)}; limit {hours.group(1) + ' h' if hours else 'none'}"


def _scope(sentence: str) -> str:
    low = sentence.lower()
    found = [w for w in ("regulation", "overtime", "extra time", "penalt", "shootout",
                         "first half", "second half", "quarter", "inning") if w in low]
    return ", ".join(found)


#: topic → (sentence selector, value of a selected sentence)
_TOPICS: tuple[tuple[str, re.Pattern[str], Callable[[str], str]], ...] = (
    ("tie-break", re.compile(r"\btie\b|\bdraw\b|\btied\b", re.I), _settlement),
    ("postponement", re.compile(r"postpon|delay", re.I), _postponement),
    ("cancellation", re.compile(r"cancel|not started|abandon|called off|not played", re.I),
     _settlement),
    ("scope (regulation / extra time)",
     re.compile(r"regulation|overtime|extra time|penalt|shootout|half\b|quarter|inning", re.I),
     _scope),
    ("other / unlisted outcomes", re.compile(r"\bother\b|\bneither\b|not listed", re.I),
     _settlement),
    ("window start", re.compile(r"\bbetween\b.*\band\b|\bfrom\b.*\bto\b|\bstarting\b|\bafter\b",
                                re.I), normalise),
)


def _topic(name: str, pick: re.Pattern[str], value: Callable[[str], str], k: list[str],
           p: list[str]) -> Clause | None:
    ks = [s for s in k if pick.search(s)]
    ps = [s for s in p if pick.search(s)]
    if not ks and not ps:
        return None
    kv = sorted({value(s) for s in ks})
    pv = sorted({value(s) for s in ps})
    status = SAME if ks and ps and kv == pv else DIFFER
    return Clause(name, status, " ".join(ks), " ".join(ps))


def _domains(values: tuple[str, ...], text: str) -> set[str]:
    out = set()
    for v in (*values, text):
        for host in _URL.findall(v):
            parts = host.lower().split(".")
            out.add(".".join(parts[-2:]))
    return out


def _cutoff(k: str, p: str) -> Clause | None:
    kd = {(_MONTHS[m.lower()[:3]], int(d)) for m, d in _MONTH_DAY.findall(k)}
    pd = {(_MONTHS[m.lower()[:3]], int(d)) for m, d in _MONTH_DAY.findall(p)}
    kt, pt = set(_TZ.findall(k)), set(_TZ.findall(p))
    if not (kd or pd or kt or pt):
        return None
    k_quote = "; ".join(s for s in _sentences(k) if _MONTH_DAY.search(s) or _TZ.search(s))
    p_quote = "; ".join(s for s in _sentences(p) if _MONTH_DAY.search(s) or _TZ.search(s))
    same = kd == pd and kt == pt
    return Clause("cut-off date and time zone", SAME if same else DIFFER, k_quote, p_quote)


def check_rules(k: Market, p: Market) -> RulesCheck:
    """Every topic either venue's rules mention, with both clauses and whether they agree."""
    clauses: list[Clause] = []
    if not k.rules or not p.rules:
        clauses.append(Clause("rules text", MISSING, k.rules, p.rules))
    ks, ps = _sentences(k.rules), _sentences(p.rules)
    kd, pd = _domains(k.sources, k.rules), _domains(p.sources, p.rules)
    if not kd or not pd:
        clauses.append(Clause("settlement source", MISSING, ", ".join(k.sources),
                              ", ".join(p.sources)))
    else:
        clauses.append(Clause("settlement source", SAME if kd & pd else DIFFER,
                              ", ".join(k.sources) or ", ".join(sorted(kd)),
                              ", ".join(p.sources) or ", ".join(sorted(pd))))
    cut = _cutoff(k.rules, p.rules)
    if cut is not None:
        clauses.append(cut)
    for name, pick, value in _TOPICS:
        clause = _topic(name, pick, value, ks, ps)
        if clause is not None:
            clauses.append(clause)
    return RulesCheck(tuple(clauses))
