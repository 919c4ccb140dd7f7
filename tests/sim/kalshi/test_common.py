"""Shared simulator pieces: accounts files, scenarios, seeded walks, fault switches."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.sim.common import (
    FaultSwitches,
    MakerQuote,
    RandomWalk,
    SimConfigError,
    diff_quotes,
    load_accounts,
    load_scenario,
    maker_quotes,
)


def test_accounts_resolve_paths_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k.pub.pem").write_text("PEM")
    path = tmp_path / "accounts.toml"
    path.write_text('[[account]]\napi_key_id = "demo-trader-1"\n'
                    'public_key = "keys/k.pub.pem"\ncash = "10000.00"\n')
    (entry,) = load_accounts(path)
    assert entry.string("api_key_id") == "demo-trader-1"
    assert entry.read_text("public_key") == "PEM"
    assert entry.money("cash") == 10_000 * 10**10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one"),
        ("[[account]\n", "not valid TOML"),
        ('[[account]]\napi_key_id = ""\n', "non-empty string"),
        ('[[account]]\napi_key_id = "x"\ncash = "1.2.3"\n', "cash"),
        ('[[account]]\napi_key_id = "x"\npublic_key = "missing.pem"\n', "cannot read"),
    ],
)
def test_broken_accounts_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "a.toml"
    path.write_text(text)
    with pytest.raises(SimConfigError, match=message):
        entries = load_accounts(path)
        entry = entries[0]
        entry.string("api_key_id")
        entry.money("cash")
        entry.read_text("public_key")


def test_scenarios_builtin_and_from_file(tmp_path: Path) -> None:
    assert len(load_scenario(None).markets) == 4
    assert load_scenario("busy").step_ms == 20
    path = tmp_path / "s.toml"
    path.write_text('name = "mine"\nstep_ms = 5\n[[market]]\nkey = "X-1"\nfair = "0.30"\n'
                    '[market.kalshi]\nticker = "KXMINE-1"\n')
    spec = load_scenario(str(path))
    assert spec.name == "mine" and spec.markets[0].venues["kalshi"]["ticker"] == "KXMINE-1"
    with pytest.raises(SimConfigError, match="unknown scenario"):
        load_scenario("nope")
    path.write_text('[[market]]\nkey = "X"\nfair = "1.5"\n')
    with pytest.raises(SimConfigError, match="bad market"):
        load_scenario(str(path))


def test_random_walk_is_seeded_and_shared_across_venues() -> None:
    market = load_scenario("default").markets[0]  # mispricing every 20 steps
    a, b = RandomWalk(market, 42, "kalshi"), RandomWalk(market, 42, "kalshi")
    other_venue = RandomWalk(market, 42, "polymarket")
    path_a = [a.step() for _ in range(100)]
    assert path_a == [b.step() for _ in range(100)]
    other = [other_venue.step() for _ in range(100)]
    assert a.fair == other_venue.fair  # same fair value path on both venues
    assert path_a != other  # but skewed differently: cross-venue mispricings
    assert all(0 < p < 10_000 for p in path_a)
    assert [RandomWalk(market, 43, "kalshi").step() for _ in range(100)] != path_a


def test_maker_quotes_and_diff_keep_unchanged_levels() -> None:
    market = load_scenario("static").markets[0]
    quotes = maker_quotes(market, 4000)
    assert sorted(q.price for q in quotes if q.is_bid) == [3700, 3800, 3900]
    assert sorted(q.price for q in quotes if not q.is_bid) == [4100, 4200, 4300]
    current = {(True, 3900): market.size, (True, 3600): market.size,
               (False, 4100): market.size // 2}
    cancels, places = diff_quotes(current, quotes)
    assert sorted(cancels) == [(False, 4100), (True, 3600)]
    assert MakerQuote(True, 3900, market.size) not in places
    assert len(places) == 5


def test_fault_switches_are_one_shot_and_seeded() -> None:
    f = FaultSwitches(seed=3)
    f.update({"http_burst": [503, 2], "http_burst_methods": ["post"], "seq_gap_next": 1,
              "disconnect_after": 1})
    assert f.take_http_fault("GET") is None
    assert [f.take_http_fault("POST") for _ in range(3)] == [503, 503, None]
    assert f.take_seq_gap() and not f.take_seq_gap()
    assert [f.take_disconnect() for _ in range(3)] == [False, True, False]
    frames = [f"f{i}" for i in range(1000)]
    f.update({"drop_prob": 0.1, "duplicate_prob": 0.1, "reorder_prob": 1.0})
    shaped = f.shape_frames(frames)
    g = FaultSwitches(seed=3)
    g.update({"drop_prob": 0.1, "duplicate_prob": 0.1, "reorder_prob": 1.0})
    assert shaped == g.shape_frames(frames)  # same seed, same damage
    assert 800 < len(shaped) < 1100 and shaped != frames
    with pytest.raises(SimConfigError):
        f.update({"no_such_switch": 1})
    f.reset()
    assert f.shape_frames(frames) == frames and f.seed == 3
