"""``arbiter pairs review`` at a terminal: a person answers accept / skip / quit per candidate.

The prompt is the review's only path without ``--accept``; it asks only about candidates with a
mapped orientation (an unmapped one cannot become a pair), records the person's note, stops at
quit, and keeps what was accepted when interrupted. The accepted pairs then pass the engine's
review gate (ADR 0136).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter.cli.main import main
from arbiter.core.pairs import parse_pairs
from bench.pairs import default_files

KALSHI, POLY = default_files()
FILES = ["--kalshi-markets", *map(str, KALSHI), "--polymarket-markets", *map(str, POLY)]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _answers(monkeypatch: pytest.MonkeyPatch, answers: list[str | type[BaseException]]
             ) -> list[str]:
    """Feed ``answers`` to the prompts (an exception class is raised instead); returns the
    prompts shown."""
    prompts: list[str] = []
    it: Iterator[str | type[BaseException]] = iter(answers)

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        answer = next(it, "q")
        if isinstance(answer, type):
            raise answer()
        return answer

    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("builtins.input", fake_input)
    return prompts


def _mapped(out: str) -> list[str]:
    """The Kalshi tickers of the candidates printed with a mapped orientation, in order."""
    return re.findall(r"  Kalshi      (\S+): .*\n  Polymarket  .*\n  orientation Kalshi YES", out)


def test_skip_accept_with_a_note_then_quit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.toml"
    prompts = _answers(monkeypatch, ["s", "a", "read both rules: postponement differs, accepted",
                                     "q"])
    assert main(["pairs", "review", *FILES, "--reviewer", "dana", "--pairs-file",
                 str(pairs)]) == 0
    out = capsys.readouterr()
    assert prompts == ["[a]ccept / [s]kip / [q]uit? ", "[a]ccept / [s]kip / [q]uit? ",
                       "why (review note): ", "[a]ccept / [s]kip / [q]uit? "]
    (pair,) = parse_pairs(pairs.read_text(), str(pairs), require_review=True)
    assert pair.reviewed_by == "dana" and pair.review_note.startswith("read both rules")
    assert "accepted 1 pair(s)" in out.err
    # skipped the first candidate with a mapped orientation, accepted the second
    assert pair.kalshi_ticker == _mapped(out.out)[1]


def test_unmapped_candidates_are_shown_but_never_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = _answers(monkeypatch, ["s"] * 50)
    assert main(["pairs", "review", *FILES, "--reviewer", "dana", "--pairs-file",
                 str(tmp_path / "pairs.toml")]) == 0
    out = capsys.readouterr().out
    assert "KXNFLGAME-26SEP20PHITEN-PHI" in out  # shown (review, orientation unmapped) ...
    # ... yet only the candidates with a mapped orientation were asked about
    mapped = out.count("  orientation Kalshi YES")
    unmapped = out.count("  orientation UNMAPPED")
    assert unmapped >= 2 and len(prompts) == mapped > 0
    assert not (tmp_path / "pairs.toml").exists()


def test_an_interrupt_keeps_what_was_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.toml"
    _answers(monkeypatch, ["a", "rules read", KeyboardInterrupt])
    assert main(["pairs", "review", *FILES, "--reviewer", "erin", "--pairs-file",
                 str(pairs)]) == 0
    err = capsys.readouterr().err
    assert "interrupted" in err and "accepted 1 pair(s)" in err
    (pair,) = parse_pairs(pairs.read_text(), str(pairs), require_review=True)
    assert pair.reviewed_by == "erin" and pair.review_note == "rules read"


def test_a_terminal_review_needs_a_reviewer(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _answers(monkeypatch, [])
    assert main(["pairs", "review", *FILES, "--pairs-file", "x.toml"]) == 2
    assert "--reviewer is required" in capsys.readouterr().err
