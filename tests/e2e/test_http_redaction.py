"""A WeCom group robot's webhook key is a credential: answers show only its fingerprint."""

from __future__ import annotations

import json

import pytest

from bot.redaction import fingerprint, redact_secrets
from tests.e2e.conftest import Spine


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_outbox_and_ticket_answers_show_no_webhook_key(spine: Spine) -> None:
    response = await spine.robot_say("wanglz", "wrOgAAAA3", "@gridbot 楼道里堆满了纸箱杂物，消防通道都堵了")
    assert response.status == 200
    await spine.settle()
    assert spine.robot_posts("key-b3"), "the robot was posted to with its real key"

    outbox = (await spine.api("/api/v1/outbox"))["outbox"]
    robot = [m for m in outbox if m["transport"] == "wecom_robot"]
    assert robot and all(m["target"]["webhook_key"] == fingerprint("key-b3") for m in robot)
    assert "key-b3" not in json.dumps(outbox)

    ticket_id = robot[0]["ticket_id"] or (await spine.api("/api/v1/tickets"))["tickets"][0]["id"]
    detail = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert detail["messages"] and "key-b3" not in json.dumps(detail)


def test_secrets_are_fingerprinted_wherever_they_are() -> None:
    value = {"webhook_key": "key-b3", "chat_id": "wrOgAAAA3",
             "more": [{"secret": "s3cret", "text": "key-b3 stays in text"}]}
    redacted = redact_secrets(value)
    assert redacted["webhook_key"] == fingerprint("key-b3") != fingerprint("key-b4")
    assert redacted["chat_id"] == "wrOgAAAA3"
    assert redacted["more"][0]["secret"].startswith("***") and "s3cret" not in str(redacted)
    assert value["webhook_key"] == "key-b3"  # a copy; the row itself is untouched
