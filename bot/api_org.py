"""The org map in the console: browse it, export it as an org file, import one.

- `GET /api/v1/org`: the streets the viewer works in (the token: all), each with its admins,
  departments, SLA and points, districts (admins, mediators per tier), grids (worker,
  leader, volunteers) and buildings (captain, chat groups, whether a robot posts there),
  and everyone of them with their roles. Phone numbers only for street admins and the
  token; robot webhook keys never.
- `GET /api/v1/org/export?street=…`: the street's org file as the database has it now
  (`storage.orgexport`), YAML that `gridbot org import` (or the import below) reads back to
  the same map. Street admins of that street and the token; it carries the robots' webhook
  keys, as the file imported did.
- `POST /api/v1/org/import` with `{"yaml": "…", "dry_run": false}`: the same import as
  `gridbot org import` (`storage.orgfile`), for street admins of the file's street and the
  token (a street gridbot does not know yet: the token only). Every error is answered at
  once with its line (400, `errors`); `dry_run` says what the import would change without
  changing it. A person may not import a file that no longer names them among the street's
  admins: they would lock themselves out. A file listing a chat group of another street's
  building is refused for everyone (409, `errors`); a street admin's import that would
  change a person who holds a role in another street (their name, ids or phone) is refused
  (403, `errors`), which the token may do. `notes` (also at the end of `lines`) say what the
  import keeps that the file leaves out and which open tickets people losing their role
  still hold.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot import params
from bot.api import RUNTIME
from bot.auth.viewer import Viewer, refuse, require_admin, require_viewer
from bot.ticket_lists import BEIJING
from domain.org import OrgMap, PersonInfo
from domain.tickets import TIERS
from handlers import texts
from handlers.streets import street_of_role
from storage.orgexport import NotAnOrgFile, org_file_of
from storage.orgfile import (
    OrgConflictError,
    OrgFile,
    OrgFileError,
    OrgScopeError,
    dump_org,
    format_duration,
    import_org,
    parse_org,
)

MAX_ORG_BYTES = 2 * 1024 * 1024
MAX_ORG_CHARS = MAX_ORG_BYTES
MAX_STREET_CHARS = 100


def viewer_streets(viewer: Viewer, org: OrgMap) -> list[int]:
    """The streets the viewer works in: every street for the token; for a person, the
    streets their roles lie in."""
    if viewer.is_token:
        return sorted(org.streets)
    person = org.person(viewer.person_id) if viewer.person_id is not None else None
    found = {street_of_role(org, r) for r in person.roles} if person is not None else set()
    found |= {org.departments[d].street_id for d in viewer.department_ids if d in org.departments}
    return sorted(s for s in found if s is not None and s in org.streets)


def _who(org: OrgMap, person_id: int | None, phones: bool) -> dict[str, Any] | None:
    person = org.person(person_id) if person_id is not None else None
    return _person(person, phones) if person is not None else None


def _person(person: PersonInfo, phones: bool) -> dict[str, Any]:
    found = {"id": person.id, "name": person.name, "wecom_userid": person.wecom_userid,
             "wechat_id": person.wechat_id}
    if phones:
        found["phone"] = person.phone
    return found


def street_json(org: OrgMap, street_id: int, phones: bool) -> dict[str, Any]:
    street = org.streets[street_id]
    districts = []
    for district in org.districts_of_street(street_id):
        grids = []
        for grid in org.grids_of_district(district.id):
            buildings = []
            for b in org.buildings_of_grid(grid.id):
                captains = org.captains_of(b.id)
                buildings.append({
                    "id": b.id, "number": b.number,
                    "captain": _who(org, captains[0] if captains else None, phones),
                    "groups": [{"channel": g.channel, "chat_id": g.chat_id, "name": g.name}
                               for g in org.groups_of_building(b.id)],
                    "robot": bool(b.webhook_key)})
            grids.append({
                "id": grid.id, "name": grid.name,
                "worker": _who(org, grid.worker_id, phones),
                "leader": _who(org, grid.leader_id, phones),
                "volunteers": [_who(org, p, phones) for p in org.volunteers_of(grid.id)],
                "buildings": buildings})
        districts.append({
            "id": district.id, "name": district.name,
            "admins": [_who(org, p, phones) for p in org.admins_of_district(district.id)],
            "mediators": [{"tier": t, "tier_name": texts.TIER_NAMES[t],
                           "people": [_who(org, p, phones)
                                      for p in org.mediators_of(district.id, t)]}
                          for t in TIERS if org.mediators_of(district.id, t)],
            "grids": grids})
    departments = []
    for d in sorted(org.departments.values(), key=lambda d: d.id):
        if d.street_id == street_id:
            person = org.person(d.person_id) if d.person_id is not None else None
            departments.append({
                "id": d.id, "name": d.name,
                "wecom_userid": person.wecom_userid if person is not None else None,
                "robot": bool(d.webhook_key), "respond": format_duration(d.respond_seconds)})
    return {"id": street.id, "name": street.name,
            "admins": [_who(org, p, phones) for p in org.admins_of_street(street_id)],
            "departments": departments, "sla": street.sla.to_dict(),
            "points": dict(street.points), "districts": districts}


async def browse(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    org = await runtime.org.get()
    streets = viewer_streets(viewer, org)
    phones = viewer.is_admin
    people = []
    for person in sorted(org.people.values(), key=lambda p: p.id):
        roles = [r for r in person.roles if street_of_role(org, r) in streets]
        if roles:
            people.append(_person(person, phones) | {"roles": [org.role_label(r) for r in roles]})
    return web.json_response({"streets": [street_json(org, s, phones) for s in streets],
                              "people": people})


def _street_asked(request: web.Request, viewer: Viewer, org: OrgMap) -> int:
    """The street the query names (`street`), or the viewer's only one; 403 for one they
    are not an admin of."""
    mine = sorted(org.streets) if viewer.is_token else sorted(viewer.street_ids)
    name = params.checked_text(request.query.get("street", "").strip(), "street",
                               MAX_STREET_CHARS)
    if name:
        found = [s.id for s in org.streets.values() if s.name == name]
        if not found:
            raise web.HTTPNotFound(text=json.dumps({"error": f"没有名为{name}的街道。"},
                                                   ensure_ascii=False),
                                   content_type="application/json")
        if found[0] not in mine:
            raise refuse(f"只有{name}的街道管理员可以导出它的组织文件。")
        return found[0]
    if len(mine) != 1:
        names = "、".join(org.streets[s].name for s in mine) or "无"
        raise params.BadRequest(f"请用 street 指明导出哪个街道（{names}）。"
                                f"Name the street to export.")
    return mine[0]


async def export(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    require_admin(viewer)
    org = await runtime.org.get()
    street_id = _street_asked(request, viewer, org)
    try:
        text = dump_org(org_file_of(org, street_id))
    except NotAnOrgFile as exc:
        return web.json_response({"error": f"不能导出：{exc}"}, status=409)
    when = datetime.now(UTC).astimezone(BEIJING)
    header = (f"# {org.streets[street_id].name} 组织文件，gridbot 于 {when:%Y-%m-%d %H:%M} "
              f"导出（北京时间）。导入：gridbot org import 文件名\n")
    name = f"org-{when:%Y%m%d}.yaml"
    return web.Response(text=header + text, content_type="text/yaml", charset="utf-8",
                        headers={"Content-Disposition": f"attachment; filename=\"{name}\"; "
                                 f"filename*=UTF-8''{quote(org.streets[street_id].name + '-' + name)}"})


def _names_viewer(viewer: Viewer, file: OrgFile) -> bool:
    """Whether the file keeps the viewer among its street's admins."""
    return any(viewer.account in (p.wecom_userid, p.wechat_id) for p in file.admins)


async def import_file(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    require_admin(viewer)
    body = await params.json_object(request, max_bytes=MAX_ORG_BYTES)
    params.only_fields(body, ("yaml", "dry_run"))
    text = params.json_text(body, "yaml", max_chars=MAX_ORG_CHARS)
    if not text or not text.strip():
        raise params.BadRequest('"yaml" must hold the org file (YAML text)')
    dry_run = params.json_flag(body, "dry_run")
    try:
        file = parse_org(text.removeprefix("\ufeff"))
    except OrgFileError as exc:
        return _file_errors(exc)
    org = await runtime.org.get()
    known = [s.id for s in org.streets.values() if s.name == file.street]
    if not viewer.is_token:
        if not known:
            raise refuse(f"gridbot 还没有{file.street}：新的街道只能用管理令牌导入。")
        if known[0] not in viewer.street_ids:
            raise refuse(f"只有{file.street}的街道管理员可以导入它的组织文件。")
        if not _names_viewer(viewer, file):
            return web.json_response({"error": f"文件的街道管理员（admins）里没有您（{viewer.name}）："
                                               f"导入后您将无法再管理{file.street}，未导入。"},
                                     status=409)
    scope = None if viewer.is_token else viewer.street_ids
    try:
        summary = await import_org(runtime.sessions, file, dry_run=dry_run, scope=scope)
    except OrgScopeError as exc:
        return _file_errors(exc, 403, f"文件会改动其他街道的人员，未导入。The file would change "
                                      f"{len(exc.errors)} person(s) who work in a street outside "
                                      f"yours; nothing was imported.")
    except OrgConflictError as exc:
        return _file_errors(exc, 409, f"文件里有属于其他街道的群，未导入。The file lists "
                                      f"{len(exc.errors)} chat group(s) of another street; "
                                      f"nothing was imported.")
    except OrgFileError as exc:
        return _file_errors(exc)
    if not dry_run and summary.changed:
        runtime.org.invalidate()
    return web.json_response({"street": file.street, "dry_run": dry_run,
                              "changed": summary.changed, "summary": str(summary),
                              "lines": summary.lines(), "notes": summary.notes})


def _file_errors(exc: OrgFileError, status: int = 400, error: str | None = None) -> web.Response:
    """The refusal with every error on its line (`errors`)."""
    return web.json_response({
        "error": error or f"组织文件有 {len(exc.errors)} 处错误，未导入。The org file has "
                          f"{len(exc.errors)} error(s); nothing was imported.",
        "errors": [{"line": line, "message": message} for line, message in exc.errors]},
        status=status)


def org_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/org", browse)
    app.router.add_get("/api/v1/org/export", export)
    app.router.add_post("/api/v1/org/import", import_file)
