"""Open311 GeoReport v2 through the real endpoints, on SQLite and PostgreSQL: the spec's own
examples (the shapes of its requests and answers, JSON and XML), the filters, reports POSTed
with and without a key becoming routed tickets whose reporters hear progress where they
asked, the spec's errors, and XML that is safe both ways."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from sqlalchemy import func, select, update

from storage.models import InboundRecord, OutboxMessage, ReviewItem, Ticket
from tests.e2e.conftest import Spine, serve_spine

KEY = "open311-key-1"
#: What does not touch tickets runs on SQLite only; reports and tickets on both databases.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
V2 = "/open311/v2"

# The spec's example answers (wiki.open311.org/GeoReport_v2), as their element names. The
# spec's JSON writes codes as bare 001 (not JSON); their shapes are what is compared.
SPEC_SERVICE = ["service_code", "service_name", "description", "metadata", "type", "keywords",
                "group"]
SPEC_DEFINITION_ATTRIBUTE = ["variable", "code", "datatype", "required", "datatype_description",
                             "order", "description"]
SPEC_POST_ANSWER = ["service_request_id", "service_notice", "account_id"]
SPEC_TOKEN_ANSWER = ["service_request_id", "token"]
SPEC_REQUEST = ["service_request_id", "status", "status_notes", "service_name", "service_code",
                "description", "agency_responsible", "service_notice", "requested_datetime",
                "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                "lat", "long", "media_url"]
# gridbot knows buildings, not coordinates or postcodes, and keeps no picture apart.
ABSENT = {"zipcode", "lat", "long", "media_url"}
SPEC_POST_EXAMPLE = (
    "api_key=xyz&jurisdiction_id=city.gov&service_code=001&lat=37.76524078&long=-122.4212043"
    "&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111"
    "&account_id=123456&first_name=john&last_name=smith&phone=111111111"
    "&description=A+large+sinkhole+is+destroying+the+street"
    "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
    "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001")


@pytest_asyncio.fixture
async def spine(db_url: str, tmp_path: Path, nlu_model: Any) -> AsyncIterator[Spine]:
    """The e2e spine with Open311 keys configured."""
    async with serve_spine(db_url, tmp_path, nlu_model,
                           open311_keys=(KEY, "open311-key-2")) as served:
        yield served


def xml_of(body: bytes) -> ET.Element:
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>") or body.startswith(
        b'<?xml version="1.0" encoding="utf-8"?>'), body[:60]
    return ET.fromstring(body)


def names(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


async def get(spine: Spine, path: str, status: int = 200) -> Any:
    response = await spine.client.get(path)
    assert response.status == status, await response.text()
    if path.split("?")[0].endswith(".json"):
        assert response.content_type == "application/json" and response.charset == "utf-8"
        return await response.json()
    assert response.content_type == "text/xml" and response.charset == "utf-8"
    return xml_of(await response.read())


async def post(spine: Spine, fields: dict[str, str] | str, fmt: str = "json",
               status: int = 200) -> Any:
    body = fields if isinstance(fields, str) else urlencode(fields)
    response = await spine.client.post(
        f"{V2}/requests.{fmt}", data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert response.status == status, await response.text()
    return await response.json() if fmt == "json" else xml_of(await response.read())


def report(**over: str) -> dict[str, str]:
    fields = {"api_key": KEY, "service_code": "repair", "address_string": "3号楼",
              "description": "3号楼2单元楼道灯坏了好几天了，晚上黑漆漆的", "first_name": "阿姨",
              "last_name": "王", "phone": "13812345678"}
    fields.update(over)
    return {k: v for k, v in fields.items() if v != ""}


async def ticket_of(spine: Spine, token: str) -> int:
    await spine.settle()
    [answer] = await get(spine, f"{V2}/tokens/{token}.json")
    assert answer["token"] == token and isinstance(answer["service_request_id"], int)
    return int(answer["service_request_id"])


async def count(spine: Spine, model: Any) -> int:
    async with spine.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


# ------------------------------------------------------------------ services


@sqlite_only
async def test_services_have_the_spec_shape_in_both_formats(spine: Spine):
    services = await get(spine, f"{V2}/services.json")
    assert [s["service_code"] for s in services] == ["repair", "complaint", "wish", "dispute"]
    assert [s["service_name"] for s in services] == ["报修", "投诉", "微心愿", "矛盾纠纷"]
    for service in services:
        assert list(service) == SPEC_SERVICE
        assert service["metadata"] is True and service["type"] == "batch"
        assert service["description"] and service["group"] and service["keywords"]

    root = await get(spine, f"{V2}/services.xml")
    assert root.tag == "services" and names(root) == ["service"] * 4
    first = root[0]
    assert names(first) == SPEC_SERVICE
    assert first.findtext("service_code") == "repair" and first.findtext("metadata") == "true"
    assert first.findtext("description") == services[0]["description"]


@sqlite_only
async def test_a_service_definition_has_the_spec_shape(spine: Spine):
    definition = await get(spine, f"{V2}/services/repair.json")
    assert definition["service_code"] == "repair"
    assert [a["code"] for a in definition["attributes"]] == ["group", "openid"]
    for attribute in definition["attributes"]:
        assert list(attribute) == SPEC_DEFINITION_ATTRIBUTE
        assert attribute["variable"] is True and attribute["required"] is False
        assert attribute["datatype"] == "string"

    root = await get(spine, f"{V2}/services/dispute.xml")
    assert root.tag == "service_definition" and names(root) == ["service_code", "attributes"]
    attributes = root.find("attributes")
    assert attributes is not None and names(attributes) == ["attribute", "attribute"]
    assert names(attributes[0]) == SPEC_DEFINITION_ATTRIBUTE
    assert attributes[1].findtext("code") == "openid" and attributes[1].findtext("order") == "2"

    errors = await get(spine, f"{V2}/services/001.json", status=404)
    assert errors[0]["code"] == 404 and "001" in errors[0]["description"]


@sqlite_only
async def test_service_discovery_points_at_v2(spine: Spine):
    discovery = await get(spine, "/open311/discovery.json")
    assert list(discovery) == ["changeset", "contact", "key_service", "endpoints"]
    [endpoint] = discovery["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["formats"] == ["text/xml", "application/json"]
    root = await get(spine, "/open311/discovery.xml")
    formats = root.find("endpoints/endpoint/formats")
    assert formats is not None and [f.text for f in formats] == ["text/xml", "application/json"]


# ------------------------------------------------------------------ POST without a key


async def test_a_report_without_a_valid_key_is_refused_and_nothing_is_stored(spine: Spine):
    for fields in (report(api_key=""), report(api_key="wrong"), report(api_key=KEY + "x")):
        errors = await post(spine, fields, status=403)
        assert errors == [{"code": 403, "description": errors[0]["description"]}]
        assert "api_key" in errors[0]["description"]
    root = await post(spine, report(api_key="wrong"), fmt="xml", status=403)
    assert root.tag == "errors" and names(root) == ["error"]
    assert names(root[0]) == ["code", "description"] and root[0].findtext("code") == "403"
    assert await count(spine, InboundRecord) == 0


@sqlite_only
async def test_without_keys_configured_nobody_may_post(spine: Spine):
    spine.runtime.settings = replace(spine.settings, open311_keys=())
    await post(spine, report(), status=403)
    assert await count(spine, InboundRecord) == 0


# ------------------------------------------------------------------ POST with a key


async def test_the_spec_example_request_becomes_a_ticket(spine: Spine):
    """The spec's own POST body, with this estate's street, service and building put in."""
    body = (SPEC_POST_EXAMPLE.replace("api_key=xyz", f"api_key={KEY}")
            .replace("jurisdiction_id=city.gov", "jurisdiction_id=%E5%AE%9C%E5%B7%9D%E8%B7%AF"
                                                 "%E8%A1%97%E9%81%93")
            .replace("service_code=001", "service_code=repair")
            .replace("address_string=1234+5th+street", "address_string=3%E5%8F%B7%E6%A5%BC")
            .replace("attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001",
                     "attribute[group]=3%E5%8F%B7%E6%A5%BC%E4%B8%9A%E4%B8%BB%E7%BE%A4"))
    root = await post(spine, body, fmt="xml")
    assert root.tag == "service_requests" and names(root) == ["request"]
    # A token, since gridbot makes the ticket a moment later ("batch"): the spec says the
    # answer carries a token or a service_request_id, not both.
    assert names(root[0]) == ["token", "service_notice", "account_id"]
    assert root[0].findtext("account_id") == "123456"
    token = root[0].findtext("token")
    assert token and "办结时限 24 小时" in (root[0].findtext("service_notice") or "")

    ticket_id = await ticket_of(spine, token)
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "repair" and ticket["building"] == "3"
    assert ticket["assignee"] == "张网格" and ticket["reporter"] == "smithjohn"
    assert "A large sinkhole" in ticket["text"] and "111111111" in ticket["text"]
    assert "flickr.com" in ticket["text"] and "smit333@sfgov.edu" in ticket["text"]


async def test_a_posted_report_is_a_routed_ticket_whose_reporter_hears_in_the_group(spine: Spine):
    [answer] = await post(spine, report(**{"attribute[group]": "3号楼业主群"}))
    assert list(answer) == ["token", "service_notice", "account_id"]
    assert answer["account_id"] is None and "3号楼业主群" in answer["service_notice"]
    ticket_id = await ticket_of(spine, answer["token"])

    [push] = spine.pushes()
    assert push["touser"] == "zhangwg" and push["msgtype"] == "textcard"
    assert f"#{ticket_id}" in push["textcard"]["title"]
    assert "13812345678" in push["textcard"]["description"]  # staff can call back
    [reply] = spine.group_posts()
    assert f"#{ticket_id}" in reply["text"] and "王阿姨" in reply["text"]
    assert reply["mention_ids"] == []  # the reporter is nobody in the chat
    assert "13812345678" not in reply["text"]

    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "repair" and ticket["status"] == "new"
    assert ticket["reporter"] == "王阿姨" and ticket["grid"] == "第1网格"
    assert ticket["decision"]["outcome"] == "ticket_created"
    assert "Open311" in ticket["decision"]["reason"]

    # Progress reaches the group the reporter named.
    await spine.staff_say("zhangwg", f"接单 {ticket_id}")
    await spine.settle()
    posts = [p["text"] for p in spine.group_posts()]
    assert len(posts) == 2 and "接单" in posts[1] and "王阿姨" in posts[1]
    [request] = await get(spine, f"{V2}/requests/{ticket_id}.json")
    assert request["status"] == "open" and request["status_notes"] == "已接单（accepted）"


async def test_an_openid_hears_progress_on_the_official_account(spine: Spine):
    [answer] = await post(spine, report(**{"attribute[openid]": "oGridbotReporter0000000001"}))
    assert "公众号" in answer["service_notice"]
    ticket_id = await ticket_of(spine, answer["token"])
    [heard] = spine.oa_messages()
    assert heard["touser"] == "oGridbotReporter0000000001"
    assert f"#{ticket_id}" in heard["text"]["content"]
    assert spine.group_posts() == []

    await spine.staff_say("zhangwg", f"完成 {ticket_id} 已更换灯泡")
    await spine.settle()
    assert "已更换灯泡" in spine.oa_messages()[-1]["text"]["content"]
    [request] = await get(spine, f"{V2}/requests/{ticket_id}.json")
    assert request["status"] == "closed" and request["status_notes"] == "已办结待评价（resolved）"


async def test_a_report_without_a_channel_is_a_ticket_nobody_answers(spine: Spine):
    [answer] = await post(spine, report(email="wang@example.com"))
    assert "token" in answer["service_notice"]
    ticket_id = await ticket_of(spine, answer["token"])
    assert [p["touser"] for p in spine.pushes()] == ["zhangwg"]
    assert spine.group_posts() == [] and spine.oa_messages() == []
    async with spine.runtime.sessions() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
        ticket = await session.get(Ticket, ticket_id)
    assert [r.transport for r in rows] == ["wecom_app"]
    assert ticket is not None and ticket.reporter_channel == "open311"
    assert "wang@example.com" in ticket.text  # staff read it; the public does not
    [request] = await get(spine, f"{V2}/requests/{ticket_id}.json")
    assert "wang@example.com" not in request["description"]
    assert "13812345678" not in request["description"]


async def test_the_service_code_decides_the_category_and_a_disagreement_is_reviewed(spine: Spine):
    # Words the model reads as a repair, filed as a complaint on the form.
    [answer] = await post(spine, report(service_code="complaint",
                                        description="3号楼电梯坏了三天了，一直没人来修"))
    ticket_id = await ticket_of(spine, answer["token"])
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "complaint"
    assert ticket["decision"]["nlu"]["intent"]["name"] == "complaint"
    async with spine.runtime.sessions() as session:
        [item] = (await session.execute(select(ReviewItem))).scalars().all()
    assert item.predicted == "repair_request" and item.ticket_id == ticket_id


@sqlite_only
async def test_a_command_word_in_a_report_is_only_words(spine: Spine):
    [answer] = await post(spine, report(description="查询 1 楼道灯坏了，请派人来修"))
    ticket_id = await ticket_of(spine, answer["token"])
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "repair" and ticket["decision"]["outcome"] == "ticket_created"


async def test_a_token_before_and_after_processing(spine: Spine):
    [answer] = await post(spine, report())
    token = answer["token"]
    root = await get(spine, f"{V2}/tokens/{token}.xml")
    assert names(root[0]) == SPEC_TOKEN_ANSWER and root[0].findtext("service_request_id") == ""
    ticket_id = await ticket_of(spine, token)
    root = await get(spine, f"{V2}/tokens/{token}.xml")
    assert root.findtext("request/service_request_id") == str(ticket_id)
    inbound_id = token.split("-")[0]
    for wrong in (f"{inbound_id}-0000", "12345", "x-y", f"{int(inbound_id) + 1}-{token[-5:]}"):
        errors = await get(spine, f"{V2}/tokens/{wrong}.json", status=404)
        assert errors[0]["code"] == 404


# ------------------------------------------------------------------ GET requests


async def test_a_request_has_the_spec_shape_in_both_formats(spine: Spine):
    [answer] = await post(spine, report(description="3号楼门口的路灯不亮 <b>&amp;</b>"))
    ticket_id = await ticket_of(spine, answer["token"])
    [request] = await get(spine, f"{V2}/requests/{ticket_id}.json")
    assert list(request) == [f for f in SPEC_REQUEST if f not in ABSENT]
    assert request["service_request_id"] == ticket_id and request["service_code"] == "repair"
    assert request["service_name"] == "报修" and request["status"] == "open"
    assert request["status_notes"] == "待接单（new）"
    assert request["agency_responsible"] == "宜川路街道"
    assert request["address"] == "3号楼，第一居民区，宜川路街道"
    assert isinstance(request["address_id"], int)
    assert request["description"].startswith("3号楼门口的路灯不亮 <b>&amp;</b>")
    requested = datetime.fromisoformat(request["requested_datetime"])
    expected = datetime.fromisoformat(request["expected_datetime"])
    assert request["requested_datetime"].endswith("+08:00")
    assert expected - requested == timedelta(hours=24)
    assert "受理时限 2 小时" in request["service_notice"]

    root = await get(spine, f"{V2}/requests/{ticket_id}.xml")
    assert root.tag == "service_requests" and names(root) == ["request"]
    assert names(root[0]) == list(request)
    for field, value in request.items():
        assert root[0].findtext(field) == ("" if value is None else str(value)), field

    errors = await get(spine, f"{V2}/requests/999999.json", status=404)
    assert errors[0]["code"] == 404
    root = await get(spine, f"{V2}/requests/abc.xml", status=404)
    assert root.findtext("error/code") == "404"


async def make_tickets(spine: Spine) -> dict[str, int]:
    ids = {}
    for category, text in (("repair", "3号楼2单元楼道灯坏了好几天了"),
                           ("complaint", "楼下饭店油烟太大了，每天呛得不行"),
                           ("wish", "家里老人腿脚不便，想请人帮忙代买药品")):
        [answer] = await post(spine, report(service_code=category, description=text))
        ids[category] = await ticket_of(spine, answer["token"])
    await spine.staff_say("zhangwg", f"完成 {ids['repair']} 已修好")
    await spine.settle()
    return ids


def listed(requests: list[dict[str, Any]]) -> list[int]:
    return [r["service_request_id"] for r in requests]


async def test_filters(spine: Spine):
    ids = await make_tickets(spine)
    everything = await get(spine, f"{V2}/requests.json")
    assert listed(everything) == [ids["wish"], ids["complaint"], ids["repair"]]  # newest first

    assert listed(await get(spine, f"{V2}/requests.json?status=closed")) == [ids["repair"]]
    assert listed(await get(spine, f"{V2}/requests.json?status=open")) == [ids["wish"],
                                                                           ids["complaint"]]
    assert len(await get(spine, f"{V2}/requests.json?status=open,closed")) == 3
    assert listed(await get(spine, f"{V2}/requests.json?service_code=repair,wish")) == [
        ids["wish"], ids["repair"]]
    assert listed(await get(
        spine, f"{V2}/requests.json?service_code=complaint&status=closed")) == []
    # service_request_id overrides every other argument.
    chosen = await get(spine, f"{V2}/requests.json?service_request_id={ids['repair']},"
                              f"{ids['wish']}&status=closed&service_code=complaint")
    assert sorted(listed(chosen)) == sorted([ids["repair"], ids["wish"]])
    root = await get(spine, f"{V2}/requests.xml?service_code=wish")
    assert names(root) == ["request"] and root.findtext("request/service_code") == "wish"
    named = await get(spine, f"{V2}/requests.json?jurisdiction_id=宜川路街道")
    assert len(named) == 3

    # Dates: the requested_datetime within [start_date, end_date].
    async with spine.runtime.sessions() as session, session.begin():
        await session.execute(update(Ticket).where(Ticket.id == ids["repair"]).values(
            created_at=datetime(2026, 1, 10, 4, tzinfo=UTC)))
    january = await get(spine, f"{V2}/requests.json?start_date=2026-01-01T00:00:00%2B08:00"
                               "&end_date=2026-01-31T00:00:00Z")
    assert listed(january) == [ids["repair"]]
    assert listed(await get(spine, f"{V2}/requests.json?start_date=2026-01-10T12:00:00Z"
                                   "&end_date=2026-02-01T00:00:00Z")) == []
    assert listed(await get(spine, f"{V2}/requests.json?start_date=2026-01-01")) == [ids["repair"]]
    # Without dates: the last 90 days.
    assert ids["repair"] not in listed(await get(spine, f"{V2}/requests.json"))


@sqlite_only
async def test_bad_filters_are_400_in_the_spec_format(spine: Spine):
    for query in ("status=pending", "service_code=001", "start_date=yesterday",
                  "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
                  "start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
                  "service_request_id=1,abc", "service_request_id=%EF%BC%91"):
        errors = await get(spine, f"{V2}/requests.json?{query}", status=400)
        assert len(errors) == 1 and errors[0]["code"] == 400 and errors[0]["description"]
    root = await get(spine, f"{V2}/requests.xml?status=pending", status=400)
    assert root.tag == "errors" and root.findtext("error/code") == "400"
    errors = await get(spine, f"{V2}/requests.json?jurisdiction_id=city.gov", status=404)
    assert "city.gov" in errors[0]["description"]


@sqlite_only
async def test_a_disputes_words_are_not_published(spine: Spine):
    [answer] = await post(spine, report(service_code="dispute",
                                        description="楼上王某天天半夜跺脚，说了也不听，电话13900001111"))
    ticket_id = await ticket_of(spine, answer["token"])
    [request] = await get(spine, f"{V2}/requests/{ticket_id}.json")
    assert request["service_code"] == "dispute" and request["description"] == "矛盾纠纷的内容不公开。"


@sqlite_only
async def test_a_wishs_words_are_not_published(spine: Spine):
    [answer] = await post(spine, report(service_code="wish",
                                        description="我是3号楼101独居的孙阿婆，腿不好，想找人帮忙买菜"))
    ticket_id = await ticket_of(spine, answer["token"])
    [request] = await get(spine, f"{V2}/requests/{ticket_id}.json")
    assert request["service_code"] == "wish"
    assert request["description"] == "微心愿涉及居民个人情况，内容不公开。"
    listed = await get(spine, f"{V2}/requests.json?service_code=wish")
    assert all("孙阿婆" not in r["description"] for r in listed)


# ------------------------------------------------------------------ errors and safety


@sqlite_only
async def test_reports_the_spec_refuses(spine: Spine):
    cases = [
        (report(service_code=""), 400, "service_code"),
        (report(service_code="001"), 404, "001"),
        (report(address_string=""), 400, "address_string"),
        (report(address_string="", lat="31.25", long="121.42"), 400, "经纬度"),
        (report(address_string="99号楼"), 400, "99号楼"),
        (report(address_string="", address_id="999999"), 404, "address_id"),
        (report(description=""), 400, "description"),
        (report(description="灯坏了" * 1400), 400, "description"),
        (report(jurisdiction_id="city.gov"), 404, "city.gov"),
        (report(**{"attribute[WHISPAWN]": "123456"}), 400, "WHISPAWN"),
        (report(**{"attribute[group]": "不存在的群"}), 400, "不存在的群"),
        (report(**{"attribute[openid]": "not an openid!"}), 400, "openid"),
        (report(media_url="javascript:alert(1)"), 400, "media_url"),
    ]
    for fields, status, named in cases:
        errors = await post(spine, fields, status=status)
        assert errors[0]["code"] == status and named in errors[0]["description"], errors
    # bytes that are no UTF-8, percent-encoded or raw: not a report of replacement characters
    not_utf8 = urlencode(report(description="")) + "&description=%FF%FE"
    errors = await post(spine, not_utf8, status=400)
    assert "UTF-8" in errors[0]["description"]
    response = await spine.client.post(
        f"{V2}/requests.json", data=urlencode(report(description="")).encode()
        + b"&description=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 400 and "UTF-8" in (await response.json())[0]["description"]
    assert await count(spine, InboundRecord) == 0


@sqlite_only
async def test_unknown_paths_and_methods_answer_in_the_spec_format(spine: Spine):
    errors = await get(spine, f"{V2}/nothing.json", status=404)
    assert errors[0]["code"] == 404
    root = await get(spine, f"{V2}/requests.html", status=404)
    assert root.findtext("error/code") == "404"
    response = await spine.client.delete(f"{V2}/requests.json")
    assert response.status == 405 and "POST" in response.headers["Allow"]
    assert (await response.json())[0]["code"] == 405
    response = await spine.client.post(f"{V2}/services.xml")
    assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"


async def test_xml_out_escapes_and_drops_what_xml_cannot_hold(spine: Spine):
    text = "楼道灯坏了 </description><x>&lt; ]]> \x01\x08 \"' 🙂"
    [answer] = await post(spine, report(description=text))
    ticket_id = await ticket_of(spine, answer["token"])
    root = await get(spine, f"{V2}/requests/{ticket_id}.xml")
    assert names(root) == ["request"]
    description = root.findtext("request/description") or ""
    assert description.startswith("楼道灯坏了 </description><x>&lt; ]]>  \"' 🙂")
    [request] = await get(spine, f"{V2}/requests/{ticket_id}.json")
    assert request["description"].replace("\x01\x08", "") == description


@sqlite_only
async def test_xml_in_is_never_parsed(spine: Spine):
    """A POST must be a form; an XML body, entity bombs included, is refused unread."""
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            '<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            '<request><api_key>' + KEY + '</api_key><description>&lol2;&xxe;</description>'
            '</request>')
    for content_type in ("text/xml", "application/xml"):
        response = await spine.client.post(f"{V2}/requests.xml", data=bomb.encode(),
                                           headers={"Content-Type": content_type})
        assert response.status == 400
        root = xml_of(await response.read())
        assert "x-www-form-urlencoded" in (root.findtext("error/description") or "")
    assert await count(spine, InboundRecord) == 0


@sqlite_only
async def test_a_body_over_the_limit_is_413(spine: Spine):
    fields = report(description="灯" * 10)
    fields["padding"] = "x" * 70_000
    errors = await post(spine, fields, status=413)
    assert errors[0]["code"] == 413
    assert await count(spine, InboundRecord) == 0


@sqlite_only
async def test_errors_are_json_when_the_path_says_json(spine: Spine):
    response = await spine.client.get(f"{V2}/services/nope.json")
    assert response.status == 404 and response.content_type == "application/json"
    body = json.loads(await response.text())
    assert body == [{"code": 404, "description": body[0]["description"]}]
