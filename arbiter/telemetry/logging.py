"""JSON structured logs carrying saga, tenant and trace ids, with secrets redacted.

One JSON object per line so log shippers need no parsing rules, and the ids that tie a line to a
saga, a tenant and an OpenTelemetry trace are set once per task in context variables
(:func:`log_context`) rather than passed to every call. Context variables follow asyncio tasks,
so concurrent sagas never see each other's ids.

Redaction runs as a logging filter on the handler, i.e. after every formatting argument is known
and before anything is written: it masks values under sensitive keys in ``extra`` fields and
token-shaped substrings (JWTs, bearer tokens, hex private keys, API-key assignments) anywhere in
the message. It is a safety net, not a licence to log secrets.

Every entry point calls :func:`setup` once (the CLI's ``main``, ``jobs/*.py``, the paper venues'
process) and every Ray worker process runs :func:`ray_worker_setup` before it hosts an actor or a
task, through Ray's ``worker_process_setup_hook`` (:func:`ray_runtime_env`; ADR 0143). The format
comes from ``ARBITER_LOG_FORMAT`` (``json``, the default, or ``text`` for people), the level from
``ARBITER_LOG_LEVEL`` and an optional file from ``ARBITER_LOG_FILE``; both formats redact.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

__all__ = [
    "LOG_FILE_ENV",
    "LOG_FORMAT_ENV",
    "LOG_LEVEL_ENV",
    "RAY_WORKER_SETUP_HOOK",
    "JsonFormatter",
    "RedactionFilter",
    "TextFormatter",
    "configure",
    "current_context",
    "log_context",
    "ray_runtime_env",
    "ray_worker_setup",
    "redact",
    "setup",
]

LOG_FORMAT_ENV = "ARBITER_LOG_FORMAT"
LOG_LEVEL_ENV = "ARBITER_LOG_LEVEL"
LOG_FILE_ENV = "ARBITER_LOG_FILE"
#: import path Ray's worker processes call before anything else runs in them
RAY_WORKER_SETUP_HOOK = "arbiter.telemetry.logging.ray_worker_setup"
FORMATS = ("json", "text")

REDACTED = "[REDACTED]"
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "arbiter_log_context", default=MappingProxyType({}))

SENSITIVE_KEYS = re.compile(
    r"(pass(word|phrase)?|secret|token|api[_-]?key|private[_-]?key|authorization|signature|cookie|"
    r"credential|mnemonic|seed)", re.IGNORECASE)
_PATTERNS = [
    # PEM private keys (Kalshi's RSA key), whole block, also when a repr put "\\n" in it
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
               re.DOTALL),
    # JWT / JWS compact form
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # Authorization headers
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    # 32-byte hex keys (EVM private keys, HMAC secrets)
    re.compile(r"\b(0x)?[0-9a-fA-F]{64}\b"),
    # key=value / key: value for sensitive keys
    re.compile(r"(?i)\b([\w-]*(?:secret|password|passphrase|api[_-]?key|private[_-]?key|token))"
               r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;]+)"),
]

#: LogRecord attributes that are not user "extra" fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    for pattern in _PATTERNS[:-1]:
        text = pattern.sub(REDACTED, text)
    return _PATTERNS[-1].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _redact_value(key: str, value: Any) -> Any:
    if SENSITIVE_KEYS.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


class RedactionFilter(logging.Filter):
    """Masks secrets in the message and in extra fields; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _redact_value(key, value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", <context ids>, <extra fields>, "exc"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_context.get())
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``ts level logger: msg [saga_id=… tenant_id=…]`` for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{k}={v}" for k, v in _context.get().items())
        return f"{line} [{ids}]" if ids else line


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Add ids (``saga_id=…, tenant_id=…``) to every log line written inside the block."""
    merged = {**_context.get(), **{k: v for k, v in ids.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, str]:
    return _context.get()


def configure(level: int | str = logging.INFO, stream: TextIO | None = None,
              logger: logging.Logger | None = None) -> logging.Handler:
    """Install one JSON handler with redaction on ``logger`` (the root logger by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter())
    target = logger or logging.getLogger()
    target.addHandler(handler)
    target.setLevel(level)
    return handler


#: the handler :func:`setup` installed last, replaced (not stacked) by the next call
_installed: logging.Handler | None = None
_MARK = "_arbiter_setup"


def setup(fmt: str | None = None, level: int | str | None = None, path: str | Path | None = None,
          stream: TextIO | None = None) -> logging.Handler:
    """Install the process's one log handler on the root logger (again: replace it).

    Arguments left ``None`` come from ``ARBITER_LOG_FORMAT`` / ``ARBITER_LOG_LEVEL`` /
    ``ARBITER_LOG_FILE`` (defaults ``json``, ``INFO`` or the root's level if more verbose,
    stderr). Idempotent, so an entry point and a Ray worker hook may both call it, and a command
    may re-point its logs (the demo sends them to a file so its terminal view stays readable).
    """
    global _installed
    fmt = (fmt or os.environ.get(LOG_FORMAT_ENV) or "json").lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (json or text)")
    chosen = level or os.environ.get(LOG_LEVEL_ENV)
    if isinstance(chosen, str):
        chosen = chosen.upper()
    file = path or os.environ.get(LOG_FILE_ENV) or None
    handler: logging.Handler
    if file is not None:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    for old in list(root.handlers):  # ours from an earlier call, whoever kept a reference
        if old is _installed or getattr(old, _MARK, False):
            root.removeHandler(old)
            old.close()
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    if chosen:
        root.setLevel(chosen)
    elif root.level == logging.NOTSET or root.level > logging.INFO:
        # INFO by default, but never quieter than a host already made it (a test's caplog)
        root.setLevel(logging.INFO)
    _installed = handler
    return handler


def ray_worker_setup() -> None:
    """Ray's ``worker_process_setup_hook``: JSON logs with redaction in every worker process.

    A worker's stderr is its ``worker-*.err`` file in the session's log directory (and, with
    ``log_to_driver``, the driver's console), so records land there, one JSON object a line.
    """
    setup()


def ray_runtime_env(base: Mapping[str, object] | None = None) -> dict[str, object]:
    """``base`` plus the setup hook, for ``ray.init`` or a job submission (ADR 0143).

    Inside a Ray job the job's runtime env is merged with the driver's and a field given by
    both is a conflict (``ray/_private/worker.py`` ``init``, Ray 2.60): when the job's env
    already names the hook, nothing is added.
    """
    env = dict(base or {})
    injected = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if injected:
        try:
            job_env = json.loads(injected).get("runtime_env") or {}
        except ValueError:
            job_env = {}
        if "worker_process_setup_hook" in job_env:
            return env
    env.setdefault("worker_process_setup_hook", RAY_WORKER_SETUP_HOOK)
    return env
