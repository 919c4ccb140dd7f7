"""Only reviewed pairs trade (ADR 0136): every door through which a pairs file reaches the engine
or a scan refuses a pair without ``reviewed_by``/``reviewed_at``.

The doors: ``load_config`` (``arbiter run``, paper, the demo, the Ray job ``jobs/live.py`` — all go
through it) and ``EngineConfig.pairs`` (what the engine's actors read), ``arbiter scan``, the offline
demo's bundled sample. The local scenarios' generated pairs carry the scenario's stamp.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from arbiter.app.config import ConfigError, load_config
from arbiter.cli.main import main
from arbiter.core.pairs import PairsError, parse_pairs, review_lines
from arbiter.sim.common import load_scenario
from arbiter.sim.launcher import LocalVenues, scenario_pairs_toml
from bench.pairs import default_files

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

_REVIEW = re.compile(r"^(reviewed_by|reviewed_at|review_note) = .*\n", re.MULTILINE)
DATA = resources.files("arbiter.data")
SNAPSHOT = Path(str(DATA / "sample_snapshot.json"))
SAMPLE = (DATA / "sample_pairs.toml").read_text(encoding="utf-8")


def _unreviewed(text: str) -> str:
    out = _REVIEW.sub("", text)
    assert "reviewed_by =" not in out
    return out


def test_review_lines_are_what_the_parser_reads() -> None:
    at = datetime(2026, 12, 2, 3, 4, 5, 678, tzinfo=UTC)
    block = "\n".join(['[[pair]]', 'name = "x"', 'kalshi_ticker = "KX-1"',
                       'polymarket_yes_token = "1"', 'polymarket_no_token = "2"',
                       *review_lines(" dana ", at, 'says "why"'), ""])
    (pair,) = parse_pairs(block, require_review=True)
    assert pair.reviewed_by == "dana" and pair.review_note == 'says "why"'
    assert pair.reviewed_at == at.replace(microsecond=0)
    with pytest.raises(PairsError, match="reviewer"):
        review_lines("  ", at, "")
    with pytest.raises(PairsError, match="time zone"):
        review_lines("dana", datetime(2026, 12, 2), "")


def test_the_bundled_sample_is_reviewed_and_scan_refuses_it_unreviewed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = parse_pairs(SAMPLE, "sample_pairs.toml", require_review=True)
    assert all(p.reviewed_by and p.reviewed_at and p.review_note for p in pairs)
    assert main(["scan", "--pairs", str(DATA / "sample_pairs.toml"), str(SNAPSHOT)]) == 0
    capsys.readouterr()
    bare = tmp_path / "pairs.toml"
    bare.write_text(_unreviewed(SAMPLE))
    assert main(["scan", "--pairs", str(bare), str(SNAPSHOT)]) == 2
    err = capsys.readouterr().err
    assert "pair 'fed-dec-cut'" in err and "not reviewed" in err and "arbiter pairs review" in err


def test_scenario_pairs_carry_the_scenario_stamp() -> None:
    spec = load_scenario("default")
    pairs = parse_pairs(scenario_pairs_toml(spec, datetime(2026, 12, 2, tzinfo=UTC)),
                        require_review=True)
    assert pairs and {p.reviewed_by for p in pairs} == {
        "local scenario 'default' (arbiter.sim.launcher)"}
    assert all("by construction" in p.review_note for p in pairs)


async def test_every_engine_door_refuses_an_unreviewed_pair(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Paper venues write a config whose pairs the engine accepts; the same file with one pair
    unreviewed is refused by ``load_config`` (a one-line usage error naming the pair), and an
    ``EngineConfig`` built around unreviewed pairs refuses to hand them out. A pair accepted by
    ``arbiter pairs review`` from the labelled bodies is let through."""
    venues = LocalVenues(tmp_path / "paper")
    await venues.start()
    try:
        config = load_config(venues.config_path)
        assert config.pairs and all(p.reviewed_by for p in config.pairs)
        pairs_file = venues.dir / "pairs.toml"
        original = pairs_file.read_text()

        kalshi, poly = default_files()
        reviewed = tmp_path / "reviewed.toml"
        assert await asyncio.to_thread(main, [
            "pairs", "review", "--kalshi-markets", *map(str, kalshi),
            "--polymarket-markets", *map(str, poly), "--accept", "KXNFLGAME-26SEP17DETBUF-DET",
            "--reviewer", "erin", "--note", "both rules read", "--pairs-file", str(reviewed)]) == 0
        capsys.readouterr()
        pairs_file.write_text(original + "\n" + reviewed.read_text())
        names = {p.kalshi_ticker: p.reviewed_by for p in load_config(venues.config_path).pairs}
        assert names["KXNFLGAME-26SEP17DETBUF-DET"] == "erin"

        first, rest = original.split("[[pair]]", 2)[1:]
        pairs_file.write_text("[[pair]]" + _unreviewed(first) + "[[pair]]" + rest)
        with pytest.raises(ConfigError, match="not reviewed"):
            load_config(venues.config_path)
        unreviewed = config.with_overrides(pairs_toml=_unreviewed(original))
        with pytest.raises(PairsError, match="not reviewed"):
            _ = unreviewed.pairs
    finally:
        await venues.stop()
