from __future__ import annotations

import dataclasses

import pytest

from bot.config import Settings
from bot.outbound import (
    TRANSPORTS,
    Dispatcher,
    MemoryTokenCache,
    PermanentSendError,
    TransientSendError,
)
from tests.fakes import (
    APPCHAT_SEND,
    MESSAGE_SEND,
    OA_CUSTOM_SEND,
    WEBHOOK_SEND,
    FakeBridge,
    FakeWeCom,
)


def configured(wecom: FakeWeCom, bridge: FakeBridge) -> Settings:
    return Settings(
        wecom_api_base=wecom.base_url,
        wechat_api_base=wecom.base_url,
        wecom_corp_id=wecom.corp_id,
        wecom_agent_id=str(wecom.agent_id),
        wecom_secret=wecom.corp_secret,
        wechat_appid=wecom.appid,
        wechat_secret=wecom.app_secret,
        bridge_secret=bridge.secret,
        bridge_outbound_url=bridge.url,
    )


@pytest.fixture
def dispatcher(fake_wecom, fake_bridge, http_session):
    return Dispatcher(configured(fake_wecom, fake_bridge), http_session, MemoryTokenCache())


async def test_wecom_app_textcard(dispatcher, fake_wecom):
    result = await dispatcher.deliver(
        "wecom_app",
        {"userids": ["zhangwg"]},
        {
            "msgtype": "textcard",
            "title": "工单 #128",
            "description": "3号楼电梯又坏了",
            "url": "https://gridbot.example/t/128",
            "btntxt": "接单",
        },
        "row-1",
    )
    assert result == {"msgid": "msg-1", "invalid_users": []}
    [message] = fake_wecom.sent_to(MESSAGE_SEND)
    assert message["json"]["textcard"]["btntxt"] == "接单"
    assert message["json"]["agentid"] == fake_wecom.agent_id


async def test_wecom_app_text_default_msgtype(dispatcher, fake_wecom):
    await dispatcher.deliver("wecom_app", {"userids": ["a", "b"]}, {"content": "#128"}, "r")
    [message] = fake_wecom.sent_to(MESSAGE_SEND)
    assert message["json"]["msgtype"] == "text"
    assert message["json"]["touser"] == "a|b"


async def test_wecom_robot(dispatcher, fake_wecom):
    result = await dispatcher.deliver(
        "wecom_robot",
        {"webhook_key": "key-b3"},
        {"text": "停水通知", "mentioned_list": ["wanglz"]},
        "row-2",
    )
    assert result == {}
    [message] = fake_wecom.sent_to(WEBHOOK_SEND)
    assert message["json"]["text"] == {"content": "停水通知", "mentioned_list": ["wanglz"]}
    assert message["query"]["key"] == "key-b3"


async def test_wecom_robot_markdown(dispatcher, fake_wecom):
    await dispatcher.deliver(
        "wecom_robot", {"webhook_key": "key-b3"}, {"text": "**停水**", "msgtype": "markdown"}, "r"
    )
    assert fake_wecom.sent_to(WEBHOOK_SEND)[0]["json"]["msgtype"] == "markdown"


async def test_wecom_appchat(dispatcher, fake_wecom):
    await dispatcher.deliver("wecom_appchat", {"chatid": "wrOgAAAA3"}, {"text": "#128"}, "r")
    [message] = fake_wecom.sent_to(APPCHAT_SEND)
    assert message["json"]["chatid"] == "wrOgAAAA3"


async def test_bridge(dispatcher, fake_bridge):
    result = await dispatcher.deliver(
        "bridge",
        {"chat_id": "b3@chatroom"},
        {"text": "工单 #128 已受理", "mention_ids": ["wxid_wang"]},
        "row-99",
    )
    assert result == {}
    [received] = fake_bridge.received
    assert received["delivery"] == "row-99"
    assert received["json"] == {
        "chat_id": "b3@chatroom",
        "text": "工单 #128 已受理",
        "mention_ids": ["wxid_wang"],
    }


async def test_wechat(dispatcher, fake_wecom):
    await dispatcher.deliver("wechat", {"openid": "o-1"}, {"text": "工单 #128 已受理"}, "r")
    [message] = fake_wecom.sent_to(OA_CUSTOM_SEND)
    assert message["json"]["touser"] == "o-1"


async def test_one_token_fetch_serves_app_and_appchat(dispatcher, fake_wecom):
    await dispatcher.deliver("wecom_app", {"userids": ["a"]}, {"content": "1"}, "r1")
    await dispatcher.deliver("wecom_appchat", {"chatid": "c"}, {"text": "2"}, "r2")
    assert fake_wecom.gettoken_count == 1


@pytest.mark.parametrize(
    ("transport", "cleared", "variables"),
    [
        ("wecom_app", ["wecom_secret"], ["GRIDBOT_WECOM_SECRET"]),
        (
            "wecom_appchat",
            ["wecom_corp_id", "wecom_agent_id"],
            ["GRIDBOT_WECOM_CORP_ID", "GRIDBOT_WECOM_AGENT_ID"],
        ),
        ("bridge", ["bridge_outbound_url"], ["GRIDBOT_BRIDGE_OUTBOUND_URL"]),
        ("wechat", ["wechat_appid", "wechat_secret"], ["GRIDBOT_WECHAT_APPID"]),
    ],
)
async def test_missing_configuration_is_permanent(
    fake_wecom, fake_bridge, http_session, transport, cleared, variables
):
    settings = dataclasses.replace(
        configured(fake_wecom, fake_bridge), **{name: None for name in cleared}
    )
    dispatcher = Dispatcher(settings, http_session)
    assert not dispatcher.is_configured(transport)
    target = {
        "wecom_app": {"userids": ["a"]},
        "wecom_appchat": {"chatid": "c"},
        "bridge": {"chat_id": "c"},
        "wechat": {"openid": "o"},
    }[transport]
    with pytest.raises(PermanentSendError, match="not configured") as info:
        await dispatcher.deliver(transport, target, {"text": "x", "content": "x"}, "r")
    for variable in variables:
        assert variable in info.value.reason
    assert fake_wecom.requests == []
    assert fake_bridge.requests == []


async def test_default_settings_configure_only_the_robot(http_session):
    dispatcher = Dispatcher(Settings(), http_session)
    assert [t for t in TRANSPORTS if dispatcher.is_configured(t)] == ["wecom_robot"]


async def test_non_numeric_agent_id_is_permanent(fake_wecom, fake_bridge, http_session):
    settings = dataclasses.replace(configured(fake_wecom, fake_bridge), wecom_agent_id="app")
    dispatcher = Dispatcher(settings, http_session)
    with pytest.raises(PermanentSendError, match="GRIDBOT_WECOM_AGENT_ID"):
        await dispatcher.deliver("wecom_app", {"userids": ["a"]}, {"content": "x"}, "r")


async def test_unknown_transport_is_permanent(dispatcher):
    with pytest.raises(PermanentSendError, match="unknown transport"):
        await dispatcher.deliver("fax", {}, {}, "r")


@pytest.mark.parametrize(
    ("transport", "target", "payload"),
    [
        ("wecom_app", {}, {"content": "x"}),
        ("wecom_app", {"userids": ["a"]}, {"msgtype": "textcard", "title": "t"}),
        ("wecom_app", {"userids": ["a"]}, {"msgtype": "video"}),
        ("wecom_app", {"userids": "a"}, {"content": ""}),
        ("wecom_robot", {}, {"text": "x"}),
        ("wecom_appchat", {"chatid": "c"}, {}),
        ("bridge", {"chat_id": ""}, {"text": "x"}),
        ("bridge", {"chat_id": "c"}, {"text": "x", "mention_ids": 5}),
        ("wechat", {"openid": "o"}, {"text": None}),
    ],
)
async def test_malformed_rows_are_permanent(dispatcher, fake_wecom, transport, target, payload):
    with pytest.raises(PermanentSendError):
        await dispatcher.deliver(transport, target, payload, "r")
    assert fake_wecom.messages == []


async def test_transient_failures_pass_through(dispatcher, fake_wecom, fake_bridge):
    fake_bridge.fail_next(1, 503)
    with pytest.raises(TransientSendError):
        await dispatcher.deliver("bridge", {"chat_id": "c"}, {"text": "x"}, "r")
    fake_wecom.fail_next(1, 500, path=WEBHOOK_SEND)
    with pytest.raises(TransientSendError):
        await dispatcher.deliver("wecom_robot", {"webhook_key": "k"}, {"text": "x"}, "r")


async def test_partly_invalid_users_are_in_the_result(fake_bridge, http_session):
    async with FakeWeCom(users=["zhangwg"]) as wecom:
        dispatcher = Dispatcher(configured(wecom, fake_bridge), http_session)
        result = await dispatcher.deliver(
            "wecom_app", {"userids": ["zhangwg", "left-the-job"]}, {"content": "x"}, "r"
        )
    assert result["invalid_users"] == ["left-the-job"]


async def test_dispatcher_without_a_session_opens_and_closes_its_own(fake_wecom, fake_bridge):
    dispatcher = Dispatcher(configured(fake_wecom, fake_bridge))
    await dispatcher.deliver("wecom_robot", {"webhook_key": "k"}, {"text": "x"}, "r")
    session = dispatcher._session
    assert session is not None and not session.closed
    await dispatcher.close()
    assert session.closed
    await dispatcher.close()


async def test_close_leaves_a_shared_session_open(dispatcher, http_session):
    await dispatcher.close()
    assert not http_session.closed


async def test_timeout_set_after_construction_applies(dispatcher, fake_wecom):
    await dispatcher.deliver("wecom_app", {"userids": ["a"]}, {"content": "warm"}, "r")
    dispatcher.timeout = 0.5
    fake_wecom.hang_next(1, 5.0, path=MESSAGE_SEND)
    with pytest.raises(TransientSendError, match="0.5"):
        await dispatcher.deliver("wecom_app", {"userids": ["a"]}, {"content": "x"}, "r")


async def test_a_push_to_someone_known_only_by_wechat_is_given_up_naming_them(
        fake_wecom, fake_bridge, dispatcher):
    """A push to a person the org file gives no wecom_userid is not dropped in silence: its
    row is written and given up at once, saying whom the org file leaves unreachable."""
    from datetime import UTC, datetime

    from bot.addressing import Addressing
    from domain.decisions import Send, ToPerson
    from tests.handlers.support import ORG, VOLUNTEER

    addressing = Addressing(configured(fake_wecom, fake_bridge))
    row = addressing.outbox_row(Send(ToPerson(VOLUNTEER), "工单 #{id} 交给您处理", {}), 7, ORG,
                                "k", datetime.now(UTC))
    assert row is not None and row["transport"] == "wecom_app"
    assert row["target"]["userids"] == []
    with pytest.raises(PermanentSendError, match="党员刘师傅 has no wecom_userid"):
        await dispatcher.deliver(row["transport"], row["target"], row["payload"], "r")
    assert fake_wecom.sent_to(MESSAGE_SEND) == []
