"""Voice and pictures, end to end through the real endpoints (signed and encrypted as WeChat,
WeCom and a bridge send them), against the fake WeCom server serving media, on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from bot.channels import wechat_side
from bot.media import MAX_BYTES
from storage.models import Attachment, InboundRecord
from tests.e2e.conftest import AES_APP, AES_BOT, AES_OA, BRIDGE_SECRET, Spine

OA_RESIDENT = "oResidentVoice"


def png(seed: int = 0) -> bytes:
    """A real, tiny PNG (one pixel)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    pixel = zlib.compress(bytes([0, seed % 256, 0, 0]))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", pixel) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100 + b"\xff\xd9"


def ticket_id_in(text: str) -> int:
    match = re.search(r"#(\d+)", text)
    assert match, text
    return int(match.group(1))


async def oa_post(spine: Spine, fields: dict[str, Any]) -> Any:
    query, body = wechat_side.official_account_request(
        spine.settings.wechat_token, AES_OA, spine.wecom.appid, fields)
    response = await spine.client.post("/wechat", params=query, data=body)
    assert response.status == 200, await response.text()
    return response


async def robot_post(spine: Spine, payload: dict[str, Any]) -> None:
    query, body = wechat_side.wecom_bot_request(spine.settings.wecom_bot_token, AES_BOT, payload)
    response = await spine.client.post("/wecom/bot", params=query, data=body)
    assert response.status == 200, await response.text()


async def staff_picture(spine: Spine, userid: str, media_id: str) -> None:
    fields = wechat_side.wecom_image_fields(userid, media_id, spine.wecom.corp_id,
                                            spine.wecom.agent_id)
    query, body = wechat_side.wecom_app_request(
        spine.wecom.corp_id, spine.settings.wecom_token, AES_APP, fields)
    response = await spine.client.post("/wecom/app", params=query, data=body)
    assert response.status == 200, await response.text()


_bridge_ids = iter(range(1, 10**6))


async def bridge_picture(spine: Spine, url: str, *, text: str | None = None,
                         sender: str = "wxid_res1") -> None:
    payload: dict[str, Any] = {"msg_id": f"pic{next(_bridge_ids)}", "chat_id": "b3@chatroom",
                               "sender_id": sender, "sender_name": "王阿姨",
                               "image_url": url, "sent_at": 1763800000}
    if text is not None:
        payload["text"] = text
    headers, body = wechat_side.bridge_request(BRIDGE_SECRET, payload)
    response = await spine.client.post("/bridge", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def pictures_of(spine: Spine, ticket_id: int) -> list[bytes]:
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    found = []
    for attachment in ticket["attachments"]:
        assert attachment["kind"] == "image"
        response = await spine.client.get(attachment["url"], headers=spine.auth)
        assert response.status == 200
        found.append(await response.read())
    return found


async def loose_pictures(spine: Spine) -> int:
    async with spine.runtime.sessions() as session:
        return len((await session.execute(
            select(Attachment.id).where(Attachment.ticket_id.is_(None)))).all())


# -- voice --------------------------------------------------------------------------------------


async def test_oa_voice_with_recognition_is_a_report_that_keeps_its_media_id(spine: Spine):
    await oa_post(spine, wechat_side.oa_voice_fields(
        OA_RESIDENT, "voice-media-1", recognition="3号楼电梯坏了，有人被困在里面"))
    await spine.settle()

    answer = spine.oa_messages()[-1]
    assert answer["touser"] == OA_RESIDENT
    ticket_id = ticket_id_in(answer["text"]["content"])
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "repair" and ticket["building"] == "3"
    assert "被困" in ticket["text"]
    assert ticket["voice_media_id"] == "voice-media-1"
    assert [p["touser"] for p in spine.pushes()] == ["zhangwg"]

    # A command said aloud works as typed (recognition's full stop and all).
    await oa_post(spine, wechat_side.oa_voice_fields(OA_RESIDENT, "voice-media-9",
                                                     recognition=f"查询{ticket_id}。"))
    await spine.settle()
    assert spine.oa_messages()[-1]["text"]["content"].startswith(f"#{ticket_id} 报修")


async def test_oa_voice_without_recognition_gets_a_kind_answer_and_no_ticket(spine: Spine):
    await oa_post(spine, wechat_side.oa_voice_fields(OA_RESIDENT, "voice-media-2"))
    await spine.settle()

    answer = spine.oa_messages()[-1]["text"]["content"]
    assert "语音" in answer and "打字" in answer and "楼组长" in answer
    assert (await spine.api("/api/v1/tickets"))["total"] == 0


async def test_wecom_robot_voice_is_read_like_typed_text(spine: Spine):
    await robot_post(spine, wechat_side.bot_voice_payload(
        "lisi", "@gridbot 3号楼楼道灯坏了好几天了", chatid="wrOgAAAA3"))
    await spine.settle()

    tickets = (await spine.api("/api/v1/tickets"))["tickets"]
    assert len(tickets) == 1 and tickets[0]["category"] == "repair"
    assert f"#{tickets[0]['id']}" in spine.robot_posts()[-1]["text"]["content"]


async def test_robot_voice_without_text_is_answered_only_because_it_mentions_gridbot(
        spine: Spine):
    await robot_post(spine, wechat_side.bot_voice_payload("lisi", "", chatid="wrOgAAAA3"))
    await spine.settle()
    assert "打字" in spine.robot_posts()[-1]["text"]["content"]


# -- pictures -----------------------------------------------------------------------------------


async def test_bridge_picture_after_a_report_is_attached_and_its_handler_told(spine: Spine):
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    posts_before = len(spine.group_posts())

    await bridge_picture(spine, spine.wecom.picture_url("leak.png", png(1), "image/png"))
    await spine.settle()

    assert await pictures_of(spine, ticket_id) == [png(1)]
    assert len(spine.group_posts()) == posts_before  # nothing said into the group
    card = spine.pushes()[-1]
    assert card["touser"] == "zhangwg" and card["msgtype"] == "textcard"
    assert f"#{ticket_id}" in card["textcard"]["title"]
    assert card["textcard"]["url"].endswith(f"/t/{ticket_id}")
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["events"][-1]["kind"] == "photo"
    listed = (await spine.api("/api/v1/tickets"))["tickets"][0]
    assert listed["attachments"] == ticket["attachments"]

    # A second picture goes to the ticket too; its handler is not told of each one.
    pushes = len(spine.pushes())
    await bridge_picture(spine, spine.wecom.picture_url("leak2.png", png(8), "image/png"))
    await spine.settle()
    assert await pictures_of(spine, ticket_id) == [png(1), png(8)]
    assert len(spine.pushes()) == pushes


async def test_a_picture_before_the_report_attaches_once_the_ticket_exists(spine: Spine):
    await bridge_picture(spine, spine.wecom.picture_url("before.jpg", JPEG))
    await spine.settle()
    assert (await spine.api("/api/v1/tickets"))["total"] == 0
    assert spine.group_posts() == []
    assert await loose_pictures(spine) == 1

    await spine.bridge_say("3号楼水管漏水了，水一直往下滴")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    assert await pictures_of(spine, ticket_id) == [JPEG]
    assert await loose_pictures(spine) == 0
    card = spine.pushes()[-1]["textcard"]
    assert "现场照片 1 张" in card["description"] and card["url"].endswith(f"/t/{ticket_id}")


async def test_a_picture_alone_makes_no_ticket_and_no_reply(spine: Spine):
    await bridge_picture(spine, spine.wecom.picture_url("cat.png", png(2), "image/png"),
                         sender="wxid_cat")
    await spine.settle()
    assert (await spine.api("/api/v1/tickets"))["total"] == 0
    assert spine.group_posts() == [] and spine.pushes() == []
    # Someone else's report does not take it.
    await spine.bridge_say("3号楼门禁坏了刷卡进不去")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    assert await pictures_of(spine, ticket_id) == []


async def test_bridge_text_with_image_url_is_one_report_with_its_picture(spine: Spine):
    await bridge_picture(spine, spine.wecom.picture_url("pipe.png", png(3), "image/png"),
                         text="3号楼地下室水管爆了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    assert await pictures_of(spine, ticket_id) == [png(3)]


async def test_oa_picture_after_a_voice_report_comes_from_its_picurl(spine: Spine):
    await oa_post(spine, wechat_side.oa_voice_fields(
        OA_RESIDENT, "voice-media-3", recognition="3号楼电梯坏了"))
    await spine.settle()
    ticket_id = ticket_id_in(spine.oa_messages()[-1]["text"]["content"])
    answers = len(spine.oa_messages())

    await oa_post(spine, wechat_side.oa_image_fields(
        OA_RESIDENT, spine.wecom.picture_url("oa.jpg", JPEG), "oa-media-1"))
    await spine.settle()
    assert await pictures_of(spine, ticket_id) == [JPEG]
    assert len(spine.oa_messages()) == answers


async def test_wecom_robot_picture_is_decrypted_and_attached(spine: Spine):
    await spine.robot_say("lisi", "wrOgAAAA3", "@gridbot 3号楼楼道里堆满了杂物，消防通道都堵了")
    await spine.settle()
    ticket_id = (await spine.api("/api/v1/tickets"))["tickets"][0]["id"]

    sealed = wechat_side.encrypt_robot_file(AES_BOT, png(4))
    url = spine.wecom.picture_url("robot.bin", sealed, "application/octet-stream")
    await robot_post(spine, wechat_side.bot_image_payload("lisi", url, chatid="wrOgAAAA3"))
    await spine.settle()
    assert await pictures_of(spine, ticket_id) == [png(4)]


async def test_too_big_or_not_a_picture_is_refused_and_said_on_the_ticket(spine: Spine):
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])

    await bridge_picture(spine, spine.wecom.picture_url("page.html", b"<html>hi</html>"))
    await bridge_picture(spine, spine.wecom.picture_url(
        "huge.jpg", b"\xff\xd8\xff" + b"\x00" * MAX_BYTES))
    # One sender's messages in one chat are handled in turn, each picture fetched before
    # its batch's transaction.
    for _ in range(2):
        batch = await spine.runtime.processor.pending()
        assert len(batch) == 1
        assert len(await spine.runtime.processor.process_many(batch)) == 1
    await spine.settle()

    assert await pictures_of(spine, ticket_id) == []
    events = (await spine.api(f"/api/v1/tickets/{ticket_id}"))["events"]
    failures = [e["text"] for e in events if e["kind"] == "photo_failed"]
    assert len(failures) == 2
    assert any("不是" in f for f in failures) and any("10 MB" in f for f in failures)


async def test_a_source_that_is_down_is_tried_again_and_the_picture_not_lost(spine: Spine):
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])

    url = spine.wecom.picture_url("later.png", png(5), "image/png")
    spine.wecom.fail_all(503, path="/pictures/later.png")
    await bridge_picture(spine, url)
    pending = await spine.runtime.processor.pending()
    assert len(pending) == 1
    await spine.runtime.processor.process_many(pending)
    async with spine.runtime.sessions() as session:
        message = await session.get(InboundRecord, pending[0])
        assert message is not None
        assert message.status == "received" and "503" in (message.error or "")
    assert await pictures_of(spine, ticket_id) == []

    spine.wecom.clear_faults()
    async with spine.runtime.sessions() as session, session.begin():  # its retry falls due
        await session.execute(update(InboundRecord).where(InboundRecord.id == pending[0])
                              .values(next_attempt_at=datetime.now(UTC)))
    await spine.settle()
    assert await pictures_of(spine, ticket_id) == [png(5)]


async def test_attachment_url_needs_the_token_or_a_session_with_scope(spine: Spine):
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    await bridge_picture(spine, spine.wecom.picture_url("scope.png", png(6), "image/png"))
    await spine.settle()
    url = (await spine.api(f"/api/v1/tickets/{ticket_id}"))["attachments"][0]["url"]

    nobody = await spine.client.get(url)
    assert nobody.status == 401
    assert (await spine.client.get(url, headers={"Authorization": "Bearer wrong"})).status == 401

    async def signed_in(userid: str) -> Any:
        code = spine.wecom.oauth_code(userid)
        spine.client.session.cookie_jar.clear()
        start = await spine.client.get(f"/t/{ticket_id}", allow_redirects=False)
        state = re.search(r"state=([^&#]+)", start.headers["Location"]).group(1)
        done = await spine.client.get(f"/auth/wecom?code={code}&state={state}",
                                      allow_redirects=False)
        assert done.status == 302, await done.text()
        return await spine.client.get(url)

    own = await signed_in("zhangwg")  # the ticket's grid worker
    assert own.status == 200 and await own.read() == png(6)
    assert own.headers["Content-Type"] == "image/png"
    outsider = await signed_in("zhaozr")  # a mediator: not their ticket
    assert outsider.status in (403, 404)


async def test_workers_picture_after_done_reaches_the_resident(spine: Spine):
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    await spine.staff_say("zhangwg", f"完成 {ticket_id} 已更换灯泡")
    await spine.settle()

    spine.wecom.add_media("done-media-1", png(7), "image/png")
    await staff_picture(spine, "zhangwg", "done-media-1")
    await spine.settle()

    post = spine.group_posts()[-1]
    assert post["mention_ids"] == ["wxid_res1"] and f"#{ticket_id}" in post["text"]
    link = re.search(r"https?://\S+(/p/\S+)", post["text"]).group(1)
    shared = await spine.client.get(link)
    assert shared.status == 200 and await shared.read() == png(7)
    assert png(7) in await pictures_of(spine, ticket_id)
    assert (await spine.client.get("/p/not-a-token")).status == 404
    # media/get was asked with the app's access token.
    asked = [r for r in spine.wecom.requests if r.path == "/cgi-bin/media/get"]
    assert asked and asked[0].query["media_id"] == "done-media-1"
    assert asked[0].query["access_token"].startswith("tok-")


async def test_an_unknown_media_id_is_answered_by_errcode_and_the_worker_told(spine: Spine):
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    await spine.staff_say("zhangwg", f"完成 {ticket_id} 已更换灯泡")
    await spine.settle()

    await staff_picture(spine, "zhangwg", "no-such-media")
    await spine.settle()
    told = spine.pushes()[-1]
    assert told["touser"] == "zhangwg" and "照片没能保存" in told["text"]["content"]
    assert await pictures_of(spine, ticket_id) == []


async def test_workers_picture_just_before_done_goes_with_the_residents_message(spine: Spine):
    await spine.bridge_say("3号楼2单元楼道灯坏了好几天了")
    await spine.settle()
    ticket_id = ticket_id_in(spine.group_posts()[-1]["text"])
    spine.wecom.add_media("before-done", png(9), "image/png")
    await staff_picture(spine, "zhangwg", "before-done")
    await spine.settle()
    assert await pictures_of(spine, ticket_id) == []  # not the worker's report: it waits

    await spine.staff_say("zhangwg", f"完成 {ticket_id} 已更换灯泡")
    await spine.settle()
    post = spine.group_posts()[-1]["text"]
    assert "已更换灯泡" in post and "完成后的照片" in post
    link = re.search(r"https?://\S+(/p/\S+)", post).group(1)
    shared = await spine.client.get(link)
    assert shared.status == 200 and await shared.read() == png(9)
    assert await pictures_of(spine, ticket_id) == [png(9)]
