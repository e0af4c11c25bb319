from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from bot.outbound import PermanentSendError, TransientSendError, bridge_signature, post_to_bridge
from tests.fakes import FakeBridge


def test_bridge_signature_known_answer():
    body = b'{"chat_id":"b3@chatroom","text":"hi","mention_ids":[]}'
    expected = hmac.new(b"s3cret", b"1763800000." + body, hashlib.sha256).hexdigest()
    assert expected == "03fdefa4283e2cdd2c9e562ae11ee51453638f259744cc6d48b3f3ef06367acd"
    assert bridge_signature("s3cret", 1763800000, body) == "sha256=" + expected
    assert bridge_signature(b"s3cret", "1763800000", body) == "sha256=" + expected
    assert bridge_signature("s3cret", 1763800001, body) != "sha256=" + expected


async def test_signed_post_is_verified_by_the_receiver(fake_bridge, http_session):
    result = await post_to_bridge(
        http_session,
        fake_bridge.url,
        fake_bridge.secret,
        "b3@chatroom",
        "王阿姨，工单 #128 已受理",
        ["wxid_wang"],
        delivery_id="outbox-42",
    )
    assert result == {"status": 200}
    assert fake_bridge.rejected == []
    [received] = fake_bridge.received
    assert received["json"] == {
        "chat_id": "b3@chatroom",
        "text": "王阿姨，工单 #128 已受理",
        "mention_ids": ["wxid_wang"],
    }
    assert received["delivery"] == "outbox-42"
    assert abs(received["timestamp"] - time.time()) < 5
    assert received["headers"]["Content-Type"].startswith("application/json")
    # The signature covers the exact bytes sent.
    assert json.loads(received["raw"]) == received["json"]


async def test_retry_carries_the_same_delivery_id(fake_bridge, http_session):
    for _ in range(2):
        await post_to_bridge(
            http_session, fake_bridge.url, fake_bridge.secret, "c", "t", [], delivery_id="row-7"
        )
    assert len(fake_bridge.received) == 1
    assert len(fake_bridge.duplicates) == 1


async def test_wrong_secret_is_refused_with_401_and_permanent(fake_bridge, http_session):
    with pytest.raises(PermanentSendError) as info:
        await post_to_bridge(http_session, fake_bridge.url, "not-it", "c", "t", [])
    assert info.value.http_status == 401
    assert fake_bridge.rejected[0]["reason"] == "bad signature"
    assert fake_bridge.received == []


async def test_stale_timestamp_is_refused(fake_bridge, http_session):
    with pytest.raises(PermanentSendError):
        await post_to_bridge(
            http_session,
            fake_bridge.url,
            fake_bridge.secret,
            "c",
            "t",
            [],
            timestamp=int(time.time()) - 3600,
        )
    assert fake_bridge.rejected[0]["reason"] == "stale timestamp"


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_5xx_and_429_are_transient(fake_bridge, http_session, status):
    fake_bridge.fail_next(1, status)
    with pytest.raises(TransientSendError) as info:
        await post_to_bridge(http_session, fake_bridge.url, fake_bridge.secret, "c", "t", [])
    assert info.value.http_status == status


@pytest.mark.parametrize("status", [400, 403, 404, 410])
async def test_other_4xx_are_permanent(fake_bridge, http_session, status):
    fake_bridge.fail_next(1, status)
    with pytest.raises(PermanentSendError):
        await post_to_bridge(http_session, fake_bridge.url, fake_bridge.secret, "c", "t", [])


async def test_hang_is_transient_within_timeout(fake_bridge, http_session):
    fake_bridge.hang_next(1, 5.0)
    started = time.monotonic()
    with pytest.raises(TransientSendError):
        await post_to_bridge(
            http_session, fake_bridge.url, fake_bridge.secret, "c", "t", [], timeout=0.5
        )
    assert time.monotonic() - started < 1.5


async def test_connection_refused_is_transient(http_session):
    async with FakeBridge() as bridge:
        url = bridge.url
    with pytest.raises(TransientSendError):
        await post_to_bridge(http_session, url, "s", "c", "t", [], timeout=1.0)


async def test_missing_url_or_secret_is_permanent(http_session):
    with pytest.raises(PermanentSendError, match="GRIDBOT_BRIDGE_OUTBOUND_URL"):
        await post_to_bridge(http_session, "", "s", "c", "t", [])
    with pytest.raises(PermanentSendError, match="GRIDBOT_BRIDGE_SECRET"):
        await post_to_bridge(http_session, "http://127.0.0.1:1/x", "", "c", "t", [])


async def test_gridbot_inbound_check_accepts_the_outbound_signature(fake_bridge, http_session):
    channels = pytest.importorskip("bot.channels.bridge")
    await post_to_bridge(http_session, fake_bridge.url, fake_bridge.secret, "c", "文本", ["w"])
    [received] = fake_bridge.received
    checker = channels.Bridge(fake_bridge.secret)
    assert checker.verify(received["headers"], received["raw"]) == received["timestamp"]
