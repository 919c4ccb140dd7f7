"""Every entry point's log set-up: one handler, JSON by default, redaction in both formats."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import arbiter.telemetry.logging as arbiter_logging
from arbiter.cli.main import main
from arbiter.telemetry.logging import (
    LOG_FILE_ENV,
    LOG_FORMAT_ENV,
    RAY_WORKER_SETUP_HOOK,
    JsonFormatter,
    TextFormatter,
    log_context,
    ray_runtime_env,
    ray_worker_setup,
    setup,
)

SECRET = "api_secret=hunter2-very-secret"


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (handlers, level) whatever the test installs."""
    logger = logging.getLogger()
    handlers, level, installed = list(logger.handlers), logger.level, arbiter_logging._installed
    yield logger
    if arbiter_logging._installed is not None:
        logger.removeHandler(arbiter_logging._installed)
        arbiter_logging._installed.close()
    arbiter_logging._installed = installed
    logger.handlers[:] = handlers
    logger.setLevel(level)


def ours(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h.formatter, JsonFormatter | TextFormatter)]


def test_setup_replaces_its_handler_and_writes_redacted_json(root: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    setup(stream=first)
    setup(stream=second)
    assert len(ours(root)) == 1
    with log_context(saga_id="s-1", tenant_id="acme"):
        logging.getLogger("arbiter.test").info("placing with %s", SECRET)
    assert first.getvalue() == ""
    record = json.loads(second.getvalue())
    assert record["saga_id"] == "s-1" and record["tenant_id"] == "acme"
    assert "hunter2" not in second.getvalue() and record["level"] == "info"


def test_text_format_redacts_and_shows_the_ids(root: logging.Logger,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setenv(LOG_FORMAT_ENV, "text")
    setup(stream=out)
    with log_context(saga_id="s-2"):
        logging.getLogger("arbiter.test").warning("token: %s", "abc.def-secret-value")
    line = out.getvalue()
    assert "secret-value" not in line and "[REDACTED]" in line and "[saga_id=s-2]" in line
    with pytest.raises(ValueError, match="log format"):
        setup("xml")


def test_the_ray_worker_hook_reads_the_environment(root: logging.Logger, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.log"
    monkeypatch.setenv(LOG_FILE_ENV, str(path))
    ray_worker_setup()
    logging.getLogger("arbiter.test").info("password=%s", "swordfish")
    text = path.read_text()
    assert json.loads(text)["msg"] == "password=[REDACTED]"


def test_runtime_env_names_the_hook_unless_the_job_already_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert ray_runtime_env({"env_vars": {"A": "1"}}) == {
        "env_vars": {"A": "1"}, "worker_process_setup_hook": RAY_WORKER_SETUP_HOOK}
    # inside a job submitted with the hook, naming it again would be a merge conflict in ray.init
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(
        {"runtime_env": {"worker_process_setup_hook": RAY_WORKER_SETUP_HOOK}}))
    assert ray_runtime_env() == {}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {}}))
    assert ray_runtime_env() == {"worker_process_setup_hook": RAY_WORKER_SETUP_HOOK}
    # the hook is importable the way a worker imports it
    module, _, name = RAY_WORKER_SETUP_HOOK.rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is ray_worker_setup


def test_the_cli_sets_up_json_logs_before_any_command(root: logging.Logger,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--offline"]) == 0
    (handler,) = ours(root)
    assert isinstance(handler.formatter, JsonFormatter)
    assert main(["--log-format", "text", "demo", "--offline"]) == 0
    (handler,) = ours(root)
    assert isinstance(handler.formatter, TextFormatter)
    capsys.readouterr()
    assert main(["--log-level", "LOUD", "demo", "--offline"]) == 2
    assert "LOUD" in capsys.readouterr().err


def test_a_pem_private_key_is_masked_whole(root: logging.Logger) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    body = [line for line in pem.splitlines() if not line.startswith("-----")]
    out = io.StringIO()
    setup(stream=out)
    log = logging.getLogger("arbiter.test")
    log.error("loaded %s", pem)
    log.error("config %r", {"key": pem})  # a repr: the newlines are "\\n" now
    log.error("truncated %s", pem[:200])
    text = out.getvalue()
    assert not [line for line in body if line in text or line[:20] in text]
    assert text.count("[REDACTED]") == 3
