"""Every query parameter, path parameter and JSON body of /api/v1 is checked before use:
a bad one gets 400 (413 when too large) with {"error": "…"} naming what was wrong, never a 500."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.conftest import Spine

DEEP = b"[" * 30_000 + b"]" * 30_000
HUGE = "7" * 5_000

# (method, path, raw body or None, a word the error must contain)
BAD_REQUESTS: list[tuple[str, str, bytes | None, str]] = [
    ("GET", "/api/v1/tickets?grid=²", None, "grid"),
    ("GET", f"/api/v1/tickets?grid={HUGE}", None, "grid"),
    ("GET", "/api/v1/tickets?grid=a%00b", None, "grid"),
    ("GET", "/api/v1/tickets?building=" + "楼" * 500, None, "building"),
    ("GET", f"/api/v1/tickets?limit={HUGE}", None, "limit"),
    ("GET", "/api/v1/tickets?limit=²", None, "limit"),
    ("GET", "/api/v1/tickets?limit=%EF%BC%95", None, "limit"),  # a full-width 5
    ("GET", "/api/v1/tickets?offset=-1", None, "offset"),
    ("GET", "/api/v1/tickets?since=²", None, "since"),
    ("GET", f"/api/v1/tickets?since={HUGE}", None, "since"),
    ("GET", "/api/v1/tickets?since=9999-12-31T23:00:00-10:00", None, "since"),
    ("GET", "/api/v1/tickets?status=%00", None, "status"),
    ("GET", "/api/v1/tickets?category=repair,%00", None, "category"),
    ("GET", "/api/v1/stats?since=²", None, "since"),
    ("GET", "/api/v1/tickets?assignee=me", None, "assignee=me"),
    ("GET", "/api/v1/stats/dashboard?from=9999-12-31&to=9999-12-31", None, "from"),
    ("GET", "/api/v1/stats/dashboard?from=0001-01-01&to=0001-01-02", None, "from"),
    ("GET", "/api/v1/stats/dashboard?to=0001-01-05", None, "to"),
    ("GET", "/api/v1/reports/monthly?month=9999-12", None, "month"),
    ("GET", "/api/v1/reports/monthly?month=1999-12", None, "2000-01"),
    ("GET", "/api/v1/messages?status=%00", None, "status"),
    ("GET", "/api/v1/messages?status=nonsense", None, "status"),
    ("GET", f"/api/v1/messages?limit={HUGE}", None, "limit"),
    ("GET", "/api/v1/outbox?status=nonsense", None, "status"),
    ("GET", "/api/v1/outbox?limit=²", None, "limit"),
    ("GET", "/api/v1/nlu/review?status=nonsense", None, "status"),
    ("GET", "/api/v1/nlu/review?offset=²", None, "offset"),
    ("GET", "/api/v1/tickets/²", None, "id"),
    ("GET", f"/api/v1/tickets/{HUGE}", None, "id"),
    ("GET", "/api/v1/tickets/0", None, "id"),
    ("GET", "/api/v1/tickets/1%20", None, "id"),
    ("GET", "/api/v1/tickets/%201", None, "id"),
    ("GET", "/api/v1/stats/dashboard?days=7&from=2026-11-01", None, "days"),
    ("POST", "/api/v1/outbox/²/retry", b"{}", "id"),
    ("POST", f"/api/v1/outbox/{HUGE}/retry", b"{}", "id"),
    ("POST", "/api/v1/nlu/models/a%00b/activate", b"{}", "version"),
    ("POST", "/api/v1/nlu/models/" + "v" * 200 + "/activate", b"{}", "version"),
    ("PATCH", "/api/v1/tickets/1", DEEP, "nested"),
    ("POST", "/api/v1/nlu/parse", DEEP, "nested"),
    ("POST", "/api/v1/nlu/review/1", DEEP, "nested"),
    ("POST", "/api/v1/nlu/review/²", b'{"dismiss": true}', "id"),
    ("POST", "/api/v1/nlu/parse", b'{"text": ' + HUGE.encode() + b"}", "JSON"),
    ("POST", "/api/v1/nlu/parse", b'{"text": "x", "n": ' + HUGE.encode() + b"}", "JSON"),
    ("POST", "/api/v1/nlu/parse", b'{"text": NaN}', "JSON"),
    ("POST", "/api/v1/nlu/parse", b'{"text": "\xff\xfe"}', "UTF-8"),
    ("POST", "/api/v1/nlu/parse", b"{not json", "JSON"),
    ("POST", "/api/v1/nlu/parse", b"[1, 2]", "object"),
    ("POST", "/api/v1/nlu/parse", b'{"text": 5}', "text"),
    ("POST", "/api/v1/nlu/parse", b'{"text": "x", "zzz": 1}', "zzz"),
    ("POST", "/api/v1/nlu/review/1", b'{"intent": "complaint", "dismiss": true}', "both"),
    ("POST", "/api/v1/nlu/parse", b'{"text": "a\\u0000b"}', "text"),
    ("POST", "/api/v1/nlu/parse", b'{"text": "\\ud83d"}', "text"),
    ("POST", "/api/v1/nlu/parse", b'{"text": "x", "explain": "yes"}', "explain"),
    ("PATCH", "/api/v1/tickets/1", b'{"category": "repair", "by": "a\\u0000b"}', "by"),
    ("PATCH", "/api/v1/tickets/1", b'{"category": "repair", "by": "' + b"x" * 500 + b'"}', "by"),
    ("PATCH", "/api/v1/tickets/1", b'{"category": ["repair"]}', "category"),
    ("PATCH", "/api/v1/tickets/1", b'{"category": "repair", "colour": "red"}', "colour"),
    ("POST", "/api/v1/nlu/review/1", b'{"intent": "none", "by": "\\udc00"}', "by"),
    ("POST", "/api/v1/nlu/review/1", b'{"intent": 3}', "intent"),
    # A parameter the route does not read, and a single-valued one given twice.
    ("GET", "/api/v1/tickets?stauts=closed", None, "stauts"),
    ("GET", "/api/v1/tickets.csv?offset=5", None, "offset"),
    ("GET", "/api/v1/stats?until=2026-11-02", None, "until"),
    ("GET", "/api/v1/stats/dashboard?form=2026-11-01", None, "form"),
    ("GET", "/api/v1/reports/monthly?month=2026-10&fromat=csv", None, "fromat"),
    ("GET", "/api/v1/points?limit=5", None, "limit"),
    ("GET", "/api/v1/points/zhangwg?limt=5", None, "limt"),
    ("GET", "/api/v1/messages?since=2026-11-01", None, "since"),
    ("GET", "/api/v1/outbox?ticket=1", None, "ticket"),
    ("GET", "/api/v1/notices?q=x", None, "'q'"),
    ("GET", "/api/v1/nlu/review?status=open&status=labeled", None, "status"),
    ("GET", "/api/v1/tickets/1?verbose=1", None, "verbose"),
    ("GET", "/api/v1/messages/1?x=1", None, "'x'"),
    ("GET", "/api/v1/tickets/1/actions?x=1", None, "'x'"),
    ("POST", "/api/v1/outbox/1/retry?force=1", b"{}", "force"),
    ("GET", "/api/v1/tickets?sort=id&sort=-id", None, "sort"),
    ("GET", "/api/v1/tickets?limit=1&limit=2", None, "limit"),
    ("GET", "/api/v1/tickets?since=2026-11-01&since=2026-11-02", None, "since"),
    ("GET", "/api/v1/tickets?building=3&building=8", None, "building"),
    ("GET", "/api/v1/tickets?q=a&q=b", None, "q is given 2 times"),
    ("GET", "/api/v1/stats?since=2026-11-01&since=2026-11-02", None, "since"),
    ("GET", "/api/v1/messages?limit=1&limit=2", None, "limit"),
    ("GET", "/api/v1/tickets?status=new&status=bogus", None, "bogus"),
]


async def test_bad_parameters_and_bodies_get_a_400_naming_what_was_wrong(
    spine: Spine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    failures = []
    for method, path, body, word in BAD_REQUESTS:
        headers = {**spine.auth, "Content-Type": "application/json"}
        response = await spine.client.request(method, path, data=body, headers=headers)
        answer = await response.json(content_type=None) if response.content_type == "application/json" else None
        if response.status != 400 or not isinstance(answer, dict) or word not in answer.get("error", ""):
            failures.append((method, path[:80], response.status, (await response.text())[:200]))
    assert not failures, failures
    # a bad request is the client's mistake: nothing at ERROR, no traceback
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    # and the API still works
    assert (await spine.api("/api/v1/tickets?grid=第1网格&limit=5"))["total"] == 0


async def test_a_body_above_the_limit_is_refused_with_413(spine: Spine) -> None:
    body = b'{"text": "' + b"a" * 300_000 + b'"}'
    response = await spine.client.post(
        "/api/v1/nlu/parse", data=body, headers={**spine.auth, "Content-Type": "application/json"})
    assert response.status == 413
    assert "bytes" in (await response.json())["error"]


async def test_unknown_api_paths_and_methods_answer_json(spine: Spine) -> None:
    missing = await spine.client.get("/api/v1/nothing-here", headers=spine.auth)
    assert missing.status == 404
    assert (await missing.json())["error"] == (
        "GET /api/v1/nothing-here is not answered here; /api/v1/openapi.json describes the API")
    action = await spine.client.post("/api/v1/tickets/1/bogusaction", headers=spine.auth)
    assert action.status == 404 and "POST /api/v1/tickets/1/bogusaction" in (
        await action.json())["error"]
    wrong = await spine.client.delete("/api/v1/tickets", headers=spine.auth)
    assert wrong.status == 405 and "DELETE /api/v1/tickets is not answered here (it takes " in (
        await wrong.json())["error"]
    no_ticket = await spine.client.get("/api/v1/tickets/424242", headers=spine.auth)
    assert (await no_ticket.json())["error"] == "no ticket #424242"  # a handler's own 404


async def test_good_values_still_pass(spine: Spine) -> None:
    for path in ("/api/v1/tickets?grid=7&building=3号楼&status=new,accepted&since=1763800000",
                 "/api/v1/tickets?since=2026-11-01T00:00:00%2B08:00&limit=1000&offset=0",
                 "/api/v1/stats?since=2026-11-01", "/api/v1/messages?status=done&limit=500",
                 "/api/v1/outbox?status=dead", "/api/v1/nlu/review?status=labeled"):
        await spine.api(path)
    parsed = await spine.client.post("/api/v1/nlu/parse", json={"text": "3号楼电梯坏了", "explain": True},
                                     headers=spine.auth)
    assert parsed.status == 200 and (await parsed.json())["intent"]["name"] == "repair_request"
    rasa_client = await spine.client.post("/api/v1/nlu/parse",
                                          json={"text": "3号楼电梯坏了", "message_id": "m1"},
                                          headers=spine.auth)
    assert rasa_client.status == 200, await rasa_client.text()
    # brackets inside a string are text, not nesting
    bracketed = await spine.client.post("/api/v1/nlu/parse", json={"text": '[{"\\' * 200},
                                        headers=spine.auth)
    assert bracketed.status == 200, await bracketed.text()
    missing = await spine.client.patch("/api/v1/tickets/99", json={"category": "wish", "by": "王"},
                                       headers=spine.auth)
    assert missing.status == 404


async def test_a_wrong_token_is_told_in_chinese_first(spine: Spine) -> None:
    response = await spine.client.get("/api/v1/tickets", headers={"Authorization": "Bearer nope"})
    assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert (await response.json())["error"].startswith("管理令牌缺失或错误")


async def test_the_bearer_scheme_is_read_in_any_case(spine: Spine) -> None:
    token = spine.auth["Authorization"].removeprefix("Bearer ")
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = await spine.client.get("/api/v1/tickets",
                                          headers={"Authorization": f"{scheme} {token}"})
        assert response.status == 200, scheme
    for wrong in (f"Basic {token}", f"Bearer{token}", token):
        response = await spine.client.get("/api/v1/tickets", headers={"Authorization": wrong})
        assert response.status == 401, wrong


async def test_an_unknown_query_parameter_is_named_with_the_known_ones(spine: Spine) -> None:
    """A misspelt filter is refused, not ignored (which would answer every ticket)."""
    answers = {}
    for path in ("/api/v1/tickets?stauts=closed", "/api/v1/stats?until=2026-11-02",
                 "/api/v1/tickets/1?x=1&y=2", "/api/v1/tickets?sort=id&sort=-id"):
        response = await spine.client.get(path, headers=spine.auth)
        assert response.status == 400, path
        answers[path] = (await response.json())["error"]
    assert answers["/api/v1/tickets?stauts=closed"] == (
        "unknown query parameter: 'stauts'; the parameters are status, category, building, "
        "grid, since, q, assignee, sort, limit, offset")
    assert answers["/api/v1/stats?until=2026-11-02"] == (
        "unknown query parameter: 'until'; the parameters are since")
    assert answers["/api/v1/tickets/1?x=1&y=2"] == (
        "unknown query parameters: 'x', 'y'; this route takes no query parameters")
    assert answers["/api/v1/tickets?sort=id&sort=-id"] == "sort is given 2 times; it takes one value"
