"""No secret in a job's upload: the working dir is checked with Ray's own packing traversal.

Fast, no cluster: what ``runtime_env()`` and ``jobs/live.py --check-upload`` refuse, and what
they let through (references, excluded files). ``test_ray_as_it_ships.py`` shows the same on a
real auth-on cluster (a reference-form job leaves no secret on the node; an inline one is
refused by the job itself and scrubbed from the node's copy).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from arbiter.engine.uploads import InlineSecretsInUpload, check_working_dir, scan_working_dir

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from jobs.live import RUNTIME_ENV, runtime_env  # noqa: E402

SECRET = secrets.token_urlsafe(32)  # never a literal: the repository is uploaded by other tests
PASSPHRASE = secrets.token_hex(16)
EXCLUDES = RUNTIME_ENV["excludes"]


def _inline_config(where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "engine.toml").write_text(
        '[engine]\npairs = "pairs.toml"\n\n[[tenant]]\nname = "main"\n'
        'kalshi_private_key = "/etc/arbiter/kalshi.pem"\n'
        'polymarket_private_key = "/etc/arbiter/poly.hex"\n'
        'polymarket_api_key = "k"\n'
        f'polymarket_api_secret = "{SECRET}"\npolymarket_api_passphrase = "{PASSPHRASE}"\n')


def test_the_repository_itself_uploads_no_secret() -> None:
    assert scan_working_dir(REPO, EXCLUDES) == []


def test_inline_api_triple_is_refused_naming_keys_not_values(tmp_path: Path) -> None:
    _inline_config(tmp_path / "deploy")
    with pytest.raises(InlineSecretsInUpload) as err:
        runtime_env(tmp_path)
    text = str(err.value)
    assert "deploy/engine.toml: tenant[0].polymarket_api_secret: inline secret" in text
    assert "tenant[0].polymarket_api_passphrase" in text
    assert SECRET not in text and PASSPHRASE not in text
    assert 'credentials = "store"' in text


def test_inline_key_material_and_shipped_key_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "poly.hex").write_text("0x" + "ab" * 32)
    (tmp_path / "kalshi.pem").write_text("-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n")
    (tmp_path / "engine.toml").write_text(
        '[[tenant]]\nname = "a"\nkalshi_private_key = "kalshi.pem"\n'   # excluded: *.pem
        'polymarket_private_key = "secrets/poly.hex"\n'                  # would be uploaded
        '[[tenant]]\nname = "b"\nkalshi_private_key = "-----BEGIN PRIVATE KEY-----\\nMII"\n'
        f'polymarket_private_key = "{"cd" * 32}"\n')
    found = {(f.key, f.why, f.holder) for f in scan_working_dir(tmp_path, EXCLUDES)}
    assert found == {
        ("tenant[0].polymarket_private_key", "key file secrets/poly.hex would be uploaded",
         "secrets/poly.hex"),
        ("tenant[1].kalshi_private_key", "inline private key", "engine.toml"),
        ("tenant[1].polymarket_private_key", "inline private key", "engine.toml"),
    }


def test_what_the_upload_leaves_behind_is_not_refused(tmp_path: Path) -> None:
    # excluded by the runtime env (var/), by a .rayignore (Ray's own ignore file), or outside
    _inline_config(tmp_path / "var")
    _inline_config(tmp_path / "private")
    (tmp_path / ".rayignore").write_text("private/\n")
    (tmp_path / "engine.toml").write_text(
        '[credentials]\nsecrets = "aws:?prefix=arbiter/prod/"\n\n'
        '[[tenant]]\nname = "main"\ncredentials = "store"\n\n'
        '[[tenant]]\nname = "files"\nkalshi_private_key = "/etc/arbiter/keys/kalshi.pem"\n'
        'polymarket_private_key = "/etc/arbiter/keys/poly.hex"\n')
    assert scan_working_dir(tmp_path, EXCLUDES) == []
    assert runtime_env(tmp_path)["working_dir"] == str(tmp_path)
    # without the runtime env's excludes the var/ copy would go, and is refused
    with pytest.raises(InlineSecretsInUpload, match=r"var/engine\.toml"):
        check_working_dir(tmp_path)


def test_a_toml_that_cannot_be_read_cannot_be_cleared(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("polymarket_api_secret = \n")
    (finding,) = scan_working_dir(tmp_path)
    assert finding.why == "not valid TOML, so it cannot be checked"


@pytest.mark.slow  # two interpreters importing Ray: about 4 s
def test_check_upload_command(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, str(REPO / "jobs" / "live.py"), "--check-upload", str(REPO)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "holds no secret to upload" in ok.stdout
    _inline_config(tmp_path)
    bad = subprocess.run([sys.executable, str(REPO / "jobs" / "live.py"), "--check-upload", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "refusing to upload" in bad.stderr and "polymarket_api_secret" in bad.stderr
    assert SECRET not in bad.stderr + bad.stdout
