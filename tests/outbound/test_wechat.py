from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bot.outbound import (
    MemoryTokenCache,
    OfficialAccountClient,
    PermanentSendError,
    TransientSendError,
    WeComClient,
)
from tests.fakes import OA_CUSTOM_SEND, OA_TOKEN, FakeWeCom


def make_client(
    server: FakeWeCom,
    session: aiohttp.ClientSession,
    *,
    timeout: float = 5.0,
    secret: str | None = None,
) -> OfficialAccountClient:
    return OfficialAccountClient(
        session,
        server.base_url,
        server.appid,
        secret if secret is not None else server.app_secret,
        MemoryTokenCache(),
        timeout=timeout,
    )


async def test_customer_service_text_shape(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    assert await client.send_text("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "您的工单 #128 已受理") == {}
    [message] = fake_wecom.sent_to(OA_CUSTOM_SEND)
    assert message["json"] == {
        "touser": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "msgtype": "text",
        "text": {"content": "您的工单 #128 已受理"},
    }
    token_request = next(r for r in fake_wecom.requests if r.path == OA_TOKEN)
    assert token_request.query == {
        "grant_type": "client_credential",
        "appid": fake_wecom.appid,
        "secret": fake_wecom.app_secret,
    }


async def test_token_cached_and_shared(fake_wecom, http_session):
    fake_wecom.hang_next(1, 0.2, path=OA_TOKEN)
    client = make_client(fake_wecom, http_session)
    await asyncio.gather(*(client.send_text("openid-1", f"m{i}") for i in range(10)))
    await client.send_text("openid-1", "later")
    assert fake_wecom.oa_token_count == 1


@pytest.mark.parametrize("code", [40001, 40014, 42001])
async def test_token_errcodes_refresh_once(fake_wecom, http_session, code):
    client = make_client(fake_wecom, http_session)
    await client.token()
    fake_wecom.errcode_next(1, code, path=OA_CUSTOM_SEND)
    await client.send_text("openid-1", "x")
    assert fake_wecom.oa_token_count == 2
    assert fake_wecom.sent_to(OA_CUSTOM_SEND)[0]["query"]["access_token"] == "tok-2"


async def test_second_token_error_stops(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    fake_wecom.errcode_next(10, 40001, path=OA_CUSTOM_SEND)
    with pytest.raises(PermanentSendError):
        await client.send_text("openid-1", "x")
    assert fake_wecom.oa_token_count == 2
    assert fake_wecom.count(OA_CUSTOM_SEND) == 2


async def test_wrong_secret_is_permanent(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session, secret="wrong")
    with pytest.raises(PermanentSendError) as info:
        await client.send_text("openid-1", "x")
    assert info.value.errcode == 40001
    assert "wrong" not in info.value.reason.replace("wrong json", "")


async def test_unknown_follower_is_permanent(http_session):
    async with FakeWeCom(followers=["openid-1"]) as server:
        client = make_client(server, http_session)
        with pytest.raises(PermanentSendError) as info:
            await client.send_text("openid-2", "x")
    assert info.value.errcode == 40003


@pytest.mark.parametrize("code", [45015, 45047, 43004])
async def test_reply_window_errors_are_permanent(fake_wecom, http_session, code):
    client = make_client(fake_wecom, http_session)
    fake_wecom.errcode_next(1, code, path=OA_CUSTOM_SEND)
    with pytest.raises(PermanentSendError):
        await client.send_text("openid-1", "x")


async def test_5xx_and_timeout_are_transient(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session, timeout=0.5)
    await client.token()
    fake_wecom.fail_next(1, 502, path=OA_CUSTOM_SEND)
    with pytest.raises(TransientSendError):
        await client.send_text("openid-1", "x")
    fake_wecom.hang_next(1, 5.0, path=OA_CUSTOM_SEND)
    started = time.monotonic()
    with pytest.raises(TransientSendError):
        await client.send_text("openid-1", "x")
    assert time.monotonic() - started < 1.5


async def test_wecom_token_is_not_accepted_by_official_account(fake_wecom, http_session):
    """The two token kinds live under different cache keys."""
    cache = MemoryTokenCache()
    wecom = WeComClient(
        http_session,
        fake_wecom.base_url,
        fake_wecom.corp_id,
        fake_wecom.corp_secret,
        fake_wecom.agent_id,
        cache,
    )
    oa = OfficialAccountClient(
        http_session, fake_wecom.base_url, fake_wecom.appid, fake_wecom.app_secret, cache
    )
    await wecom.send_text(["zhangwg"], "x")
    await oa.send_text("openid-1", "y")
    assert fake_wecom.gettoken_count == 1
    assert fake_wecom.oa_token_count == 1
    assert fake_wecom.count(OA_CUSTOM_SEND) == 1
