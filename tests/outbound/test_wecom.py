from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bot.outbound import (
    MemoryTokenCache,
    PermanentSendError,
    TransientSendError,
    WeComClient,
    robot_webhook,
    robot_webhook_markdown,
)
from tests.fakes import (
    APPCHAT_SEND,
    GETTOKEN,
    MESSAGE_SEND,
    WEBHOOK_SEND,
    FakeWeCom,
)


def make_client(
    wecom: FakeWeCom,
    session: aiohttp.ClientSession,
    *,
    cache: MemoryTokenCache | None = None,
    timeout: float = 5.0,
    secret: str | None = None,
) -> WeComClient:
    return WeComClient(
        session,
        wecom.base_url,
        wecom.corp_id,
        secret if secret is not None else wecom.corp_secret,
        wecom.agent_id,
        cache if cache is not None else MemoryTokenCache(),
        timeout=timeout,
    )


# -- shapes ------------------------------------------------------------------------------


async def test_textcard_arrives_with_wecom_shape(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    result = await client.send_textcard(
        ["zhangwg", "chenwgz"],
        "工单 #128 待接单",
        "3号楼电梯又坏了",
        "https://gridbot.example/t/128",
    )
    assert result == {"msgid": "msg-1", "invalid_users": []}
    [message] = fake_wecom.sent_to(MESSAGE_SEND)
    assert message["query"]["access_token"] == "tok-1"
    assert message["json"] == {
        "touser": "zhangwg|chenwgz",
        "msgtype": "textcard",
        "agentid": fake_wecom.agent_id,
        "textcard": {
            "title": "工单 #128 待接单",
            "description": "3号楼电梯又坏了",
            "url": "https://gridbot.example/t/128",
            "btntxt": "详情",
        },
        "enable_duplicate_check": 1,
        "duplicate_check_interval": 1800,
    }


async def test_text_and_markdown_shapes(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    await client.send_text(["zhangwg"], "接单 #128")
    await client.send_markdown(["zhangwg"], "**#128** 已完成")
    text, markdown = fake_wecom.sent_to(MESSAGE_SEND)
    assert text["json"]["msgtype"] == "text"
    assert text["json"]["text"] == {"content": "接单 #128"}
    assert text["json"]["touser"] == "zhangwg"
    assert markdown["json"]["markdown"] == {"content": "**#128** 已完成"}


async def test_chinese_text_is_sent_as_utf8_not_unicode_escapes(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    await client.send_text(["zhangwg"], "王阿姨：3号楼电梯又坏了")
    raw = fake_wecom.requests[-1].body
    assert "王阿姨".encode() in raw
    assert b"\\u" not in raw


async def test_appchat_shape(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    assert await client.appchat_send("wrOgAAAA3", "#128 已派给张网格") == {}
    [message] = fake_wecom.sent_to(APPCHAT_SEND)
    assert message["json"] == {
        "chatid": "wrOgAAAA3",
        "msgtype": "text",
        "text": {"content": "#128 已派给张网格"},
        "safe": 0,
    }


async def test_duplicate_recipients_are_sent_once(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    await client.send_text(["a", "b", "a", ""], "x")
    assert fake_wecom.messages[0]["json"]["touser"] == "a|b"


async def test_retry_of_same_message_is_deduplicated_by_wecom(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    await client.send_text(["zhangwg"], "#128 请接单")
    await client.send_text(["zhangwg"], "#128 请接单")
    assert len(fake_wecom.messages) == 2
    assert len(fake_wecom.delivered) == 1


# -- tokens ------------------------------------------------------------------------------


async def test_token_is_fetched_once_for_many_sends(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    for i in range(5):
        await client.send_text(["zhangwg"], f"message {i}")
    assert fake_wecom.gettoken_count == 1
    gettoken = next(r for r in fake_wecom.requests if r.path == GETTOKEN)
    assert gettoken.query == {"corpid": fake_wecom.corp_id, "corpsecret": fake_wecom.corp_secret}
    assert {m["query"]["access_token"] for m in fake_wecom.messages} == {"tok-1"}


async def test_concurrent_sends_share_one_token_fetch(fake_wecom, http_session):
    fake_wecom.hang_next(1, 0.2, path=GETTOKEN)  # a slow gettoken widens the race
    client = make_client(fake_wecom, http_session)
    await asyncio.gather(*(client.send_text(["zhangwg"], f"m{i}") for i in range(20)))
    assert fake_wecom.gettoken_count == 1
    assert len(fake_wecom.messages) == 20


async def test_two_clients_on_one_cache_share_one_token_fetch(fake_wecom, http_session):
    fake_wecom.hang_next(1, 0.2, path=GETTOKEN)
    cache = MemoryTokenCache()
    first = make_client(fake_wecom, http_session, cache=cache)
    second = make_client(fake_wecom, http_session, cache=cache)
    await asyncio.gather(first.send_text(["a"], "1"), second.send_text(["b"], "2"))
    assert fake_wecom.gettoken_count == 1


@pytest.mark.parametrize("revoke", [False, True], ids=["42001-expired", "40014-invalid"])
async def test_rejected_token_is_refreshed_once_and_the_send_succeeds(
    fake_wecom, http_session, revoke
):
    client = make_client(fake_wecom, http_session)
    await client.send_text(["zhangwg"], "first")
    if revoke:
        fake_wecom.revoke_tokens()
    else:
        fake_wecom.expire_tokens()
    await client.send_text(["zhangwg"], "second")
    assert fake_wecom.gettoken_count == 2
    assert [m["query"]["access_token"] for m in fake_wecom.messages] == ["tok-1", "tok-2"]
    assert fake_wecom.count(MESSAGE_SEND) == 3  # first, refused second, retried second


async def test_second_consecutive_42001_is_an_error_not_a_loop(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    await client.token()
    fake_wecom.errcode_next(5, 42001, "access_token expired", path=MESSAGE_SEND)
    with pytest.raises(TransientSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert info.value.errcode == 42001
    assert fake_wecom.gettoken_count == 2  # the initial fetch and exactly one refresh
    assert fake_wecom.count(MESSAGE_SEND) == 2
    assert fake_wecom.messages == []


async def test_40001_after_refresh_is_permanent(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    fake_wecom.errcode_next(2, 40001, "invalid credential", path=MESSAGE_SEND)
    with pytest.raises(PermanentSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert info.value.errcode == 40001
    assert fake_wecom.gettoken_count == 2


async def test_wrong_secret_is_permanent_without_retry(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session, secret="not-the-secret")
    with pytest.raises(PermanentSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert info.value.errcode == 40001
    assert "not-the-secret" not in info.value.reason
    assert fake_wecom.gettoken_count == 1
    assert fake_wecom.count(MESSAGE_SEND) == 0


async def test_gettoken_busy_is_transient(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    fake_wecom.errcode_next(1, -1, "system busy", path=GETTOKEN)
    with pytest.raises(TransientSendError):
        await client.send_text(["zhangwg"], "x")
    await client.send_text(["zhangwg"], "x")  # the next attempt fetches again and succeeds
    assert fake_wecom.gettoken_count == 2


async def test_token_is_cached_for_expires_in_minus_300(fake_wecom, http_session):
    now = [1000.0]
    cache = MemoryTokenCache(clock=lambda: now[0])
    client = make_client(fake_wecom, http_session, cache=cache)
    await client.token()
    now[0] += 7200 - 300 - 1
    assert await client.token() == "tok-1"
    now[0] += 2
    assert await client.token() == "tok-2"
    assert fake_wecom.gettoken_count == 2


# -- failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_5xx_and_429_are_transient(fake_wecom, http_session, status):
    client = make_client(fake_wecom, http_session)
    await client.token()
    fake_wecom.fail_next(1, status, path=MESSAGE_SEND)
    with pytest.raises(TransientSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert info.value.http_status == status
    assert info.value.retryable


async def test_other_4xx_is_permanent(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    await client.token()
    fake_wecom.fail_next(1, 403, path=MESSAGE_SEND)
    with pytest.raises(PermanentSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert info.value.http_status == 403
    assert not info.value.retryable


async def test_hang_longer_than_timeout_is_transient_within_timeout(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session, timeout=0.5)
    await client.token()
    fake_wecom.hang_next(1, 5.0, path=MESSAGE_SEND)
    started = time.monotonic()
    with pytest.raises(TransientSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert time.monotonic() - started < 1.5
    assert "0.5" in info.value.reason


async def test_hanging_gettoken_is_transient_within_timeout(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session, timeout=0.5)
    fake_wecom.hang_next(1, 5.0, path=GETTOKEN)
    started = time.monotonic()
    with pytest.raises(TransientSendError):
        await client.send_text(["zhangwg"], "x")
    assert time.monotonic() - started < 1.5


async def test_connection_refused_is_transient(http_session):
    async with FakeWeCom() as wecom:
        base = wecom.base_url
    client = WeComClient(http_session, base, "corp", "secret", 1, MemoryTokenCache(), timeout=1)
    with pytest.raises(TransientSendError):
        await client.send_text(["zhangwg"], "x")


@pytest.mark.parametrize("code", [-1, 45009, 45033])
async def test_busy_and_rate_limit_errcodes_are_transient(fake_wecom, http_session, code):
    client = make_client(fake_wecom, http_session)
    fake_wecom.errcode_next(1, code, path=MESSAGE_SEND)
    with pytest.raises(TransientSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert info.value.errcode == code


@pytest.mark.parametrize("code", [40003, 81013, 60020, 40056, 86001, 45002])
async def test_recipient_and_setup_errcodes_are_permanent(fake_wecom, http_session, code):
    client = make_client(fake_wecom, http_session)
    fake_wecom.errcode_next(1, code, path=MESSAGE_SEND)
    with pytest.raises(PermanentSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert info.value.errcode == code
    assert str(code) in info.value.reason


async def test_unknown_errcode_is_permanent_with_errmsg(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    fake_wecom.errcode_next(1, 777777, "something new", path=MESSAGE_SEND)
    with pytest.raises(PermanentSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert "777777" in info.value.reason
    assert "something new" in info.value.reason


async def test_reasons_never_show_the_access_token(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    token = await client.token()
    fake_wecom.errcode_next(1, 40003, f"invalid userid, access_token={token}", path=MESSAGE_SEND)
    with pytest.raises(PermanentSendError) as info:
        await client.send_text(["zhangwg"], "x")
    assert token not in info.value.reason


# -- invalid users -----------------------------------------------------------------------


async def test_partly_invalid_recipients_succeed_and_are_reported(http_session):
    async with FakeWeCom(users=["zhangwg", "chenwgz"]) as wecom:
        client = make_client(wecom, http_session)
        result = await client.send_text(["ZhangWG", "nobody", "chenwgz"], "x")
    assert result["invalid_users"] == ["nobody"]


async def test_all_recipients_invalid_is_permanent(http_session):
    async with FakeWeCom(users=["zhangwg"]) as wecom:
        client = make_client(wecom, http_session)
        with pytest.raises(PermanentSendError) as info:
            await client.send_text(["nobody", "ghost"], "x")
    assert info.value.errcode == 81013


async def test_answer_listing_every_recipient_invalid_is_permanent(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    await client.token()
    # Some WeCom answers report errcode 0 but every user in invaliduser.
    fake_wecom.fail_next(
        1,
        200,
        path=MESSAGE_SEND,
        body={"errcode": 0, "errmsg": "ok", "invaliduser": "nobody|ghost"},
    )
    with pytest.raises(PermanentSendError) as info:
        await client.send_text(["Nobody", "ghost"], "x")
    assert "nobody" in info.value.reason


async def test_no_recipients_is_permanent(fake_wecom, http_session):
    client = make_client(fake_wecom, http_session)
    with pytest.raises(PermanentSendError):
        await client.send_text([], "x")
    assert fake_wecom.requests == []


async def test_agent_id_must_be_numeric(http_session):
    with pytest.raises(ValueError):
        WeComClient(http_session, "http://x", "corp", "secret", "abc", MemoryTokenCache())


# -- group robot -------------------------------------------------------------------------


async def test_robot_text_with_mentions(fake_wecom, http_session):
    result = await robot_webhook(
        http_session,
        fake_wecom.base_url,
        "key-b3",
        "3号楼停水通知",
        mentioned_list=["wanglz", "@all"],
        mentioned_mobile_list=["13800001111"],
    )
    assert result == {}
    [message] = fake_wecom.sent_to(WEBHOOK_SEND)
    assert message["query"] == {"key": "key-b3"}
    assert message["json"] == {
        "msgtype": "text",
        "text": {
            "content": "3号楼停水通知",
            "mentioned_list": ["wanglz", "@all"],
            "mentioned_mobile_list": ["13800001111"],
        },
    }
    assert fake_wecom.gettoken_count == 0


async def test_robot_markdown(fake_wecom, http_session):
    await robot_webhook_markdown(http_session, fake_wecom.base_url, "key-b3", "**停水** <@wanglz>")
    [message] = fake_wecom.sent_to(WEBHOOK_SEND)
    assert message["json"] == {"msgtype": "markdown", "markdown": {"content": "**停水** <@wanglz>"}}


async def test_robot_invalid_key_is_permanent_and_key_not_in_reason(http_session):
    async with FakeWeCom(webhook_keys=["key-b3"]) as wecom:
        with pytest.raises(PermanentSendError) as info:
            await robot_webhook(http_session, wecom.base_url, "secret-key-zz", "x")
    assert info.value.errcode == 93000
    assert "secret-key-zz" not in info.value.reason


async def test_robot_rate_limit_is_transient(fake_wecom, http_session):
    fake_wecom.errcode_next(1, 45009, "api freq out of limit", path=WEBHOOK_SEND)
    with pytest.raises(TransientSendError):
        await robot_webhook(http_session, fake_wecom.base_url, "key-b3", "x")


async def test_robot_hang_is_transient_within_timeout(fake_wecom, http_session):
    fake_wecom.hang_next(1, 5.0, path=WEBHOOK_SEND)
    started = time.monotonic()
    with pytest.raises(TransientSendError):
        await robot_webhook(http_session, fake_wecom.base_url, "key-b3", "x", timeout=0.5)
    assert time.monotonic() - started < 1.5
