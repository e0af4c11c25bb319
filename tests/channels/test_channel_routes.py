"""The aiohttp endpoints: answers, disabled channels, storage failures and size limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.channels import InboundMessage
from bot.channels.routes import ChannelSet, channel_routes
from bot.channels.wechat_side import (
    official_account_verify_query,
    wecom_app_verify_query,
    wecom_bot_verify_query,
)

from . import test_channel_bridge as bridge_tests
from . import test_channel_official_account as oa_tests
from . import test_channel_wecom as wecom_tests
from ._support import (
    APP_KEY,
    APP_TOKEN,
    BOT_KEY,
    BOT_TOKEN,
    BRIDGE_SECRET,
    CORP_ID,
    NOW,
    OA_APPID,
    OA_KEY,
    OA_TOKEN,
    Case,
    bridge,
    oa_plain,
    oa_safe,
    wecom_app,
    wecom_bot,
)

MAX_SIZE = 64 * 1024


class Recorder:
    """A fake ingest: remembers messages and reports repeats as duplicates."""

    def __init__(self, fail: bool = False) -> None:
        self.messages: list[InboundMessage] = []
        self.fail = fail

    async def __call__(self, msg: InboundMessage) -> bool:
        if self.fail:
            raise RuntimeError("database is down")
        duplicate = any((m.channel, m.msg_id) == (msg.channel, msg.msg_id) for m in self.messages)
        self.messages.append(msg)
        return duplicate


def all_channels() -> ChannelSet:
    return ChannelSet(
        wechat=oa_safe(), wecom_app=wecom_app(), wecom_bot=wecom_bot(), bridge=bridge()
    )


MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[TestClient] = []

    async def make(channels: ChannelSet | None = None, ingest=None) -> TestClient:
        app = web.Application(client_max_size=MAX_SIZE)
        channel_routes(app, all_channels() if channels is None else channels, ingest or Recorder())
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


# -- good requests ----------------------------------------------------------------------------


def good_posts() -> list[tuple[str, str, dict, bytes]]:
    """(channel, path, query-or-headers, body) of one good message per channel."""
    return [
        ("wechat", "/wechat", *oa_tests.safe_request()),
        ("wecom_app", "/wecom/app", *wecom_tests.app_request()),
        ("wecom_bot", "/wecom/bot", *wecom_tests.bot_request()),
        ("bridge", "/bridge", *bridge_tests.request()),
    ]


async def post(client: TestClient, channel: str, path: str, meta: dict, body: bytes):
    if channel == "bridge":
        return await client.post(path, headers=meta, data=body)
    return await client.post(path, params=meta, data=body)


EXPECTED_TEXT = {"wechat": "success", "wecom_app": "", "wecom_bot": ""}


@pytest.mark.parametrize("good", good_posts(), ids=lambda g: g[0])
async def test_each_endpoint_accepts_a_good_message(make_client: MakeClient, good) -> None:
    ingest = Recorder()
    client = await make_client(ingest=ingest)
    channel, path, meta, body = good
    resp = await post(client, channel, path, meta, body)
    assert resp.status == 200
    if channel == "bridge":
        assert await resp.json() == {"accepted": True, "duplicate": False}
    else:
        assert await resp.text() == EXPECTED_TEXT[channel]
    assert [m.channel for m in ingest.messages] == [channel]


@pytest.mark.parametrize("good", good_posts(), ids=lambda g: g[0])
async def test_redelivery_reaches_ingest_as_the_same_message(make_client: MakeClient, good) -> None:
    ingest = Recorder()
    client = await make_client(ingest=ingest)
    channel, path, meta, body = good
    first = await post(client, channel, path, meta, body)
    second = await post(client, channel, path, meta, body)
    assert first.status == second.status == 200
    if channel == "bridge":
        assert await second.json() == {"accepted": True, "duplicate": True}
    assert len(ingest.messages) == 2
    assert ingest.messages[0].msg_id == ingest.messages[1].msg_id


VERIFY = [
    (
        "/wechat",
        lambda: official_account_verify_query(OA_TOKEN, "echo-oa", timestamp=NOW),
        "echo-oa",
    ),
    (
        "/wecom/app",
        lambda: wecom_app_verify_query(CORP_ID, APP_TOKEN, APP_KEY, "echo-app", timestamp=NOW),
        "echo-app",
    ),
    (
        "/wecom/bot",
        lambda: wecom_bot_verify_query(BOT_TOKEN, BOT_KEY, "echo-bot", timestamp=NOW),
        "echo-bot",
    ),
]


@pytest.mark.parametrize("path, query, echo", VERIFY, ids=lambda v: v if isinstance(v, str) else "")
async def test_url_verification(make_client: MakeClient, path: str, query, echo: str) -> None:
    ingest = Recorder()
    client = await make_client(ingest=ingest)
    resp = await client.get(path, params=query())
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    assert await resp.text() == echo
    assert ingest.messages == []


@pytest.mark.parametrize("path", ["/wechat", "/wecom/app", "/wecom/bot"])
async def test_url_verification_refused(make_client: MakeClient, path: str) -> None:
    client = await make_client()
    resp = await client.get(
        path,
        params={
            "msg_signature": "x",
            "signature": "x",
            "timestamp": str(NOW),
            "nonce": "1",
            "echostr": "e",
        },
    )
    assert resp.status == 403
    assert (await resp.json())["error"] == "The signature does not match."


# -- channels that are off --------------------------------------------------------------------


@pytest.mark.parametrize("good", good_posts(), ids=lambda g: g[0])
async def test_disabled_channel_is_404(make_client: MakeClient, good) -> None:
    ingest = Recorder()
    client = await make_client(ChannelSet(), ingest)
    channel, path, meta, body = good
    resp = await post(client, channel, path, meta, body)
    assert resp.status == 404
    assert await resp.json() == {"error": "channel not configured"}
    if channel != "bridge":
        resp = await client.get(path, params=meta)
        assert resp.status == 404
        assert await resp.json() == {"error": "channel not configured"}
    assert ingest.messages == []


async def test_only_the_disabled_channel_is_off(make_client: MakeClient) -> None:
    channels = all_channels()
    channels.wecom_bot = None
    client = await make_client(channels)
    assert (await post(client, *good_posts()[2])).status == 404
    assert (await post(client, *good_posts()[3])).status == 200


# -- storage failures -------------------------------------------------------------------------


@pytest.mark.parametrize("good", good_posts(), ids=lambda g: g[0])
async def test_ingest_failure_is_503(make_client: MakeClient, good) -> None:
    client = await make_client(ingest=Recorder(fail=True))
    resp = await post(client, *good)
    assert resp.status == 503
    assert await resp.json() == {"error": "temporarily unavailable"}


# -- bad requests -----------------------------------------------------------------------------


def bad_posts() -> list[tuple[str, str, Case]]:
    rows = []
    for case in oa_tests.safe_bad_cases():
        rows.append(("wechat", "/wechat", case))
    for case in wecom_tests.app_bad_cases():
        rows.append(("wecom_app", "/wecom/app", case))
    for case in wecom_tests.bot_bad_cases():
        rows.append(("wecom_bot", "/wecom/bot", case))
    for case in bridge_tests.bad_cases():
        rows.append(("bridge", "/bridge", case))
    return rows


@pytest.mark.parametrize("row", bad_posts(), ids=lambda r: f"{r[0]}: {r[2][0]}")
async def test_bad_request_is_refused_and_not_ingested(make_client: MakeClient, row) -> None:
    channel, path, (_name, meta, body, status) = row
    ingest = Recorder()
    client = await make_client(ingest=ingest)
    resp = await post(client, channel, path, meta, body)
    assert resp.status == status
    payload = await resp.json()
    assert isinstance(payload["error"], str) and payload["error"]
    assert ingest.messages == []


async def test_server_keeps_serving_after_bad_requests(make_client: MakeClient) -> None:
    ingest = Recorder()
    client = await make_client(ingest=ingest)
    for channel, path, (_name, meta, body, _status) in bad_posts():
        resp = await post(client, channel, path, meta, body)
        assert 400 <= resp.status < 500
        resp.release()
    assert ingest.messages == []
    for good in good_posts():
        resp = await post(client, *good)
        assert resp.status == 200
    assert [m.channel for m in ingest.messages] == ["wechat", "wecom_app", "wecom_bot", "bridge"]


# -- size limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("good", good_posts(), ids=lambda g: g[0])
async def test_oversized_body_is_413(make_client: MakeClient, good) -> None:
    ingest = Recorder()
    client = await make_client(ingest=ingest)
    channel, path, meta, body = good
    resp = await post(client, channel, path, meta, body + b" " * MAX_SIZE)
    assert resp.status == 413
    assert "larger than" in (await resp.json())["error"]
    assert ingest.messages == []


@pytest.mark.parametrize("good", good_posts(), ids=lambda g: g[0])
async def test_oversized_chunked_body_is_413(make_client: MakeClient, good) -> None:
    ingest = Recorder()
    client = await make_client(ingest=ingest)
    channel, path, meta, body = good

    async def chunks():
        yield body
        for _ in range(20):
            yield b" " * 8192

    if channel == "bridge":
        resp = await client.post(path, headers=meta, data=chunks())
    else:
        resp = await client.post(path, params=meta, data=chunks())
    assert resp.status == 413
    assert ingest.messages == []


async def test_bridge_get_is_not_allowed(make_client: MakeClient) -> None:
    client = await make_client()
    assert (await client.get("/bridge")).status == 405


# -- wiring from settings ---------------------------------------------------------------------


def _settings(**values) -> SimpleNamespace:
    names = [
        "wechat_token",
        "wechat_aes_key",
        "wechat_appid",
        "wecom_corp_id",
        "wecom_token",
        "wecom_aes_key",
        "wecom_agent_id",
        "wecom_bot_token",
        "wecom_bot_aes_key",
        "bridge_secret",
    ]
    return SimpleNamespace(**{name: values.get(name) for name in names})


def test_channel_set_from_settings() -> None:
    assert ChannelSet.from_settings(_settings()).enabled() == []
    channels = ChannelSet.from_settings(
        _settings(
            wechat_token=OA_TOKEN,
            wechat_appid=OA_APPID,
            wechat_aes_key=OA_KEY,
            wecom_corp_id=CORP_ID,
            wecom_token=APP_TOKEN,
            wecom_aes_key=APP_KEY,
            wecom_bot_token=BOT_TOKEN,
            wecom_bot_aes_key=BOT_KEY,
            bridge_secret=BRIDGE_SECRET,
        )
    )
    assert channels.enabled() == ["wechat", "wecom_app", "wecom_bot", "bridge"]
    assert channels.wechat is not None and channels.wechat.safe_mode
    plain = ChannelSet.from_settings(_settings(wechat_token=OA_TOKEN, wechat_appid=OA_APPID))
    assert plain.wechat is not None and not plain.wechat.safe_mode
    half = ChannelSet.from_settings(_settings(wecom_corp_id=CORP_ID, wecom_token=APP_TOKEN))
    assert half.wecom_app is None


def test_channel_set_from_real_settings() -> None:
    config = pytest.importorskip("bot.config")
    settings = config.Settings.from_env(
        {
            "GRIDBOT_BRIDGE_SECRET": BRIDGE_SECRET,
            "GRIDBOT_WECOM_BOT_TOKEN": BOT_TOKEN,
            "GRIDBOT_WECOM_BOT_AES_KEY": BOT_KEY,
        },
        dotenv=Path("/nonexistent/.env"),
    )
    assert ChannelSet.from_settings(settings).enabled() == ["wecom_bot", "bridge"]


def test_malformed_key_names_the_variable() -> None:
    with pytest.raises(ValueError, match="GRIDBOT_WECOM_BOT_AES_KEY"):
        ChannelSet.from_settings(_settings(wecom_bot_token="t", wecom_bot_aes_key="short"))


@pytest.mark.parametrize("case", oa_tests.plain_bad_cases(), ids=lambda c: c[0])
async def test_plain_mode_bad_requests_are_not_ingested(
    make_client: MakeClient, case: Case
) -> None:
    _name, query, body, status = case
    ingest = Recorder()
    client = await make_client(ChannelSet(wechat=oa_plain()), ingest)
    resp = await client.post("/wechat", params=query, data=body)
    assert resp.status == status
    assert "error" in await resp.json()
    assert ingest.messages == []
    good = await client.post(
        "/wechat", params=oa_tests.plain_request()[0], data=oa_tests.plain_request()[1]
    )
    assert good.status == 200 and await good.text() == "success"
    assert len(ingest.messages) == 1


class _Broken:
    def parse(self, query, body):  # a channel with a bug
        raise KeyError("oops")

    def verify_url(self, query):
        return "ok"


async def test_unexpected_parse_error_is_a_400_and_not_ingested(make_client: MakeClient) -> None:
    ingest = Recorder()
    client = await make_client(ChannelSet(wechat=_Broken()), ingest)  # type: ignore[arg-type]
    resp = await client.post("/wechat", data=b"<xml/>")
    assert resp.status == 400
    assert await resp.json() == {"error": "The request could not be read."}
    assert ingest.messages == []
