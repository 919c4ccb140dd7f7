"""What a reviewer reads and what an accepted pair becomes (``arbiter pairs review``).

Each candidate is shown with its relation, score and margin, the orientation evidence (which
outcome pays with Kalshi YES, and why) and the two venues' rules side by side, clause by clause
with the differences first — in the terminal and as one self-contained HTML page (no scripts, no
external assets), so a person can check a pair in under a minute. An accepted pair is appended
to the pairs file with ``reviewed_by``/``reviewed_at``/``review_note``; the merged file is parsed
back before it replaces the old one (atomic rename), so a bad write never loses a pair.
"""

from __future__ import annotations

import html
import json
import os
import re
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arbiter.cli.errors import UsageError
from arbiter.core.pairmatch import Candidate
from arbiter.core.pairmatch.rules import SAME
from arbiter.core.pairs import PairsError, parse_pairs, review_lines
from arbiter.core.price_grid import STRUCTURES

__all__ = ["candidate_json", "pair_block", "render_html", "render_terminal", "write_accepted"]


def candidate_json(c: Candidate) -> dict[str, Any]:
    """One object of ``arbiter pairs suggest --json``."""
    tokens = c.poly.tokens or ("", "")
    return {
        "kalshi_ticker": c.kalshi.key,
        "polymarket_condition_id": c.poly.key,
        "polymarket_yes_token": tokens[0],
        "polymarket_no_token": tokens[1],
        "inverted": c.inverted,
        "relation": c.relation.relation,
        "verdict": c.verdict,
        "score": c.score,
        "margin": c.margin,
        "kalshi_title": c.kalshi.title,
        "kalshi_yes": c.kalshi.yes_label,
        "polymarket_question": c.poly.title,
        "polymarket_outcomes": list(c.poly.outcomes),
        "reasons": list(c.reasons),
        "alternatives": list(c.alternatives),
        "event_evidence": list(c.event.evidence),
        "relation_evidence": list(c.relation.evidence),
        "rules": [{"topic": r.topic, "status": r.status, "kalshi": r.kalshi,
                   "polymarket": r.polymarket} for r in c.rules.clauses],
    }


def _orientation(c: Candidate) -> str:
    if c.inverted is None:
        return "UNMAPPED — no outcome name matches the Kalshi YES side (not guessed)"
    outcome = c.poly.outcomes[1 if c.inverted else 0]
    return (f"Kalshi YES ({c.kalshi.yes_label or c.kalshi.first.label!r}) pays with Polymarket "
            f"{outcome!r}{' — INVERTED' if c.inverted else ''}")


def _clauses(c: Candidate) -> list[Any]:
    return sorted(c.rules.clauses, key=lambda r: r.status == SAME)


def related(c: Candidate, candidates: Sequence[Candidate]) -> list[str]:
    """The other candidates on either of ``c``'s markets, as evidence lines."""
    return [f"{x.kalshi.key} ↔ {x.poly.title!r}: {x.relation.relation} ({x.verdict})"
            for x in candidates if x is not c
            and (x.poly.key == c.poly.key or x.kalshi.key == c.kalshi.key)]


def render_terminal(c: Candidate, index: int, width: int = 100,
                    candidates: Sequence[Candidate] = ()) -> str:
    col = (width - 3) // 2
    margin = "n/a" if c.margin is None else f"{c.margin:.2f}"
    lines = [
        "=" * width,
        f"[{index}] {c.verdict.upper()}  relation {c.relation.relation}  score {c.score:.2f}  "
        f"margin {margin}",
        f"  Kalshi      {c.kalshi.key}: {c.kalshi.title!r} (YES: {c.kalshi.yes_label!r})",
        f"  Polymarket  {c.poly.key}: {c.poly.title!r} outcomes {list(c.poly.outcomes)}",
        f"  orientation {_orientation(c)}",
    ]
    lines += [f"  event       {e}" for e in c.event.evidence]
    lines += [f"  relation    {e}" for e in c.relation.evidence]
    lines += [f"  why         {r}" for r in c.reasons]
    if c.alternatives:
        lines.append(f"  also        {', '.join(c.alternatives)} (same hedge, other Kalshi leg)")
    lines += [f"  related     {r}" for r in related(c, candidates)]
    lines.append("-" * width)
    lines.append(f"{'KALSHI RULES':<{col}} | POLYMARKET RULES")
    for clause in _clauses(c):
        lines.append(f"-- {clause.topic}: {clause.status.upper()}")
        left = textwrap.wrap(clause.kalshi or "(none)", col) or [""]
        right = textwrap.wrap(clause.polymarket or "(none)", col) or [""]
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else ""
            b = right[i] if i < len(right) else ""
            lines.append(f"{a:<{col}} | {b}")
    return "\n".join(lines)


_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1200px}
section{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}
.propose{border-left:6px solid #2a2}.review{border-left:6px solid #e90}.reject{border-left:6px solid #999}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top}
th{background:#f4f4f4;text-align:left}.differ td,.missing td{background:#fff3e0}
.bad{color:#b00;font-weight:bold}
code{font-size:12px}table.rules{table-layout:fixed}table.rules td:nth-child(1){width:14%}
table.rules td:nth-child(2){width:7%}"""


def render_html(candidates: Sequence[Candidate], generated_at: datetime | None = None,
                everything: Sequence[Candidate] = ()) -> str:
    """One self-contained page: every candidate, rules side by side, differences highlighted;
    ``everything``: all candidates, for the related-evidence lines."""
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%SZ")
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>arbiter pairs review"
             f"</title><style>{_CSS}</style></head><body><h1>Pair review</h1>"
             f"<p>{len(candidates)} candidate(s), generated {when}. Only <b>propose</b> and "
             "<b>review</b> candidates with a mapped orientation can be accepted "
             "(<code>arbiter pairs review --accept TICKER --reviewer NAME --note WHY</code>)."
             "</p>"]
    for i, c in enumerate(candidates, 1):
        margin = "n/a" if c.margin is None else f"{c.margin:.2f}"
        orient = _orientation(c)
        parts.append(
            f"<section class='{e(c.verdict)}' id='c{i}'><h2>[{i}] {e(c.verdict.upper())} — "
            f"{e(c.relation.relation)}</h2><p>score {c.score:.2f}, margin {margin}</p>"
            f"<table><tr><th>Kalshi</th><th>Polymarket</th></tr><tr>"
            f"<td><code>{e(c.kalshi.key)}</code><br>{e(c.kalshi.title)}<br>YES: "
            f"{e(c.kalshi.yes_label)}</td><td><code>{e(c.poly.key)}</code><br>{e(c.poly.title)}"
            f"<br>outcomes: {e(' / '.join(c.poly.outcomes))}</td></tr></table>"
            f"<p class='{'bad' if c.inverted is None else ''}'>Orientation: {e(orient)}</p><ul>"
            + "".join(f"<li>{e(x)}</li>" for x in (
                *c.event.evidence, *c.relation.evidence, *c.reasons,
                *(f"related: {r}" for r in related(c, everything))))
            + "</ul><table class='rules'><tr><th>topic</th><th>status</th><th>Kalshi rules</th>"
              "<th>Polymarket rules</th></tr>"
            + "".join(f"<tr class='{e(r.status)}'><td>{e(r.topic)}</td><td>{e(r.status)}</td>"
                      f"<td>{e(r.kalshi) or '<i>(none)</i>'}</td>"
                      f"<td>{e(r.polymarket) or '<i>(none)</i>'}</td></tr>"
                      for r in _clauses(c))
            + "</table></section>")
    parts.append("</body></html>")
    return "".join(parts)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def pair_block(c: Candidate, reviewer: str, note: str, at: datetime) -> str:
    """The ``[[pair]]`` table for an accepted candidate (orientation must be mapped)."""
    if c.inverted is None or c.poly.tokens is None:
        raise UsageError(f"{c.kalshi.key}: orientation is unmapped; it cannot be accepted")
    yes, no = c.poly.tokens
    name = re.sub(r"[^a-z0-9]+", "-", c.kalshi.key.lower()).strip("-")
    lines = [
        f"# accepted by {reviewer} at {at:%Y-%m-%dT%H:%M:%SZ}: relation {c.relation.relation},"
        f" score {c.score:.2f}, margin {'n/a' if c.margin is None else f'{c.margin:.2f}'}",
        f"#   kalshi     {c.kalshi.title!r} YES {c.kalshi.yes_label!r}",
        f"#   polymarket {c.poly.title!r} outcomes {list(c.poly.outcomes)}",
        "[[pair]]",
        f"name = {_q(name)}",
        f"kalshi_ticker = {_q(c.kalshi.key)}",
        f"polymarket_yes_token = {_q(yes)}",
        f"polymarket_no_token = {_q(no)}",
        f"polymarket_tick_size = {_q(c.poly.tick_size)}",
        f"polymarket_neg_risk = {'true' if c.poly.neg_risk else 'false'}",
        f"inverted = {'true' if c.inverted else 'false'}",
    ]
    structure = c.kalshi.extra.get("price_level_structure", "")
    if structure in STRUCTURES:
        lines.append(f"kalshi_price_level_structure = {_q(structure)}")
    lines += [*review_lines(reviewer, at, note), ""]
    return "\n".join(lines)


def write_accepted(path: Path, accepted: Sequence[tuple[Candidate, str]], reviewer: str,
                   at: datetime | None = None) -> int:
    """Append the accepted pairs to ``path``; the merged file must parse, and every new pair
    must be reviewed, before it replaces the old file."""
    if not accepted:
        return 0
    if not reviewer.strip():
        raise UsageError("--reviewer is required to accept a pair (who read both rules texts)")
    when = (at or datetime.now(UTC)).replace(microsecond=0)
    old = path.read_text() if path.exists() else ""
    new = "".join(pair_block(c, reviewer.strip(), note, when) for c, note in accepted)
    merged = (old.rstrip("\n") + "\n\n" if old.strip() else "") + new
    try:
        parse_pairs(new, str(path), require_review=True)
        parse_pairs(merged, str(path))
    except PairsError as exc:
        raise UsageError(str(exc)) from None
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(merged)
    os.replace(tmp, path)
    return len(accepted)
