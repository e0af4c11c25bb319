"""The Open311 GeoReport v2 endpoints under /open311/v2 (and service discovery at
/open311/discovery.{json,xml}).

Every resource answers in the format its path ends with, errors included, in the spec's
error format with the HTTP status the spec names: 403 for a missing or wrong `api_key`, 404
for what does not exist, 400 for any other request that cannot be fulfilled (413 for a body
over the limit, 405 with `Allow` for a method a resource does not have, 503 when reports
cannot be stored right now). Reading needs no key, as the spec says; submitting a report
needs one of `GRIDBOT_OPEN311_KEYS`.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import and_, select

from bot.api import RUNTIME
from bot.ingest import IntakeRefused, IntakeUnavailable
from bot.open311 import intake
from bot.open311.documents import Open311Error, answer, error_answer
from bot.open311.requests import (
    BEIJING,
    service_definition,
    service_list,
    service_notice,
    service_request,
    statuses_of,
)
from domain.org import OrgMap
from handlers import texts
from handlers.open311 import CHANNEL, SERVICE_CODES
from storage.inbound import message_key
from storage.models import Building, District, InboundRecord, Ticket

log = logging.getLogger("gridbot.open311")

BASE = "/open311/v2"
MAX_REQUESTS = 1000  # the spec's default query limit
MAX_SPAN = timedelta(days=90)
MAX_IDS = 200
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-01"  # when the service list or definitions last changed
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

Handler = Callable[[web.Request, str], Awaitable[web.Response]]


def _format_of(path: str) -> str:
    """The format a path asks for; XML (the spec's required one) when it names none."""
    return "json" if path.endswith(".json") else "xml"


def _resource(methods: dict[str, Handler]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """One resource: its methods (HEAD with GET), errors in the spec's format."""
    allowed = sorted(set(methods) | ({"HEAD"} if "GET" in methods else set()))

    async def handle(request: web.Request) -> web.Response:
        fmt = request.match_info.get("fmt") or _format_of(request.path)
        method = "GET" if request.method == "HEAD" else request.method
        handler = methods.get(method)
        try:
            if handler is None:
                raise Open311Error(405, f"{request.method} 不适用于这个地址；可用："
                                        + "、".join(allowed) + "。",
                                   headers={"Allow": ", ".join(allowed)})
            return await handler(request, fmt)
        except Open311Error as exc:
            return error_answer(fmt, [exc])
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return error_answer(fmt, [Open311Error(500, "服务内部出错，请稍后再试。")])

    return handle


# ------------------------------------------------------------------ services


async def _services(request: web.Request, fmt: str) -> web.Response:
    org = await request.app[RUNTIME].org.get()
    _jurisdiction(request.query, org)
    return answer(fmt, "services", service_list(org))


async def _definition(request: web.Request, fmt: str) -> web.Response:
    org = await request.app[RUNTIME].org.get()
    _jurisdiction(request.query, org)
    code = request.match_info["code"]
    if code not in SERVICE_CODES:
        raise Open311Error(404, f"没有 service_code 为“{code[:40]}”的服务。")
    return answer(fmt, "service_definition", service_definition(code))


def _jurisdiction(query: Any, org: OrgMap) -> set[int] | None:
    value = (query.get("jurisdiction_id") or "").strip()
    if len(value) > 100:
        raise Open311Error(404, "没有这个 jurisdiction_id（街道）。")
    return intake.jurisdiction_streets(org, value or None)


# ------------------------------------------------------------------ reports


def _key_accepted(given: str | None, keys: Sequence[str]) -> bool:
    if not given:
        return False
    return any(hmac.compare_digest(given.encode(), key.encode()) for key in keys)


async def _form(request: web.Request) -> list[tuple[str, str]]:
    if request.content_type not in FORM_TYPES:
        raise Open311Error(400, "请求体须是 application/x-www-form-urlencoded 表单"
                                "（GeoReport v2 规定的格式）。")
    try:
        if request.content_type == FORM_TYPES[0]:
            # Decoded strictly: aiohttp's own reading would turn bytes that are no UTF-8
            # into replacement characters, and a report of "��" into a ticket.
            body = (await request.read()).decode("utf-8")
            return parse_qsl(body, keep_blank_values=True, encoding="utf-8", errors="strict")
        form: MultiDictProxy[Any] = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise Open311Error(413, "请求体太大。") from None
    except ValueError:
        raise Open311Error(400, "表单无法解析（须是 UTF-8）。") from None
    pairs = []
    for name, value in form.items():
        if not isinstance(value, str):
            raise Open311Error(400, f"{name[:40]} 是文件；图片请用 media_url 给出地址。")
        pairs.append((name, value))
    return pairs


async def _post_request(request: web.Request, fmt: str) -> web.Response:
    runtime = request.app[RUNTIME]
    pairs = await _form(request)
    given = next((v for k, v in pairs if k == "api_key"), None) or request.query.get("api_key")
    if not _key_accepted(given, runtime.settings.open311_keys):
        raise Open311Error(403, "api_key 缺失或无效，不能提交报告。"
                                "Missing or invalid api_key -- can't create the request.")
    query_pairs = [(k, v) for k, v in request.query.items()
                   if k == "jurisdiction_id" and not any(n == k for n, _ in pairs)]
    org = await runtime.org.get()
    report = intake.read_report(org, pairs + query_pairs,
                                wechat_connected=runtime.settings.wechat_enabled)
    msg_id = uuid.uuid4().hex
    message = intake.stored_message(report, msg_id, int(time.time()))
    try:
        await runtime.intake.store(message)
    except IntakeRefused as exc:
        raise Open311Error(400, f"报告无法保存：{exc.reason}") from None
    except (IntakeUnavailable, OSError) as exc:
        log.warning("could not store an Open311 report: %s", exc)
        raise Open311Error(503, "暂时无法接收报告，请稍后重试。") from None
    async with runtime.sessions() as session:
        inbound_id = await session.scalar(select(InboundRecord.id).where(
            InboundRecord.msg_key == message_key(CHANNEL, message.chat_id, msg_id)))
    heard = (texts.OPEN311_HEARD_IN_GROUP.format(group=report.group.name or report.group.chat_id)
             if report.group is not None
             else texts.OPEN311_HEARD_ON_WECHAT if report.openid is not None
             else texts.OPEN311_HEARD_NOWHERE)
    notice = service_notice(org.sla_for(report.building.id), report.service_code) + heard
    return answer(fmt, "service_requests", [
        {"token": f"{inbound_id}-{msg_id}", "service_notice": notice,
         "account_id": report.account_id}])


async def _token(request: web.Request, fmt: str) -> web.Response:
    """GET tokens/{token}: the service request a report made, once it is handled (until
    then `service_request_id` is empty); 404 for a token nobody was given, or a report
    gridbot could not make a ticket of (the description says why)."""
    token = request.match_info["token"]
    inbound_id, _, msg_id = token.partition("-")
    row = None
    if inbound_id.isascii() and inbound_id.isdigit() and len(inbound_id) < 19 and msg_id:
        async with request.app[RUNTIME].sessions() as session:
            row = await session.get(InboundRecord, int(inbound_id))
    if (row is None or row.channel != CHANNEL
            or not hmac.compare_digest(row.msg_id.encode(), msg_id.encode())):
        raise Open311Error(404, "没有这个 token。")
    ticket_id = (row.decision or {}).get("ticket_id")
    if ticket_id is None and row.status in ("done", "failed"):
        why = (row.decision or {}).get("reason") or row.error or ""
        raise Open311Error(404, f"这份报告没有生成工单：{why}"[:300])
    return answer(fmt, "service_requests", [{"service_request_id": ticket_id, "token": token}])


# ------------------------------------------------------------------ requests


def _moment(query: Any, name: str) -> datetime | None:
    value = (query.get(name) or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if len(value) <= 40 else None
    except ValueError:
        parsed = None
    if parsed is None or not 1970 <= parsed.year < 9999:
        raise Open311Error(400, f"{name} 须是 1970 至 9998 年间 w3 格式的时间，"
                                f"如 2026-11-01T00:00:00+08:00。")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=BEIJING)).astimezone(UTC)


def _choices(query: Any, name: str, allowed: Sequence[str]) -> list[str] | None:
    value = (query.get(name) or "").strip()
    if not value:
        return None
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    wrong = [part for part in chosen if part not in allowed]
    if wrong or not chosen:
        raise Open311Error(400, f"{name} 只能是 {', '.join(allowed)}（可用逗号分隔多个）。")
    return chosen


def _ids(query: Any) -> list[int] | None:
    value = (query.get("service_request_id") or "").strip()
    if not value:
        return None
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if (not parts or len(parts) > MAX_IDS
            or not all(p.isascii() and p.isdigit() and len(p) < 19 for p in parts)):
        raise Open311Error(400, f"service_request_id 须是逗号分隔的编号，最多 {MAX_IDS} 个。")
    return [int(p) for p in parts]


def _span(query: Any, now: datetime) -> tuple[datetime, datetime]:
    start, end = _moment(query, "start_date"), _moment(query, "end_date")
    if start is None and end is None:
        return now - MAX_SPAN, now
    if start is None:
        assert end is not None
        return end - MAX_SPAN, end
    if end is None:
        return start, start + MAX_SPAN
    if end < start:
        raise Open311Error(400, "end_date 早于 start_date。")
    if end - start > MAX_SPAN:
        raise Open311Error(400, "start_date 到 end_date 不能超过 90 天。")
    return start, end


async def _list_requests(request: web.Request, fmt: str) -> web.Response:
    runtime = request.app[RUNTIME]
    org = await runtime.org.get()
    query = request.query
    streets = _jurisdiction(query, org)
    ids = _ids(query)
    if ids is not None:  # "This overrides all other arguments."
        conditions = [Ticket.id.in_(ids)]
    else:
        codes = _choices(query, "service_code", SERVICE_CODES)
        wanted = _choices(query, "status", ("open", "closed"))
        start, end = _span(query, datetime.now(UTC))
        conditions = [Ticket.created_at >= start, Ticket.created_at <= end]
        if codes is not None:
            conditions.append(Ticket.category.in_(codes))
        if wanted is not None:
            conditions.append(Ticket.status.in_([s for w in wanted for s in statuses_of(w)]))
    statement = select(Ticket).where(and_(*conditions))
    if streets is not None:
        statement = (statement.join(Building, Ticket.building_id == Building.id)
                     .join(District, Building.district_id == District.id)
                     .where(District.street_id.in_(streets)))
    statement = statement.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(MAX_REQUESTS)
    async with runtime.sessions() as session:
        tickets = (await session.execute(statement)).scalars().all()
    return answer(fmt, "service_requests", [service_request(t, org) for t in tickets])


async def _get_request(request: web.Request, fmt: str) -> web.Response:
    runtime = request.app[RUNTIME]
    org = await runtime.org.get()
    streets = _jurisdiction(request.query, org)
    value = request.match_info["id"]
    ticket = None
    if value.isascii() and value.isdigit() and len(value) < 19:
        async with runtime.sessions() as session:
            ticket = await session.get(Ticket, int(value))
    if ticket is not None and streets is not None:
        street = org.street_of_building(ticket.building_id) if ticket.building_id else None
        ticket = ticket if street is not None and street.id in streets else None
    if ticket is None:
        raise Open311Error(404, f"没有编号为 {value[:20]} 的服务请求。")
    return answer(fmt, "service_requests", [service_request(ticket, org)])


# ------------------------------------------------------------------ discovery


async def _discovery(request: web.Request, fmt: str) -> web.Response:
    public = request.app[RUNTIME].settings.public_url
    return answer(fmt, "discovery", {
        "changeset": CHANGESET,
        "contact": texts.OPEN311_CONTACT,
        "key_service": texts.OPEN311_KEY_SERVICE,
        "endpoints": [{"specification": SPECIFICATION, "url": public + BASE,
                       "changeset": CHANGESET, "type": "production",
                       "formats": ["text/xml", "application/json"]}],
    })


async def _not_found(request: web.Request, fmt: str) -> web.Response:
    raise Open311Error(404, "没有这个地址。GeoReport v2 的地址有：services、services/{service_code}、"
                            "requests、requests/{service_request_id}、tokens/{token}，"
                            "以 .json 或 .xml 结尾。")


def open311_routes(app: web.Application) -> None:
    fmt = "{fmt:json|xml}"
    routes: list[tuple[str, dict[str, Handler]]] = [
        (f"/open311/discovery.{fmt}", {"GET": _discovery}),
        (f"{BASE}/services.{fmt}", {"GET": _services}),
        (f"{BASE}/services/{{code:[^/]+}}.{fmt}", {"GET": _definition}),
        (f"{BASE}/requests.{fmt}", {"GET": _list_requests, "POST": _post_request}),
        (f"{BASE}/requests/{{id:[^/]+}}.{fmt}", {"GET": _get_request}),
        (f"{BASE}/tokens/{{token:[^/]+}}.{fmt}", {"GET": _token}),
    ]
    for path, methods in routes:
        app.router.add_route("*", path, _resource(methods))
    catch_all = _resource({m: _not_found for m in ("GET", "POST", "PUT", "PATCH", "DELETE")})
    app.router.add_route("*", "/open311/{tail:.*}", catch_all)

