"""The alert rules file passes promtool's syntax check and its own unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "cluster" / "prometheus"
REQUIRED = {
    "ArbiterTickToOrderP99High",
    "ArbiterWebSocketStale",
    "ArbiterHedgeFailure",
    "ArbiterResidualOpen",
    "ArbiterDailyLossLimitReached",
    "ArbiterReconciliationMismatch",
}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: run make sysdeps (tools/sysdeps.sh; Debian package 'prometheus')"
    return path


def test_rules_are_valid() -> None:
    out = subprocess.run(
        [promtool(), "check", "rules", "alerts.yml"],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rule_unit_tests_pass() -> None:
    out = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_required_alert_is_defined_and_tested() -> None:
    rules = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts >= REQUIRED
    tests = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())
    tested = {
        case["alertname"]
        for t in tests["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == alerts, f"alerts without a firing test: {alerts - tested}"


def test_a_broken_expectation_fails(tmp_path: Path) -> None:
    """Guards the guard: promtool really compares, so a wrong expectation turns the test red."""
    shutil.copy(RULES_DIR / "alerts.yml", tmp_path / "alerts.yml")
    text = (RULES_DIR / "alerts_test.yml").read_text().replace("venue: polymarket\n", "venue: kalshi\n", 1)
    (tmp_path / "alerts_test.yml").write_text(text)
    out = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0


def test_example_prometheus_config_is_valid() -> None:
    out = subprocess.run([promtool(), "check", "config", "prometheus.yml"], cwd=RULES_DIR,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 1 rule files found" in out.stdout
