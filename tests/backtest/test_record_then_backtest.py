"""``arbiter record --source synthetic ... && arbiter backtest --data ...`` from the shell alone:
the recording carries the pairs file its events belong to (issue 23)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from arbiter.backtest.synthetic import make_pairs, pairs_toml
from arbiter.core.pairs import parse_pairs

SPEC = "events=20000,pairs=3,days=1,seed=4"


def test_record_and_backtest_complete_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    arbiter = f"{shlex.quote(sys.executable)} -m arbiter --log-file /dev/null"
    script = (f"{arbiter} record --source synthetic --synthetic {SPEC} --out {out} && "
              f"{arbiter} backtest --data {out} --param min_edge=150 --json && "
              f"{arbiter} backtest --synthetic {SPEC} --param min_edge=150 --json")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[1] == f"record: pairs in {out / 'pairs.toml'} (arbiter backtest --data {out})"
    recorded, direct = json.loads(lines[-2]), json.loads(lines[-1])
    assert recorded["sagas"] > 0
    # the recorded replay is the synthetic replay: same events, same pairs
    assert recorded["digest"] == direct["digest"]
    pairs = parse_pairs((out / "pairs.toml").read_text(encoding="utf-8"), "pairs.toml")
    assert [p.name for p in pairs] == [p.name for p in make_pairs(3)]
    assert all(p.untradable_reason() is None for p in pairs)
    assert (out / "pairs.toml").read_text(encoding="utf-8") == pairs_toml(make_pairs(3)) + "\n"


def test_an_explicit_pairs_file_still_wins(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    arbiter = [sys.executable, "-m", "arbiter", "--log-file", "/dev/null"]
    subprocess.run([*arbiter, "record", "--source", "synthetic", "--synthetic", SPEC,
                    "--out", str(out)], check=True, capture_output=True, timeout=120)
    missing = tmp_path / "none.toml"
    done = subprocess.run([*arbiter, "backtest", "--data", str(out), "--pairs", str(missing)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "cannot read pairs file" in done.stderr
