"""The OpenAPI 3 description of /api/v1, served at GET /api/v1/openapi.json.

Every route of /api/v1 is described here, once: its parameters, its body and its answers
(`OPERATIONS`, grouped by the module that serves them). A test
(`tests/e2e/test_openapi.py`) fails when a route registered under /api/v1 is missing here
and names it, and runs schemathesis against the served description, so what is written
here stays what the API does. Adding a route: add an `Operation` below, with its
parameters as `bot.params` reads them (the same bounds, so that what the description
calls invalid is refused) and its answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.auth.sessions import COOKIE
from bot.params import MAX_ID, MAX_JSON_BYTES
from domain.tickets import CATEGORIES, STATUSES

VERSION = "1"
MAX_OFFSET = 10**9

# ------------------------------------------------------------------ schema helpers

Schema = dict[str, Any]


def obj(properties: Mapping[str, Schema], required: Iterable[str] = (), *,
        closed: bool = False, description: str | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
OBJECT: Schema = {"type": "object"}
TIME: Schema = {"type": "string", "format": "date-time"}
N_STR, N_INT, N_NUM, N_TIME, N_OBJECT = (nullable(s) for s in (STR, INT, NUM, TIME, OBJECT))


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def choices(values: Sequence[str]) -> Schema:
    """One value, or several separated by commas (`bot.params.query_choices`); empty: all."""
    one = "|".join(values)
    return {"type": "string", "pattern": f"^(({one})(,({one}))*)?$"}


def text(max_chars: int) -> Schema:
    """A text `bot.params.checked_text` accepts: bounded, no NUL."""
    return {"type": "string", "maxLength": max_chars, "pattern": "^[^\\u0000]*$"}


def bounded(low: int, high: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high}


# ------------------------------------------------------------------ operations


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "query" or "path"
    schema: Schema
    description: str
    required: bool = False

    def document(self) -> dict[str, Any]:
        document = {"name": self.name, "in": self.where, "required": self.required or
                    self.where == "path", "description": self.description, "schema": self.schema}
        if self.where == "query":
            # bot.params reads an empty value as an absent one (limit= is the default limit).
            document["allowEmptyValue"] = True
        return document


def query(name: str, schema: Schema, description: str) -> Param:
    return Param(name, "query", schema, description)


def path(name: str, schema: Schema, description: str) -> Param:
    return Param(name, "path", schema, description, required=True)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: Schema | None = None
    body_required: bool = True
    #: status → (description, JSON schema of the answer; None: not JSON, see `media`)
    answers: Mapping[int, tuple[str, Schema | None]] = field(default_factory=dict)
    #: other media types the 200 answer may be (the monthly report's csv, html, pdf)
    media: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        statuses = dict(self.answers)
        statuses.setdefault(401, ("no admin token and no session", ref("Error")))
        statuses.setdefault(405, ("a method this path does not have", ref("Error")))
        if self.params or self.body is not None:
            statuses.setdefault(400, ("a parameter or the body is wrong; `error` says which",
                                      ref("Error")))
        if self.body is not None:
            statuses.setdefault(413, (f"a body over {MAX_JSON_BYTES} bytes", ref("Error")))
            statuses.setdefault(403, ("a change made with a session but without its CSRF "
                                      "token, or outside the viewer's scope", ref("Error")))
        for status, (description, schema) in sorted(statuses.items()):
            content: dict[str, Any] = {}
            if schema is not None:
                content["application/json"] = {"schema": schema}
            if status == 200:
                for media in self.media:
                    # YAML is read back as data by clients (and schemathesis): any value.
                    content[media] = {"schema": ANY if "yaml" in media else {"type": "string"}}
            responses[str(status)] = {"description": description, **(
                {"content": content} if content else {})}
        operation: dict[str, Any] = {
            "summary": self.summary, "tags": [self.tag],
            "operationId": f"{self.method.lower()}_{_slug(self.path)}",
            "responses": responses,
        }
        if self.params:
            operation["parameters"] = [p.document() for p in self.params]
        if self.body is not None:
            operation["requestBody"] = {"required": self.body_required, "content": {
                "application/json": {"schema": self.body}}}
        return operation


def _slug(route: str) -> str:
    return "_".join(part.strip("{}") for part in route.removeprefix("/api/v1/").split("/"))


ERROR = obj({"error": STR}, ["error"], description="What was wrong, in words")
NOT_FOUND = ("no such thing (or not within the viewer's scope)", ref("Error"))
CONFLICT = ("the state has moved on: `error` says how", ref("Error"))
BUSY = ("a city's figure no snapshot answers, with too many requests of the process waiting "
        "to read one: try again after `Retry-After` seconds", ref("Error"))
#: An org file's errors, each with its line.
_FILE_ERRORS = obj({"error": STR, "errors": array(obj({"line": INT, "message": STR}))}, ["error"])
FORBIDDEN = ("outside the viewer's scope, or for street admins and the token only",
             ref("Error"))

TICKET = obj({
    "id": INT, "category": {"type": "string", "enum": list(CATEGORIES)},
    "status": {"type": "string", "enum": list(STATUSES)}, "building": N_STR, "grid": N_STR,
    "assignee": N_STR, "assignee_userid": N_STR, "urgency": STR, "tier": N_STR,
    "facility": N_STR, "location": N_STR, "text": STR, "reporter": N_STR,
    "escalation_level": INT, "accept_due_at": N_TIME, "resolve_due_at": N_TIME,
    "accepted_at": N_TIME, "resolved_at": N_TIME, "closed_at": N_TIME,
    "confirm_due_at": N_TIME, "rating": N_INT, "department": N_STR,
    "respond_due_at": N_TIME, "reported_at": N_TIME, "created_at": TIME, "updated_at": TIME,
    # How many residents reported it again and hear of its progress too.
    "followers": INT,
    # The ticket's photos (bot.api_attachments).
    "attachments": array(obj({"kind": {"type": "string", "enum": ["image"]}, "url": STR},
                             ["kind", "url"])),
}, ["id", "category", "status", "text", "created_at", "updated_at"])
OUTBOX = obj({
    "id": INT, "ticket_id": N_INT, "transport": STR, "target": OBJECT, "payload": OBJECT,
    "status": {"type": "string", "enum": ["pending", "sent", "dead"]}, "attempts": INT,
    "last_error": N_STR, "created_at": TIME, "sent_at": N_TIME, "next_attempt_at": N_TIME,
}, ["id", "transport", "status"])
TICKET_DETAIL = {"allOf": [ref("Ticket"), obj({
    "events": array(obj({"at": TIME, "actor": STR, "kind": STR, "text": N_STR,
                         "data": N_OBJECT}, ["at", "actor", "kind"])),
    "messages": array(ref("OutboxMessage")), "decision": N_OBJECT,
    "voice_media_id": N_STR,
}, ["events", "messages"])]}
MESSAGE = obj({
    "id": INT, "channel": STR, "msg_id": STR, "chat_id": N_STR, "sender_id": STR,
    "sender_name": N_STR, "text": STR, "status": STR, "attempts": INT, "error": N_STR,
    "decision": N_OBJECT, "received_at": TIME, "processed_at": N_TIME,
}, ["id", "channel", "status"])
REVIEW_ITEM = obj({
    "id": INT, "reason": STR, "text": STR, "predicted": N_STR, "confidence": N_NUM,
    "suggested": N_STR, "model_version": N_STR, "inbound_id": N_INT, "ticket_id": N_INT,
    "status": STR, "label": N_STR, "labeled_by": N_STR, "labeled_at": N_TIME,
    "created_at": TIME,
}, ["id", "reason", "text", "status"])
NOTICE = obj({
    "id": INT, "captain": N_STR, "captain_id": N_STR, "text": STR, "send_at": TIME,
    "status": STR, "sent_at": N_TIME, "created_at": TIME,
    "groups": array(obj({"channel": STR, "chat_id": STR, "name": N_STR, "building": N_STR})),
    "acknowledged": INT,
    "buildings": array(obj({"building": N_STR, "acknowledged": INT})),
}, ["id", "text", "status"])
ACCOUNT = obj({"person": STR, "name": STR, "balance": INT,
               "entries": array(obj({"at": TIME, "points": INT, "reason": STR,
                                     "ticket": N_INT}))}, ["person", "name", "balance"])
PARSE = obj({"text": STR, "intent": obj({"name": STR, "confidence": NUM}),
             "intent_ranking": array(OBJECT), "entities": array(OBJECT),
             "urgency": N_STR, "tier": N_STR,
             "danger": nullable({"type": "string",
                                 "enum": ["trapped", "fire", "gas", "violence", "medical"]})},
            ["intent", "entities"])

RETRAIN = obj({
    "state": {"type": "string", "enum": ["idle", "running", "done", "failed"]},
    "done": INT, "total": INT, "step": STR, "by": N_STR, "note": N_STR,
    "started_at": N_TIME, "heartbeat_at": N_TIME, "finished_at": N_TIME, "error": N_STR,
    "version": N_STR, "macro_f1": N_NUM, "active_version": N_STR, "active_macro_f1": N_NUM,
    "examples": N_INT, "reviewed": N_INT}, ["state"])

COMPONENTS = {"Error": ERROR, "Ticket": TICKET, "OutboxMessage": OUTBOX}

ID = path("id", bounded(1, MAX_ID), "gridbot's number of it")
LIMIT_100 = query("limit", bounded(1, 1000), "at most this many (default 100)")
LIMIT_50 = query("limit", bounded(1, 500), "at most this many (default 50)")
OFFSET = query("offset", bounded(0, MAX_OFFSET), "skip this many (default 0)")
SINCE = query("since", {"type": "string", "maxLength": 40},
              "an ISO date or date-time (Beijing time when it names no offset) or unix seconds")
PERSON = path("person", text(100), "a person's wecom_userid or wechat_id")
STREET = query("street", text(100), "one street's figures (by name); default: all the "
                                    "viewer sees")
INBOUND = ("received", "processing", "done", "failed")
SORT_KEYS = ("id", "created", "updated", "deadline", "status", "category", "building")
#: Search, assignee and sort of a ticket list (bot.ticket_lists), for the list and its CSV.
LIST_QUERY = (
    query("q", text(100), "free text: every word in the ticket's text, reporter name or "
                          "location; a number also finds that ticket"),
    query("assignee", text(100), "who holds it: an account (wecom_userid or wechat_id), "
                                 "me, or none"),
    query("sort", {"type": "string", "enum": ["", *SORT_KEYS, *(f"-{k}" for k in SORT_KEYS)]},
          "the order; - before it for descending (default -id, the newest first)"),
)
LIST_FILTERS = (
    query("status", choices(STATUSES), "one status or several, comma-separated"),
    query("category", choices(CATEGORIES), "one category or several"),
    query("building", text(50), "a building as people name it (3号楼) or its number"),
    query("grid", text(50), "a grid's name or number"),
)
ACTION_ANSWERS: dict[int, tuple[str, Schema | None]] = {
    200: ("done: the ticket as it is now, and what the chat command would have answered",
          obj({"ticket": ref("Ticket"), "answer": STR, "changed": BOOL, "reason": STR},
              ["ticket", "answer", "changed"])),
    400: ("a missing or wrong argument (the command's usage, an unknown account or "
          "department)", ref("Error")),
    403: ("the viewer's role does not allow it, they may only read the ticket, the admin "
          "token (which is nobody) tried it, or no CSRF token came with a session",
          ref("Error")),
    404: NOT_FOUND,
    409: ("the ticket's status does not allow it, or it changed meanwhile", ref("Error")),
}
ACTION_BODIES: dict[str, tuple[str, Schema | None]] = {
    "accept": ("Accept (接单)", None),
    "progress": ("A progress note (进展); the residents hear it",
                 obj({"note": text(500)}, ["note"], closed=True)),
    "resolve": ("Resolve (完成), with an optional note; the residents are asked to rate",
                obj({"note": nullable(text(500))}, closed=True)),
    "transfer": ("Transfer (转派) to a staff member by their WeCom account",
                 obj({"to": text(500)}, ["to"], closed=True)),
    "escalate": ("Escalate (升级) one step up", None),
    "whistle": ("Whistle (吹哨) a department of the ticket's street",
                obj({"department": text(500)}, ["department"], closed=True)),
    "report": ("Report (报到) for the whistled department", None),
    "close": ("Close (结案) a resolved ticket without waiting for the rating", None),
    "reopen": ("Reopen (重开) a resolved ticket or one closed within 7 days",
               obj({"note": nullable(text(500))}, closed=True)),
    "cancel": ("Cancel (取消) an open ticket, saying why",
               obj({"note": text(500)}, ["note"], closed=True)),
    "tier": ("Set a dispute's tier (改层级); it goes to that tier's mediator",
             obj({"tier": {"type": "string", "enum": ["micro", "small", "medium", "big"]}},
                 ["tier"], closed=True)),
}

OPERATIONS: tuple[Operation, ...] = (
    # -- bot.api
    Operation("GET", "/api/v1/openapi.json", "This description", "meta",
              answers={200: ("OpenAPI 3", OBJECT)}),
    Operation("POST", "/api/v1/nlu/parse", "What the NLU makes of a text", "nlu",
              body=obj({"text": text(10_000), "explain": BOOL}, ["text"]),
              answers={200: ("Rasa's /model/parse shape plus urgency and tier", PARSE)}),
    Operation("GET", "/api/v1/tickets", "Tickets within the viewer's scope, newest first",
              "tickets", params=(
                  query("status", choices(STATUSES), "one status or several, comma-separated"),
                  query("category", choices(CATEGORIES), "one category or several"),
                  query("building", text(50), "a building as people name it (3号楼) or its "
                                              "number"),
                  query("grid", text(50), "a grid's name or number"),
                  SINCE, *LIST_QUERY, LIMIT_100, OFFSET),
              answers={200: ("the page and how many there are in all", obj(
                  {"tickets": array(ref("Ticket")), "total": INT}, ["tickets", "total"]))}),
    Operation("GET", "/api/v1/tickets/{id}", "One ticket with its events, messages and the "
              "NLU's decision", "tickets", params=(ID,),
              answers={200: ("the ticket", TICKET_DETAIL), 404: NOT_FOUND}),
    Operation("GET", "/api/v1/tickets/{id}/attachments/{attachment}", "One of the ticket's "
              "photos, as its own image type", "tickets",
              params=(ID, path("attachment", bounded(1, MAX_ID), "the photo's number, as "
                               "`attachments` gives it")),
              answers={200: ("the photo (JPEG, PNG, GIF or WebP)", None), 404: NOT_FOUND},
              media=("image/jpeg", "image/png", "image/gif", "image/webp")),
    Operation("PATCH", "/api/v1/tickets/{id}", "Re-file a ticket (改类); \"none\" cancels it",
              "tickets", params=(ID,),
              body=obj({"category": {"type": "string", "enum": [*CATEGORIES, "none"]},
                        "by": text(64)}, ["category"], closed=True),
              answers={200: ("the ticket as it is now", ref("Ticket")), 404: NOT_FOUND,
                       409: CONFLICT}),
    Operation("GET", "/api/v1/stats", "Received, closed, closure rate, satisfaction; by "
              "category, grid and worker (by street over several streets), as of "
              "generated_at", "figures", params=(SINCE,),
              answers={200: ("the figures", OBJECT), 503: BUSY}),
    Operation("GET", "/api/v1/notices", "Captains' notices, the latest to go out first",
              "notices", params=(query("status", choices(("scheduled", "sent", "cancelled")),
                                       "scheduled, sent or cancelled"), LIMIT_100, OFFSET),
              answers={200: ("the page", obj({"notices": array(NOTICE), "total": INT},
                                             ["notices", "total"]))}),
    Operation("GET", "/api/v1/messages", "Inbound messages and what gridbot decided",
              "messages", params=(query("status", choices(INBOUND), "the messages' status"),
                                  LIMIT_50),
              answers={200: ("newest first", obj({"messages": array(MESSAGE)},
                                                 ["messages"]))}),
    Operation("GET", "/api/v1/outbox", "Outgoing messages and their delivery", "messages",
              params=(query("status", choices(("pending", "sent", "dead")), "their status"),
                      LIMIT_50),
              answers={200: ("newest first", obj({"outbox": array(ref("OutboxMessage"))},
                                                 ["outbox"]))}),
    Operation("POST", "/api/v1/outbox/{id}/retry", "Send a dead message again", "messages",
              params=(ID,), answers={200: ("the message, pending again", ref("OutboxMessage")),
                                     404: NOT_FOUND, 409: CONFLICT, 403: FORBIDDEN}),
    Operation("GET", "/api/v1/nlu/review", "The NLU review queue", "nlu",
              params=(query("status", {"type": "string", "enum": ["", "open", "labeled",
                                                                  "dismissed"]},
                            "open (default), labeled or dismissed"), LIMIT_100, OFFSET),
              answers={200: ("the items", obj({"items": array(REVIEW_ITEM)}, ["items"])),
                       403: FORBIDDEN}),
    Operation("POST", "/api/v1/nlu/review/{id}", "Label a review item, or dismiss it", "nlu",
              params=(ID,), body=obj({"intent": {"type": "string", "enum": [
                  "repair_request", "complaint", "micro_wish", "dispute", "none"]},
                  "dismiss": BOOL, "by": text(64)}, closed=True),
              answers={200: ("the item", REVIEW_ITEM), 404: NOT_FOUND}),
    Operation("GET", "/api/v1/nlu/models", "Trained models; the active one marked", "nlu",
              answers={200: ("the models", obj({"serving": N_STR, "models": array(OBJECT)},
                                               ["models"])), 403: FORBIDDEN}),
    Operation("POST", "/api/v1/nlu/models/{version}/activate", "Serve this model everywhere",
              "nlu", params=(path("version", text(40), "the model's version"),),
              answers={200: ("the active and the previous version", OBJECT),
                       404: NOT_FOUND, 403: FORBIDDEN}),
    Operation("POST", "/api/v1/nlu/rollback", "Serve the model before the active one", "nlu",
              answers={200: ("the active version", OBJECT), 409: CONFLICT, 403: FORBIDDEN}),
    # -- bot.points_api
    Operation("GET", "/api/v1/points", "Volunteers' balances, highest first", "points",
              answers={200: ("everyone with a balance", obj({"people": array(obj(
                  {"person": STR, "name": STR, "balance": INT}))}, ["people"]))}),
    Operation("GET", "/api/v1/points/{person}", "One person's balance and entries", "points",
              params=(PERSON, query("limit", bounded(1, 1000), "at most this many entries")),
              answers={200: ("the account", ACCOUNT), 404: NOT_FOUND}),
    Operation("POST", "/api/v1/points/{person}/redeem", "Redeem points", "points",
              params=(PERSON,), body=obj({"points": bounded(1, 1_000_000), "what": text(100),
                                          "by": text(64)}, ["points", "what"], closed=True),
              answers={200: ("the new balance and the entry", OBJECT), 404: NOT_FOUND,
                       409: ("the balance is short", OBJECT)}),
    # -- bot.auth
    Operation("GET", "/api/v1/me", "Who is asking: the token or a signed-in person, with "
              "their scope and CSRF token", "auth", answers={200: ("the viewer", OBJECT)}),
    Operation("POST", "/api/v1/people/{person}/password", "Set a staff member's password "
              "(sign-in without WeCom)", "auth", params=(PERSON,),
              body=obj({"password": text(128)}, ["password"], closed=True),
              answers={200: ("whose password was set, and when", OBJECT), 404: NOT_FOUND,
                       403: FORBIDDEN}),
    Operation("POST", "/api/v1/people/{person}/link", "A one-time sign-in link for a staff "
              "member", "auth", params=(PERSON,),
              body=obj({"hours": bounded(1, 24 * 14)}, closed=True), body_required=False,
              answers={200: ("the link and when it expires", OBJECT), 404: NOT_FOUND,
                       403: FORBIDDEN}),
    # -- bot.api_reports
    Operation("GET", "/api/v1/stats/dashboard", "Every series and table of the dashboard",
              "figures", params=(
                  query("from", {"type": "string", "pattern": "^(\\d{4}-\\d{2}-\\d{2})?$"},
                        "the first Beijing day, YYYY-MM-DD"),
                  query("to", {"type": "string", "pattern": "^(\\d{4}-\\d{2}-\\d{2})?$"},
                        "the last Beijing day (default today)"),
                  query("days", bounded(1, 366), "without `from`: this many days up to `to`"),
                  STREET),
              answers={200: ("the figures", OBJECT), 404: NOT_FOUND, 503: BUSY}),
    Operation("GET", "/api/v1/reports/monthly", "The monthly review (月度点评)", "figures",
              params=(query("month", {"type": "string", "pattern": "^(\\d{4}-\\d{2})?$"},
                            "YYYY-MM (default last month)"),
                      query("format", {"type": "string", "enum": ["", "json", "csv", "html",
                                                                  "pdf"]},
                            "json (default), csv, html or pdf"),
                      query("standalone", {"type": "string", "enum": ["", "0", "1"]},
                            "1: an HTML file that carries its style sheet"), STREET),
              answers={200: ("the review", OBJECT), 404: NOT_FOUND, 503: BUSY},
              media=("text/csv", "text/html", "application/pdf")),
    # -- bot.api_actions: the console's actions, each the chat command's decision
    Operation("GET", "/api/v1/tickets/{id}/actions", "Which actions the viewer may take on "
              "a ticket now, why not the others, and whom or where it may go", "actions",
              params=(ID,), answers={200: ("the actions", obj({
                  "ticket": INT, "actions": array(obj({
                      "action": STR, "label": STR, "allowed": BOOL, "why": N_STR,
                      "field": N_STR, "field_label": N_STR, "required": BOOL})),
                  "staff": array(OBJECT), "departments": array(OBJECT), "tiers": array(OBJECT),
                  "escalates_to": N_STR}, ["actions"])), 404: NOT_FOUND}),
    *(Operation("POST", f"/api/v1/tickets/{{id}}/{name}", summary, "actions", params=(ID,),
                body=body if body is not None else obj({}, closed=True),
                body_required=body is not None and bool(body.get("required")),
                answers=ACTION_ANSWERS)
      for name, (summary, body) in ACTION_BODIES.items()),
    # -- bot.api_lists
    Operation("GET", "/api/v1/tickets.csv", "Any ticket list as CSV (UTF-8 with BOM), with "
              "the list's filters, search and sort", "tickets",
              params=(*LIST_FILTERS, SINCE, *LIST_QUERY,
                      query("limit", bounded(1, 20_000), "at most this many (default 20000)")),
              answers={200: ("the tickets, a header row first", None)}, media=("text/csv",)),
    Operation("GET", "/api/v1/messages/{id}", "One inbound message: its decision and NLU "
              "evidence, its group, the ticket it touched and the outbox rows it made",
              "messages", params=(ID,),
              answers={200: ("the message", obj({
                  "message": MESSAGE, "group": N_OBJECT, "sender": N_OBJECT,
                  "ticket": nullable(ref("Ticket")), "outbox": array(ref("OutboxMessage"))},
                  ["message", "outbox"])), 404: NOT_FOUND}),
    # -- bot.api_org
    Operation("GET", "/api/v1/org", "The org map of the viewer's streets: districts, grids, "
              "buildings, groups, people and their roles, departments", "org",
              answers={200: ("the map", obj({"streets": array(OBJECT), "people": array(OBJECT)},
                                            ["streets", "people"]))}),
    Operation("GET", "/api/v1/org/export", "A street's org file (YAML) as the database has it",
              "org", params=(query("street", text(100), "the street's name (default: the "
                                                        "viewer's only street)"),),
              answers={200: ("the org file", None), 403: FORBIDDEN, 404: NOT_FOUND,
                       409: ("the map cannot be written as an org file", ref("Error"))},
              media=("text/yaml",)),
    Operation("POST", "/api/v1/org/import", "Import an org file (as gridbot org import); "
              "dry_run says what it would change", "org",
              body=obj({"yaml": text(2 * 1024 * 1024), "dry_run": BOOL}, ["yaml"],
                       closed=True),
              answers={200: ("what the import changed (or would)", obj({
                  "street": STR, "dry_run": BOOL, "changed": BOOL, "summary": STR,
                  "lines": array(STR), "notes": array(STR)}, ["street", "changed", "summary"])),
                       400: ("the file's errors, each with its line", _FILE_ERRORS),
                       403: ("not allowed: the token only, or a change to someone who holds a "
                             "role in another street (`errors`)", _FILE_ERRORS),
                       409: ("the file no longer names the importing admin, or lists a chat "
                             "group of another street's building (`errors`)", _FILE_ERRORS)}),
    # -- bot.api_retrain
    Operation("POST", "/api/v1/nlu/retrain", "Start retraining in the background (one at a "
              "time)", "nlu", body=obj({"note": nullable(text(200))}, closed=True), body_required=False,
              answers={202: ("started: the job's state", RETRAIN),
                       409: ("a retrain is already running", OBJECT), 403: FORBIDDEN}),
    Operation("GET", "/api/v1/nlu/retrain", "The latest retrain's progress", "nlu",
              answers={200: ("the job's state", RETRAIN), 403: FORBIDDEN}),
)


def describe(public_url: str = "") -> dict[str, Any]:
    """The OpenAPI 3 document of OPERATIONS."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = operation.document()
    return {
        "openapi": "3.0.3",
        "info": {"title": "gridbot admin API", "version": VERSION,
                 "description": "The API of gridbot's console, with the admin token "
                                "(Authorization: Bearer) or a staff session; each person "
                                "sees and acts within their scope."},
        "servers": [{"url": public_url or "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "GRIDBOT_ADMIN_TOKEN"},
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE,
                            "description": "a staff session (changes need X-CSRF-Token)"},
            },
            "schemas": COMPONENTS,
        },
        "paths": paths,
    }


def described() -> set[tuple[str, str]]:
    return {(o.method, o.path) for o in OPERATIONS}


def undocumented(app: web.Application) -> list[str]:
    """Routes under /api/v1 this description leaves out, as "GET /api/v1/…" (HEAD, which
    aiohttp adds to every GET, is not an operation of its own)."""
    missing = set()
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if canonical.startswith("/api/v1/") and route.method not in ("HEAD", "OPTIONS"):
            if (route.method, canonical) not in described():
                missing.add(f"{route.method} {canonical}")
    return sorted(missing)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(describe())


def openapi_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi_json)
