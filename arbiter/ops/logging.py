"""JSON structured logs carrying saga, tenant and trace ids, with secrets redacted.

One JSON object per line so log shippers need no parsing rules, and the ids that tie a line to a
saga, a tenant and an OpenTelemetry trace are set once per task in context variables
(:func:`log_context`) rather than passed to every call. Context variables follow asyncio tasks,
so concurrent sagas never see each other's ids.

Redaction runs as a logging filter on the handler, i.e. after every formatting argument is known
and before anything is written: it masks values under sensitive keys in ``extra`` fields and
token-shaped substrings (JWTs, bearer tokens, hex private keys, API-key assignments) anywhere in
the message. It is a safety net, not a licence to log secrets.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, TextIO

__all__ = ["JsonFormatter", "RedactionFilter", "configure", "current_context", "log_context", "redact"]

REDACTED = "[REDACTED]"
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "arbiter_log_context", default=MappingProxyType({}))

SENSITIVE_KEYS = re.compile(
    r"(pass(word|phrase)?|secret|token|api[_-]?key|private[_-]?key|authorization|signature|cookie|"
    r"credential|mnemonic|seed)", re.IGNORECASE)
_PATTERNS = [
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
    for pattern in _PATTERNS[:3]:
        text = pattern.sub(REDACTED, text)
    return _PATTERNS[3].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


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
