"""Self-contained HTML reports (inline SVG plots, no scripts, no network) plus JSON summaries.

A report must open from an e-mail attachment or a CI artefact years later, so it embeds
everything: plots are hand-written SVG (no plotting library, no JavaScript), styles are inline.
Floats appear only as plot coordinates; every money figure in tables is the exact dollar string.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from arbiter.backtest.analytics import drawdown_series, pnl_by_pair, summarize
from arbiter.backtest.replay import BacktestResult
from arbiter.core.units import MONEY_SCALE, money_str

__all__ = [
    "compare_runs",
    "comparison_report",
    "render_report",
    "svg_bars",
    "svg_lines",
    "write_report",
]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
_W, _H, _PAD = 760, 260, 60


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def svg_lines(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], title: str,
              xlabel: str, ylabel: str, step: bool = False) -> str:
    """A line chart; ``series`` are (label, xs, ys). ``step`` draws a step curve (equity)."""
    xs_all = [x for _, xs, _ in series for x in xs] or [0.0, 1.0]
    ys_all = [y for _, _, ys in series for y in ys] or [0.0, 1.0]
    x0, x1 = min(xs_all), max(xs_all)
    y0, y1 = min(ys_all), max(ys_all)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1

    def px(x: float) -> float:
        return _PAD + (x - x0) / (x1 - x0) * (_W - 2 * _PAD)

    def py(y: float) -> float:
        return _H - _PAD + -(y - y0) / (y1 - y0) * (_H - 2 * _PAD)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
           f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{html.escape(title)}">',
           '<rect width="100%" height="100%" fill="#fff"/>',
           f'<text x="{_W / 2}" y="18" text-anchor="middle" font-size="14">{html.escape(title)}</text>']
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        y = py(yv)
        out.append(f'<line x1="{_PAD}" y1="{y:.1f}" x2="{_W - _PAD}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{_PAD - 4}" y="{y + 4:.1f}" text-anchor="end" '
                   f'font-size="10">{_fmt(yv)}</text>')
        xv = x0 + (x1 - x0) * i / 4
        x = px(xv)
        out.append(f'<text x="{x:.1f}" y="{_H - _PAD + 14}" text-anchor="middle" '
                   f'font-size="10">{_fmt(xv)}</text>')
    out.append(f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle" '
               f'font-size="11">{html.escape(xlabel)}</text>')
    out.append(f'<text x="12" y="{_H / 2}" font-size="11" transform="rotate(-90 12 {_H / 2})" '
               f'text-anchor="middle">{html.escape(ylabel)}</text>')
    for n, (label, xs, ys) in enumerate(series):
        color = _COLORS[n % len(_COLORS)]
        pts: list[str] = []
        prev_y: float | None = None
        for x, y in zip(xs, ys, strict=True):
            if step and prev_y is not None:
                pts.append(f"{px(x):.1f},{py(prev_y):.1f}")
            pts.append(f"{px(x):.1f},{py(y):.1f}")
            prev_y = y
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(pts)}"/>')
        if len(xs) <= 12:
            for x, y in zip(xs, ys, strict=True):
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        out.append(f'<text x="{_W - _PAD}" y="{34 + 14 * n}" text-anchor="end" font-size="11" '
                   f'fill="{color}">{html.escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def svg_bars(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str) -> str:
    n = max(1, len(values))
    lo, hi = min([0.0, *values]), max([0.0, *values])
    if hi == lo:
        hi = lo + 1
    width = (_W - 2 * _PAD) / n

    def py(y: float) -> float:
        return _H - _PAD - (y - lo) / (hi - lo) * (_H - 2 * _PAD)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
           f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{html.escape(title)}">',
           '<rect width="100%" height="100%" fill="#fff"/>',
           f'<text x="{_W / 2}" y="18" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
           f'<line x1="{_PAD}" y1="{py(0):.1f}" x2="{_W - _PAD}" y2="{py(0):.1f}" stroke="#999"/>',
           f'<text x="12" y="{_H / 2}" font-size="11" transform="rotate(-90 12 {_H / 2})" '
           f'text-anchor="middle">{html.escape(ylabel)}</text>']
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        x = _PAD + i * width + width * 0.1
        top, bottom = (py(v), py(0)) if v >= 0 else (py(0), py(v))
        color = _COLORS[2] if v >= 0 else _COLORS[1]
        out.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{width * 0.8:.1f}" '
                   f'height="{max(0.5, bottom - top):.1f}" fill="{color}"><title>{html.escape(label)}: '
                   f'{_fmt(v)}</title></rect>')
        out.append(f'<text x="{x + width * 0.4:.1f}" y="{_H - _PAD + 14}" text-anchor="middle" '
                   f'font-size="10">{html.escape(label)}</text>')
    for v in (hi, lo):
        out.append(f'<text x="{_PAD - 4}" y="{py(v) + 4:.1f}" text-anchor="end" '
                   f'font-size="10">{_fmt(v)}</text>')
    out.append("</svg>")
    return "".join(out)


def _dollars(money: int) -> float:
    return money / MONEY_SCALE


def _table(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_show(v))}</td></tr>"
                   for k, v in rows)
    return f"<table>{body}</table>"


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_show(x)}" for k, x in v.items()) or "-"
    return str(v)


_STYLE = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
          "table{border-collapse:collapse;margin:8px 0 24px}th,td{border:1px solid #ddd;"
          "padding:4px 10px;text-align:left;font-size:13px}th{background:#f6f6f6}"
          "h1{font-size:22px}h2{font-size:17px;margin-top:28px}")


def render_report(result: BacktestResult,
                  latency_curve: Sequence[tuple[float, int]] | None = None,
                  title: str = "arbiter backtest") -> tuple[str, dict[str, Any]]:
    """(HTML, JSON summary). ``latency_curve``: (order round-trip latency ms, total PnL money) points."""
    summary = summarize(result)
    t0 = result.start_ns
    eq = result.equity or [(t0, result.initial_equity)]
    hours = [(t - t0) / 3.6e12 for t, _ in eq]
    plots = [
        svg_lines([("equity", hours, [_dollars(v) for _, v in eq])], "Equity", "hours", "$", step=True),
    ]
    dd = drawdown_series(eq)
    plots.append(svg_lines([("drawdown", hours, [_dollars(v) for _, v in dd])], "Drawdown",
                           "hours", "$", step=True))
    by_pair = pnl_by_pair(result.sagas)
    plots.append(svg_bars(list(by_pair), [_dollars(v) for v in by_pair.values()], "PnL by pair", "$"))
    if latency_curve:
        pts = sorted(latency_curve)
        plots.append(svg_lines([("total PnL", [p[0] for p in pts], [_dollars(p[1]) for p in pts])],
                               "Latency sensitivity", "order round-trip latency (ms)", "$"))
        summary["latency_sensitivity"] = [
            {"latency_ms": ms, "pnl": money_str(pnl)} for ms, pnl in pts
        ]
    params = result.params
    key = ("final_equity", "pnl", "total_return", "annualised_return", "sharpe", "sortino",
           "max_drawdown", "max_drawdown_pct", "max_drawdown_duration_s", "win_rate", "trades",
           "avg_trade_pnl", "median_trade_pnl", "best_trade", "worst_trade", "fees", "fee_share",
           "fill_ratio", "leg2_slippage", "leg2_slippage_per_contract", "hedge_frequency",
           "hedge_cost", "opportunities", "endings", "risk_rejected", "events", "days")
    doc = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>Summary</h2>", _table((k, summary[k]) for k in key),
        "<h2>Plots</h2>", *[f"<div>{p}</div>" for p in plots],
        "<h2>Parameters</h2>", _table(sorted(params.items())),
        "<h2>Sagas (first 200)</h2>", _saga_table(result.sagas[:200]),
        "</body></html>",
    ]
    return "".join(doc), summary


def _saga_table(sagas: Sequence[Mapping[str, Any]]) -> str:
    cols = ("saga_id", "pair", "direction", "size", "leg1_filled", "leg2_filled", "ending", "pnl",
            "fees", "leg2_slippage", "hedge_orders")
    head = "".join(f"<th>{c}</th>" for c in cols)
    rows = []
    for s in sagas:
        cells = []
        for c in cols:
            v = s[c]
            if c in ("pnl", "fees", "leg2_slippage"):
                v = money_str(int(v))
            elif c in ("size", "leg1_filled", "leg2_filled"):
                v = f"{int(v) / 1e6:g}"
            cells.append(f"<td>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(path: Path | str, result: BacktestResult,
                 latency_curve: Sequence[tuple[float, int]] | None = None) -> dict[str, Any]:
    """Write ``path`` (HTML) and ``path`` with ``.json`` (summary); returns the summary."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    page, summary = render_report(result, latency_curve)
    out.write_text(page)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


# -- paper vs live ---------------------------------------------------------------------------------


def compare_runs(a_sagas: Sequence[Mapping[str, Any]], b_sagas: Sequence[Mapping[str, Any]],
                 a_fills: Sequence[Mapping[str, Any]] = (),
                 b_fills: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Side-by-side figures of two runs over the same period (rows of the engine store).

    Sagas are matched by (pair, direction) and detection time within one second, which is how
    the same opportunity shows up in a paper and a live engine fed by the same market data.
    """

    def figures(sagas: Sequence[Mapping[str, Any]], fills: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        pnl = sum(int(s["pnl"]) for s in sagas)
        endings: dict[str, int] = {}
        for s in sagas:
            endings[str(s["ending"])] = endings.get(str(s["ending"]), 0) + 1
        return {"sagas": len(sagas), "pnl": money_str(pnl), "pnl_money": pnl,
                "fills": len(fills), "fees": money_str(sum(int(f["fee"]) for f in fills)),
                "endings": dict(sorted(endings.items()))}

    fa, fb = figures(a_sagas, a_fills), figures(b_sagas, b_fills)
    matched = 0
    diffs: list[int] = []
    used: set[int] = set()
    for s in a_sagas:
        for j, t in enumerate(b_sagas):
            if j in used or t["pair"] != s["pair"] or t["direction"] != s["direction"]:
                continue
            if abs(int(t["ts_ns"]) - int(s["ts_ns"])) <= 10**9:
                used.add(j)
                matched += 1
                diffs.append(int(s["pnl"]) - int(t["pnl"]))
                break
    return {
        "a": fa, "b": fb, "matched": matched,
        "only_a": len(a_sagas) - matched, "only_b": len(b_sagas) - matched,
        "pnl_gap": money_str(fa["pnl_money"] - fb["pnl_money"]),
        "matched_pnl_gap": money_str(sum(diffs)),
    }


def comparison_report(a_label: str, a_sagas: Sequence[Mapping[str, Any]], b_label: str,
                      b_sagas: Sequence[Mapping[str, Any]], a_fills: Sequence[Mapping[str, Any]] = (),
                      b_fills: Sequence[Mapping[str, Any]] = ()) -> tuple[str, dict[str, Any]]:
    """Paper-vs-live (or any two runs) HTML with cumulative PnL of both; and the figures."""
    figures = compare_runs(a_sagas, b_sagas, a_fills, b_fills)
    figures["labels"] = [a_label, b_label]
    t0 = min([int(s["ts_ns"]) for s in [*a_sagas, *b_sagas]] or [0])
    series = []
    for label, sagas in ((a_label, a_sagas), (b_label, b_sagas)):
        xs, ys, cum = [0.0], [0.0], 0
        for s in sorted(sagas, key=lambda s: int(s["ts_ns"])):
            cum += int(s["pnl"])
            xs.append((int(s["ts_ns"]) - t0) / 3.6e12)
            ys.append(cum / MONEY_SCALE)
        series.append((label, xs, ys))
    rows = [("sagas", f"{figures['a']['sagas']} / {figures['b']['sagas']}"),
            ("PnL", f"{figures['a']['pnl']} / {figures['b']['pnl']}"),
            ("fills", f"{figures['a']['fills']} / {figures['b']['fills']}"),
            ("fees", f"{figures['a']['fees']} / {figures['b']['fees']}"),
            ("endings", f"{figures['a']['endings']} / {figures['b']['endings']}"),
            ("matched sagas", figures["matched"]), (f"only {a_label}", figures["only_a"]),
            (f"only {b_label}", figures["only_b"]), ("PnL gap", figures["pnl_gap"]),
            ("PnL gap on matched sagas", figures["matched_pnl_gap"])]
    page = "".join([
        f"<!doctype html><html><head><meta charset='utf-8'><title>{a_label} vs {b_label}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(a_label)} vs {html.escape(b_label)}</h1>",
        _table(rows),
        svg_lines(series, "Cumulative PnL", "hours", "$", step=True),
        "</body></html>",
    ])
    return page, figures
