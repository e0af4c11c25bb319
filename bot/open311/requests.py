"""gridbot's tickets as GeoReport v2 service requests, and the services they belong to.

- `service_code` is the ticket's category (repair, complaint, wish, dispute), `service_name`
  its Chinese name.
- `status` is `open` while someone still has to act (new, accepted, in progress, reopened)
  and `closed` once it is resolved, closed or cancelled (the spec: "closed: it has been
  resolved"); `status_notes` says the rich status in words with its code ("已办结待评价
  （resolved）"), escalations, a whistled department and the rating.
- `requested_datetime` is when the ticket was made, `updated_datetime` its last change (for
  a closed request when it was resolved, closed or cancelled), `expected_datetime` its
  resolve deadline; all in Beijing time with the offset, as the spec's w3 format asks.
- `address` is the building ("3号楼，第一居民区，宜川路街道": most specific first),
  `address_id` gridbot's building id, `agency_responsible` the street; `lat`, `long` and
  `zipcode` are absent: gridbot knows buildings, not coordinates.
- `description` is what the resident wrote with phone numbers and e-mail addresses masked
  (these answers need no key); a dispute's words are not published at all.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from domain.org import OrgMap
from domain.sla import Sla
from domain.tickets import OPEN_STATUSES, Category
from handlers import texts
from handlers.open311 import SERVICE_CODES
from storage.models import Ticket

BEIJING = timezone(timedelta(hours=8))
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def w3(moment: datetime | None) -> str | None:
    """A moment in the spec's w3 format, Beijing time: 2026-11-22T16:00:00+08:00."""
    if moment is None:
        return None
    return moment.astimezone(BEIJING).replace(microsecond=0).isoformat()


def open_or_closed(status: str) -> str:
    return "open" if status in OPEN_STATUSES else "closed"


def statuses_of(wanted: str) -> tuple[str, ...]:
    """gridbot's statuses behind an Open311 status."""
    from domain.tickets import STATUSES

    return tuple(s for s in STATUSES if open_or_closed(s) == wanted)


def _hours(seconds: int) -> str:
    if seconds % 86400 == 0 and seconds > 2 * 86400:
        return f"{seconds // 86400} 天"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} 小时"
    return f"{max(1, seconds // 60)} 分钟"


def service_notice(sla: Sla, category: str, urgency: str = "normal") -> str:
    """What the street promises for a service: its deadlines."""
    resolve = _hours(sla.resolve_seconds(category, urgency))
    if category == Category.WISH:
        return texts.OPEN311_NOTICE_WISH.format(resolve=resolve)
    return texts.OPEN311_NOTICE.format(accept=_hours(sla.accept_seconds(urgency)),
                                       resolve=resolve)


def service_list(org: OrgMap) -> list[dict[str, Any]]:
    """GET services: one service per ticket category."""
    services = []
    for code in SERVICE_CODES:
        name, description, group, keywords = texts.OPEN311_SERVICES[code]
        services.append({"service_code": code, "service_name": name,
                         "description": description, "metadata": True, "type": "batch",
                         "keywords": keywords, "group": group})
    return services


def service_definition(code: str) -> dict[str, Any]:
    """GET services/{code}: the attributes a report may give, none of them required."""
    return {"service_code": code, "attributes": [
        {"variable": True, "code": "group", "datatype": "string", "required": False,
         "datatype_description": texts.OPEN311_GROUP_HINT, "order": 1,
         "description": texts.OPEN311_GROUP_ATTRIBUTE},
        {"variable": True, "code": "openid", "datatype": "string", "required": False,
         "datatype_description": texts.OPEN311_OPENID_HINT, "order": 2,
         "description": texts.OPEN311_OPENID_ATTRIBUTE},
    ]}


#: What the public feed says instead of the words of a category it does not publish.
WITHHELD = {Category.DISPUTE: texts.OPEN311_DISPUTE_WITHHELD,
            Category.WISH: texts.OPEN311_WISH_WITHHELD}


def public_text(text: str) -> str:
    """What a resident wrote, as anyone may read it: phones and e-mail addresses masked."""
    return _EMAIL.sub("***@***", texts.mask_phones(text))


def address_of(org: OrgMap, building_id: int | None) -> str | None:
    building = org.building(building_id) if building_id is not None else None
    if building is None:
        return None
    district = org.district(building.district_id)
    street = org.street(district.street_id) if district is not None else None
    parts = [f"{building.number}号楼", district.name if district else None,
             street.name if street else None]
    return "，".join(p for p in parts if p)


def _status_notes(ticket: Ticket, org: OrgMap) -> str:
    note = texts.OPEN311_STATUS_NOTE.format(
        status=texts.STATUS_NAMES.get(ticket.status, ticket.status), code=ticket.status)
    if ticket.escalation_level:
        note += texts.OPEN311_ESCALATED_NOTE.format(level=ticket.escalation_level)
    department = org.department(ticket.department_id) if ticket.department_id else None
    if department is not None:
        note += texts.OPEN311_WHISTLED_NOTE.format(department=department.name)
    if ticket.rating is not None:
        note += texts.OPEN311_RATED_NOTE.format(rating=ticket.rating)
    return note


def _updated(ticket: Ticket) -> datetime:
    if ticket.status == "closed" and ticket.closed_at is not None:
        return ticket.closed_at
    if ticket.status == "resolved" and ticket.resolved_at is not None:
        return ticket.resolved_at
    return ticket.updated_at


def service_request(ticket: Ticket, org: OrgMap) -> dict[str, Any]:
    """One ticket as a service request, its fields in the spec's order."""
    street = org.street_of_building(ticket.building_id) if ticket.building_id else None
    # Anyone may read the feed: a dispute's words name its parties, a wish's a person in
    # need and where they live ("3号楼101独居的孙阿婆，腿不好").
    withheld = WITHHELD.get(ticket.category)
    return {
        "service_request_id": ticket.id,
        "status": open_or_closed(ticket.status),
        "status_notes": _status_notes(ticket, org),
        "service_name": texts.CATEGORY_NAMES.get(ticket.category, ticket.category),
        "service_code": ticket.category,
        "description": withheld or public_text(ticket.text),
        "agency_responsible": street.name if street is not None else None,
        "service_notice": service_notice(org.sla_for(ticket.building_id), ticket.category,
                                         ticket.urgency),
        "requested_datetime": w3(ticket.created_at),
        "updated_datetime": w3(_updated(ticket)),
        "expected_datetime": w3(ticket.resolve_due_at),
        "address": address_of(org, ticket.building_id),
        "address_id": ticket.building_id,
    }
