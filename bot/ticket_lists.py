"""A ticket list as the console and the API ask for it: filters, free-text search, the
assignee, sorting, always within the viewer's scope; and the same list as CSV.

Query parameters (`GET /api/v1/tickets` and `GET /api/v1/tickets.csv` alike): `status`,
`category` (one or several, comma-separated), `building`, `grid`, `since`, `q` (free text:
every word in the ticket's text, reporter name or location; a number finds that ticket),
`assignee` (an account — wecom_userid or wechat_id —, `me` or `none`) and `sort` (`id`,
`created`, `updated`, `deadline`, `status`, `category`, `building`; `-` before it for
descending; default `-id`, the newest first). `status` and `category` may also be given
several times (the same as the comma form); the others once. Any other parameter is refused
(`bot.params.known_query`, with `FILTERS` and what the route adds: `limit`, `offset`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from bot import params
from bot.auth.viewer import Viewer, ticket_conditions
from bot.reports.scope import viewer_scope
from domain.org import OrgMap
from domain.tickets import CATEGORIES, STATUSES
from handlers import texts
from storage import ticket_search
from storage import tickets as ticket_queries
from storage.models import Ticket
from storage.stats import spans_streets
from storage.ticket_counts import CityFilter
from storage.ticket_pages import TicketSort

MAX_SEARCH_CHARS = 100
MAX_ACCOUNT_CHARS = 100
MAX_SORT_CHARS = 40
SORTS = (*ticket_search.SORT_KEYS, *(f"-{key}" for key in ticket_search.SORT_KEYS))
BEIJING = timezone(timedelta(hours=8))
#: The query parameters `read_list` reads (the list routes add their paging).
FILTERS = ("status", "category", "building", "grid", "since", "q", "assignee", "sort")


@dataclass(frozen=True, slots=True)
class TicketList:
    conditions: list[Any]
    sort: TicketSort
    #: The same list as a whole city's filtered by status, category and time alone, whose
    #: tickets are counted from `ticket_counts` (None: another list, counted row by row).
    city: CityFilter | None = None
    #: A person's list as disjoint parts (conditions each an index serves, whose union is
    #: the list), to count its tickets part by part (None: counted as the conditions say).
    parts: list[list[Any]] | None = None
    #: Whether the conditions hold a free-text search (`q`), which only the tickets' rows
    #: can answer (`storage.tickets.list_tickets` reads a person's matches once).
    searched: bool = False


#: The ranks of the latest org map's buildings (a city's 90,000 take 0.1 s to sort).
_ranked: list[tuple[OrgMap, dict[int, int]]] = []


def building_ranks(org: OrgMap) -> dict[int, int]:
    """Buildings in the order people number them: by district, then 3 before 12."""
    if _ranked and _ranked[0][0] is org:
        return _ranked[0][1]

    def key(building_id: int) -> tuple[int, int, int, str]:
        b = org.buildings[building_id]
        number = b.number
        numeric = number.isascii() and number.isdigit() and len(number) <= 9
        return (b.district_id, 0 if numeric else 1, int(number) if numeric else 0, number)

    ranks = {bid: n for n, bid in enumerate(sorted(org.buildings, key=key))}
    _ranked[:] = [(org, ranks)]
    return ranks


def read_list(query: Mapping[str, str], viewer: Viewer, org: OrgMap) -> TicketList:
    """The conditions and order a request's query asks for, kept to the viewer's scope."""
    building, grid = params.query_name(query, "building"), params.query_name(query, "grid")
    status = params.query_choices(query, "status", STATUSES)
    category = params.query_choices(query, "category", CATEGORIES)
    since = params.query_since(query)
    conditions = ticket_queries.ticket_filters(
        status=status, category=category,
        building_ids=[b.id for b in org.buildings_by_number(building)] if building else None,
        grid_ids=org.grid_ids_matching(grid) if grid else None,
        since=since,
    )
    city = (CityFilter(status.split(",") if status else None,
                       category.split(",") if category else None, since)
            if viewer.is_token and not building and not grid else None)
    scope = None if viewer.is_token else viewer_scope(viewer, org)
    words = params.query_text(query, "q", MAX_SEARCH_CHARS)
    if words:
        # A person's tickets within one street are few enough to test each for the words.
        few = scope is not None and not spans_streets(org, scope)
        conditions += ticket_search.search_conditions(words, few=few)
        # The whole city searched for words of two characters, alone or with a status,
        # category and time, is counted per piece, or from their bits, as are longer words
        # once their tickets are kept (PostgreSQL).
        pieces, phrases = ticket_search.counted_words(words)
        city = (replace(city, pieces=pieces, phrases=phrases)
                if city is not None and (pieces or phrases) else None)
    assignee = params.query_text(query, "assignee", MAX_ACCOUNT_CHARS)
    if assignee:
        conditions += _assignee(assignee, viewer, org)
        city = None
    sort = params.query_text(query, "sort", MAX_SORT_CHARS) or "-id"
    if sort not in SORTS:
        raise params.BadRequest(f"sort must be one of {', '.join(SORTS)}")
    key = sort.lstrip("-")
    order = TicketSort(key, sort.startswith("-"),
                       building_ranks(org) if key == "building" else {}, walk=viewer.is_token)
    parts = None if scope is None else [[*part, *conditions] for part in scope.parts()]
    return TicketList(conditions + ticket_conditions(viewer, org), order, city, parts,
                      searched=bool(words))


def _assignee(value: str, viewer: Viewer, org: OrgMap) -> list[Any]:
    if value == "none":
        return ticket_search.assignee_conditions(None, unassigned=True)
    if value == "me":
        if viewer.person_id is None:  # the admin token is nobody's
            raise params.BadRequest("assignee=me needs a signed-in person; the admin token "
                                    "holds no tickets (name an account, or none)")
        return ticket_search.assignee_conditions(viewer.person_id)
    person = org.person_by_wecom(value) or org.person_by_wechat(value)
    return ticket_search.assignee_conditions(person.id if person is not None else None)


# ---------------------------------------------------------------- CSV
# `mask`: phone numbers masked, for those who only read (`bot.auth.viewer.reads_only`, the
# rule every answer of the API follows).

CSV_COLUMNS = ("编号", "类别", "状态", "紧急度", "调解层级", "楼栋", "网格", "处理人", "吹哨部门",
               "反映人", "位置", "内容", "升级次数", "接单时限", "办结时限", "报到时限", "创建时间",
               "接单时间", "办结时间", "关闭时间", "评价")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _beijing(moment: datetime | None) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if moment else ""


def _cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_row(ticket: Ticket, org: OrgMap, mask: bool) -> list[str]:
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    grid = org.grid(ticket.grid_id) if ticket.grid_id is not None else None
    assignee = org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
    department = org.department(ticket.department_id) if ticket.department_id else None

    def said(value: str | None) -> str | None:
        return texts.mask_phones(value) if mask and value else value

    values = (
        ticket.id, texts.CATEGORY_NAMES.get(ticket.category, ticket.category),
        texts.STATUS_NAMES.get(ticket.status, ticket.status),
        texts.URGENCY_NAMES.get(ticket.urgency, ticket.urgency),
        texts.TIER_NAMES.get(ticket.tier, ticket.tier) if ticket.tier else "",
        f"{building.number}号楼" if building else "", grid.name if grid else "",
        assignee.name if assignee else "", department.name if department else "",
        said(ticket.reporter_name), said(ticket.location), said(ticket.text),
        ticket.escalation_level, _beijing(ticket.accept_due_at), _beijing(ticket.resolve_due_at),
        _beijing(ticket.respond_due_at), _beijing(ticket.created_at),
        _beijing(ticket.accepted_at), _beijing(ticket.resolved_at), _beijing(ticket.closed_at),
        ticket.rating if ticket.rating is not None else "",
    )
    return [_cell(v) for v in values]


def csv_bytes(tickets: Iterable[Ticket], org: OrgMap, mask: bool) -> bytes:
    """UTF-8 with a byte order mark (so that Excel reads the Chinese), CRLF line ends,
    times in Beijing time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for ticket in tickets:
        writer.writerow(csv_row(ticket, org, mask))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


__all__: Sequence[str] = ["FILTERS", "TicketList", "building_ranks", "csv_bytes", "read_list"]
