"""Order-create headers signed ahead of use: fresh, verifiable, re-signed when stale."""

from __future__ import annotations

import asyncio

import pytest

from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import OrderStatus, submit
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.rest import CREATE_PATH, KalshiRestClient
from arbiter.venues.kalshi.signing import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PresignedHeaders,
    Signer,
    verify_message,
)
from tests.venues.kalshi.support import TRADER, client_for, make_key
from tests.venues.kalshi.test_rest import req

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

PATH = "/trade-api/v2/portfolio/events/orders"


class CountingSigner(Signer):
    """A real signer that also counts the signatures it makes."""

    __slots__ = ("signed",)

    def __init__(self) -> None:
        super().__init__(TRADER, make_key(TRADER).private_key)
        self.signed = 0

    def headers(self, method: str, path: str, now_ms: int | None = None) -> dict[str, str]:
        self.signed += 1
        return super().headers(method, path, now_ms)


def _verifies(headers: dict[str, str], path: str = PATH) -> bool:
    public = make_key(TRADER).private_key.public_key()
    return verify_message(public, headers[HEADER_TIMESTAMP], "POST", path,
                          headers[HEADER_SIGNATURE])


def test_a_fresh_set_is_reused_and_a_stale_one_is_signed_anew() -> None:
    pre = PresignedHeaders(make_key(TRADER).signer(), "POST", PATH, max_age_ms=1_000)
    assert pre.age_ms() is None
    first = pre.get(now_ms=10_000)  # none yet: signed inline
    assert pre.inline == 1 and first[HEADER_KEY] == TRADER and first[HEADER_TIMESTAMP] == "10000"
    assert _verifies(first)
    assert pre.get(now_ms=10_999) is first and pre.get(now_ms=11_000) is first
    assert pre.inline == 1
    stale = pre.get(now_ms=11_001)
    assert pre.inline == 2 and stale[HEADER_TIMESTAMP] == "11001" and _verifies(stale)
    # a clock stepped backwards never serves a set stamped in "the future"
    back = pre.get(now_ms=9_000)
    assert pre.inline == 3 and back[HEADER_TIMESTAMP] == "9000"
    pre.refresh(now_ms=20_000)
    assert pre.age_ms(now_ms=20_250) == 250 and pre.inline == 3


def test_the_signature_covers_the_path_and_method() -> None:
    pre = PresignedHeaders(make_key(TRADER).signer(), "POST", PATH)
    headers = pre.get()
    assert _verifies(headers)
    assert not _verifies(headers, "/trade-api/v2/portfolio/orders")
    public = make_key(TRADER).private_key.public_key()
    assert not verify_message(public, headers[HEADER_TIMESTAMP], "DELETE", PATH,
                              headers[HEADER_SIGNATURE])
    with pytest.raises(ValueError):
        PresignedHeaders(make_key(TRADER).signer(), "POST", PATH, max_age_ms=0)
    assert "BEGIN" not in repr(pre) and "PRIVATE" not in repr(pre)


async def test_lane_creates_use_presigned_headers_kept_fresh_by_the_timer(sim: KalshiSim) -> None:
    async with client_for(sim) as client:
        await client.open_order_lane(size=2, presign_max_age_ms=100)
        pre = client.presigned
        assert pre is not None and pre.path.endswith(CREATE_PATH) and pre.inline == 0
        stamps = set()
        for i in range(4):
            before = pre.get()[HEADER_TIMESTAMP]
            ack = await submit(client, req(f"pre-{i}", price=4100, size=1))
            assert ack.status is not OrderStatus.OPEN or ack.order_id
            stamps.add(before)
            await asyncio.sleep(0.07)  # the timer re-signs every 50 ms
        assert pre.inline == 0  # every create found a fresh set: no RSA signature on the path
        assert len(stamps) >= 2  # and the set did change underneath
        assert sim.stats["auth_failures"] == 0
        lane = client.order_lane
        assert lane is not None and lane.sent == 4
    assert client.presigned is None  # closing the client stops the timer


async def test_lane_creates_make_no_signature_of_their_own(sim: KalshiSim) -> None:
    signer = CountingSigner()
    config = KalshiConfig(env=KalshiEnv.DEMO, rest_url=sim.rest_url, ws_url=sim.ws_url)
    async with KalshiRestClient(config, signer) as client:
        await client.open_order_lane(size=2, presign_max_age_ms=60_000)
        assert signer.signed == 1  # the set made when the lane opened
        for i in range(4):
            await submit(client, req(f"nosig-{i}", price=4100, size=1))
        assert signer.signed == 1
        await client.balance()  # any other request is still signed on the spot
        assert signer.signed == 2
        assert sim.stats["auth_failures"] == 0
