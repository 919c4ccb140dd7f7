from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from arbiter.cli.main import main

DATA = Path(__file__).resolve().parents[2] / "arbiter" / "data"
PAIRS = DATA / "sample_pairs.toml"
SNAPSHOT = DATA / "sample_snapshot.json"


def test_scan_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--pairs", str(PAIRS), str(SNAPSHOT)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_direction = {(r["pair"], r["direction"]): r for r in records}
    fed = by_direction[("fed-dec-cut", "kalshi_yes_poly_no")]
    # fee-free Polymarket this was 40 contracts for $0.40 profit (Kalshi fees $0.70 only); at the
    # live finance fee (0.04 x C x p(1-p)) the deeper 0.51 level no longer pays: 28 contracts
    assert fed == {
        **fed,
        "size": "28",
        "kalshi_price": "0.47",
        "polymarket_price": "0.5",
        "cost": "27.16",
        "fees": "0.77",
        "profit": "0.07",
    }
    assert all(set(r) >= {"pair", "direction", "size", "kalshi_price", "polymarket_price",
                          "cost", "fees", "profit"} for r in records)
    assert ("btc-above-100k-dec", "kalshi_yes_poly_yes") not in by_direction


def test_scan_refuses_a_pair_whose_polymarket_fee_is_unknown(tmp_path: Path) -> None:
    text = PAIRS.read_text().replace('polymarket_fee_rate = "0.07"\n', "").replace(
        "polymarket_fee_exponent = 1\npolymarket_min_order_size = \"5\"\ninverted = true",
        "inverted = true")
    path = tmp_path / "pairs.toml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "arbiter", "scan", "--pairs", str(path), str(SNAPSHOT)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "pair 'btc-above-100k-dec'" in result.stderr
    assert "polymarket_fee_rate/polymarket_fee_exponent and polymarket_min_order_size unknown" in (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_min_edge_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--pairs", str(PAIRS), str(SNAPSHOT), "--min-edge", "0.05"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["pair"] for r in records} == {"senate-control"}


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"kalshi": []}', "snapshot 'kalshi' must map"),
        ('{"binance": {}}', "unknown top-level key 'binance'"),
        ('{"kalshi": {"KXFED-25DEC-T4.00": {"orderbook": {"yes": [[150, 3]], "no": []}}}}',
         "kalshi book 'KXFED-25DEC-T4.00': orderbook.yes[0]: price '150c' is outside"),
        ('{"kalshi": {"KXFED-25DEC-T4.00": {"orderbook_fp": {"yes_dollars": [["0.60", "1"]],'
         ' "no_dollars": [["0.45", "1"]]}}}}', "snapshot YES bid 0.6000 + NO bid 0.4500 >= 1"),
        ('{"polymarket": {"84561234567890123456789012345678901234567890123456789012345678901234":'
         ' {"bids": [{"price": "0.505", "size": "1"}], "asks": [], "tick_size": "0.01"}}}',
         "not a multiple of the tick"),
        ('{"polymarket": {"84561234567890123456789012345678901234567890123456789012345678901234":'
         ' {"bids": [{"price": "0.5"}], "asks": []}}}', "bids[0]: {'price': '0.5'} lacks price/size"),
    ],
)
def test_malformed_snapshot_exit_2_one_line(tmp_path: Path, snapshot: str, message: str) -> None:
    path = tmp_path / "snap.json"
    path.write_text(snapshot)
    result = subprocess.run(
        [sys.executable, "-m", "arbiter", "scan", "--pairs", str(PAIRS), str(path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


POLY = "84561234567890123456789012345678901234567890123456789012345678901234"


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ({"kalshi": {"KXFED-25DEC-T4.00": {}}},
         "kalshi book 'KXFED-25DEC-T4.00': order book body has no 'orderbook_fp' or 'orderbook'"
         " object"),
        ({"kalshi": {"KXFED-25DEC-T4.00": {"orderbook": [[40, 1]]}}},
         "kalshi book 'KXFED-25DEC-T4.00': 'orderbook' is list, not an object"),
        ({"kalshi": {"KXFED-25DEC-T4.00": {"orderbook_fp": {"yes_dollars": [[0.4, "1"]]}}}},
         "kalshi book 'KXFED-25DEC-T4.00': orderbook_fp.yes_dollars[0]: price and count must be"
         " decimal strings, got 0.4, '1'"),
        ({"kalshi": {"KXFED-25DEC-T4.00": {"orderbook": {"yes": [[40]]}}}},
         "kalshi book 'KXFED-25DEC-T4.00': orderbook.yes[0]: [40] is not a [price, count] pair"),
        ({"kalshi": {"KXFED-25DEC-T4.00": {"orderbook": {"no": [[40, 0]]}}}},
         "kalshi book 'KXFED-25DEC-T4.00': orderbook.no[0]: count 0 is not positive"),
        ({"polymarket": {POLY: {"bids": [{"price": "0.5", "size": "0"}], "asks": []}}},
         f"polymarket book '{POLY}': bids[0]: size '0' is not positive"),
        ({"polymarket": {POLY: {}}},
         f"polymarket book '{POLY}': 'bids' is null, not a list of {{price, size}} levels"),
    ],
)
def test_malformed_book_message_names_market_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: object, message: str
) -> None:
    """The venue parsers' typed errors reach the user as one line, prefixed with the market."""
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snapshot))
    assert main(["scan", "--pairs", str(PAIRS), str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"arbiter: {message}\n"


def test_bad_pairs_file_and_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "pairs.toml"
    bad.write_text(PAIRS.read_text().replace("inverted = false", "inverted = 3"))
    assert main(["scan", "--pairs", str(bad), str(SNAPSHOT)]) == 2
    assert "pair 'fed-dec-cut': field 'inverted' must be true or false" in capsys.readouterr().err
    assert main(["scan", "--pairs", str(tmp_path / "nope.toml"), str(SNAPSHOT)]) == 2
    assert main(["scan", "--pairs", str(PAIRS), str(tmp_path / "nope.json")]) == 2


def test_demo_reports_what_it_found(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "found 3 opportunities" in out
