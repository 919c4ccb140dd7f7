"""The job's runtime_env: one exclude list in both forms, and key material never uploaded."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from ray._private.thirdparty.pathspec import PathSpec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from jobs.live import RUNTIME_ENV  # noqa: E402


def test_yaml_and_python_forms_agree() -> None:
    declared = yaml.safe_load((REPO / "jobs" / "runtime_env.yaml").read_text())
    assert declared == RUNTIME_ENV


def test_key_files_stay_behind_and_code_goes() -> None:
    # the matcher Ray itself applies to `excludes` when it packs the working directory
    spec = PathSpec.from_lines("gitwildmatch", RUNTIME_ENV["excludes"])
    for secret in ("tenants/acme-kalshi.pem", "kalshi.key", "deploy/keys/wallet.hex",
                   "var/journal/paper.sqlite", ".env", "config/sub/keys/k1.pem"):
        assert spec.match_file(secret), secret
    for code in ("arbiter/engine/actors.py", "jobs/live.py", "cluster/ray-cluster.yaml",
                 "arbiter/data/sample_pairs.toml", "docs/security.md"):
        assert not spec.match_file(code), code
