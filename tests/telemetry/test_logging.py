"""JSON log lines with context ids, and secrets that never reach the output."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from arbiter.telemetry.logging import REDACTED, configure, current_context, log_context, redact

JWT = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4IiwidGVuYW50IjoiYWNtZSJ9.c2lnbmF0dXJlLXZhbHVl"
HEX_KEY = "0x" + "ab12" * 16


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("arbiter.test.json")
    logger.propagate = False
    handler = configure(logging.DEBUG, stream=stream, logger=logger)
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_context_ids(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    with log_context(tenant_id="acme", saga_id="s-1"):
        logger.info("leg %s filled", "L1", extra={"venue": "kalshi", "filled": "10"})
        with log_context(trace_id="ab" * 16):
            logger.warning("hedging")
    logger.info("outside")
    first, second, third = lines(stream)
    assert (
        first["msg"] == "leg L1 filled"
        and first["level"] == "info"
        and first["logger"] == "arbiter.test.json"
    )
    assert (first["tenant_id"], first["saga_id"], first["venue"], first["filled"]) == (
        "acme",
        "s-1",
        "kalshi",
        "10",
    )
    assert second["trace_id"] == "ab" * 16 and second["saga_id"] == "s-1"
    assert "saga_id" not in third and "tenant_id" not in third
    assert str(first["ts"]).endswith("Z")


async def test_context_is_per_task(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged

    async def saga(sid: str) -> None:
        with log_context(saga_id=sid):
            await asyncio.sleep(0)
            logger.info("step")
            await asyncio.sleep(0)
            assert current_context()["saga_id"] == sid

    await asyncio.gather(*(saga(f"s-{i}") for i in range(5)))
    assert sorted(str(x["saga_id"]) for x in lines(stream)) == [f"s-{i}" for i in range(5)]


def test_secrets_are_redacted(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    logger.info("auth header Bearer %s", JWT)
    logger.info("config api_key=sk-live-123456 other=1 password: 'hunter2'")
    logger.info(
        "wallet %s loaded",
        HEX_KEY,
        extra={"private_key": HEX_KEY, "headers": {"Authorization": "x"}, "note": f"token {JWT}"},
    )
    try:
        raise RuntimeError(f"signing failed with {HEX_KEY}")
    except RuntimeError:
        logger.exception("boom")
    out = stream.getvalue()
    for secret in (JWT, "sk-live-123456", "hunter2", HEX_KEY, "ab12ab12"):
        assert secret not in out
    a, b, c, d = lines(stream)
    assert a["msg"] == f"auth header Bearer {REDACTED}"
    assert b["msg"] == f"config api_key={REDACTED} other=1 password: {REDACTED}"
    assert c["private_key"] == REDACTED and c["headers"] == {"Authorization": REDACTED}
    assert c["note"] == f"token {REDACTED}"
    assert "RuntimeError" in str(d["exc"]) and REDACTED in str(d["exc"])


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "saga s-1 pair FED-DEC bought 10 @ 0.4537 order 7f3a9c"
    assert redact(text) == text
