"""The admin loop: unsure messages and staff corrections land in the review queue, labels go
into the training data, a retrained model is compared, activated everywhere, rolled back."""

from __future__ import annotations

import re
from typing import Any

from bot.retrain import retrain, side_by_side
from bot.runtime import Runtime
from nlu.rasa_yaml import load_rasa
from tests.e2e.conftest import Spine


class Unsure:
    """A model that ranks a ticket intent first but below its threshold."""

    version = "unsure-1"

    def parse(self, text: str) -> dict[str, Any]:
        ranking = [{"name": "complaint", "confidence": 0.41}, {"name": "none", "confidence": 0.39}]
        return {"text": text, "intent": {"name": "none", "confidence": 0.39},
                "intent_ranking": ranking, "entities": [], "urgency": None, "tier": None,
                "model": self.version}


async def review(spine: Spine, status: str = "open") -> list[dict[str, Any]]:
    return (await spine.api(f"/api/v1/nlu/review?status={status}"))["items"]


async def test_unsure_message_is_queued_labeled_and_trained_on(spine: Spine, tmp_path):
    spine.runtime.models._model = Unsure()
    await spine.bridge_say("楼下那家烧烤摊的油烟天天往我家窗户里灌")
    await spine.settle()
    assert spine.group_posts() == []  # unsure: no ticket, no reply
    [item] = await review(spine)
    assert item["reason"] == "low_confidence" and item["predicted"] == "complaint"
    assert item["model_version"] == "unsure-1" and item["inbound_id"]

    response = await spine.client.post(f"/api/v1/nlu/review/{item['id']}",
                                       json={"intent": "complaint"}, headers=spine.auth)
    assert response.status == 200 and (await response.json())["status"] == "labeled"
    assert await review(spine) == []
    bad = await spine.client.post(f"/api/v1/nlu/review/{item['id']}", json={"intent": "weather"},
                                  headers=spine.auth)
    assert bad.status == 400
    missing = await spine.client.post("/api/v1/nlu/review/99999", json={"dismiss": True},
                                      headers=spine.auth)
    assert missing.status == 404

    result = await retrain(spine.runtime.sessions, tmp_path, folds=2)
    assert result.reviewed == 1
    labels = load_rasa(result.reviewed_file).examples
    assert [(e.text, e.intent) for e in labels] == [(item["text"], "complaint")]
    assert result.report["macro avg"]["f1-score"] > 0.85
    table = side_by_side(result.report, result.active_report, result.model.version,
                         result.active_version)
    assert "macro avg" in table and result.model.version in table


async def test_staff_correction_goes_to_review(spine: Spine):
    await spine.bridge_say("3号楼电梯坏了")
    await spine.settle()
    ticket_id = int(re.search(r"#(\d+)", spine.group_posts()[0]["text"]).group(1))
    await spine.staff_say("zhangwg", f"改类 {ticket_id} 投诉")
    await spine.settle()
    ticket = await spine.api(f"/api/v1/tickets/{ticket_id}")
    assert ticket["category"] == "complaint" and ticket["events"][-1]["kind"] == "recategorized"
    [item] = await review(spine)
    assert item["reason"] == "corrected" and item["suggested"] == "complaint"
    assert item["predicted"] == "repair_request" and item["ticket_id"] == ticket_id


async def test_console_correction_refiles_or_cancels_and_goes_to_review(spine: Spine):
    await spine.bridge_say("3号楼电梯坏了")
    await spine.bridge_say("5号楼楼道灯不亮")
    await spine.settle()
    first, second = sorted(int(n) for post in spine.group_posts()
                           for n in re.findall(r"#(\d+)", post["text"]))[:2]
    url = f"/api/v1/tickets/{first}"

    response = await spine.client.patch(url, json={"category": "dispute", "by": "王主任"},
                                        headers=spine.auth)
    assert response.status == 200, await response.text()
    assert (await response.json())["category"] == "dispute"
    ticket = await spine.api(url)
    event = ticket["events"][-1]
    assert (event["kind"], event["actor"]) == ("recategorized", "王主任")
    assert ticket["status"] == "new"
    [item] = await review(spine)
    assert (item["reason"], item["predicted"], item["suggested"], item["ticket_id"]) == (
        "corrected", "repair_request", "dispute", first)

    same = await spine.client.patch(url, json={"category": "dispute"}, headers=spine.auth)
    assert same.status == 200 and len((await spine.api(url))["events"]) == len(ticket["events"])

    cancel = await spine.client.patch(f"/api/v1/tickets/{second}", json={"category": "none"},
                                      headers=spine.auth)
    assert cancel.status == 200 and (await cancel.json())["status"] == "cancelled"
    again = await spine.client.patch(f"/api/v1/tickets/{second}", json={"category": "wish"},
                                     headers=spine.auth)
    assert again.status == 409 and "cancelled" in (await again.json())["error"]
    assert len(await review(spine)) == 2

    for body, status in (({"category": "weather"}, 400), ({"status": "closed"}, 400),
                         ({}, 400), ([1], 400)):
        bad = await spine.client.patch(url, json=body, headers=spine.auth)
        assert bad.status == status and "error" in await bad.json()
    missing = await spine.client.patch("/api/v1/tickets/99999", json={"category": "repair"},
                                       headers=spine.auth)
    assert missing.status == 404
    unauthorised = await spine.client.patch(url, json={"category": "repair"})
    assert unauthorised.status == 401
    assert (await spine.api(url))["category"] == "dispute"


async def test_activation_and_rollback_reach_every_process(spine: Spine, tmp_path, nlu_model):
    other = Runtime(spine.settings, nlu_loader=lambda: nlu_model)  # a second gridbot process
    try:
        packaged = other.nlu().version
        first = await retrain(spine.runtime.sessions, tmp_path, folds=2, note="first")
        assert first.model.version == packaged  # same data and config: the same version

        await spine.bridge_say("3号楼电梯坏了")  # a label changes the data, and the version
        await spine.settle()
        await spine.staff_say("zhangwg", "改类 1 投诉")
        await spine.settle()
        [item] = await review(spine)
        await spine.client.post(f"/api/v1/nlu/review/{item['id']}", json={"intent": "complaint"},
                                headers=spine.auth)
        second = await retrain(spine.runtime.sessions, tmp_path, folds=2, note="second")
        assert second.model.version != first.model.version
        assert second.active_version is None

        listing = await spine.api("/api/v1/nlu/models")
        assert {m["version"] for m in listing["models"]} == {first.model.version,
                                                            second.model.version}
        assert not any(m["active"] for m in listing["models"])

        for version in (first.model.version, second.model.version):
            response = await spine.client.post(f"/api/v1/nlu/models/{version}/activate",
                                               headers=spine.auth)
            assert response.status == 200
        assert spine.runtime.models.version == second.model.version
        assert await other.models.refresh(force=True)
        assert other.nlu().version == second.model.version
        assert other.nlu().parse("3号楼电梯坏了")["model"] == second.model.version

        response = await spine.client.post("/api/v1/nlu/rollback", headers=spine.auth)
        assert (await response.json())["active"] == first.model.version
        assert await other.models.refresh(force=True)
        assert other.nlu().version == first.model.version

        response = await spine.client.post("/api/v1/nlu/rollback", headers=spine.auth)
        assert (await response.json())["active"] == "packaged"
        assert await other.models.refresh(force=True)
        assert other.nlu().version == packaged
        response = await spine.client.post("/api/v1/nlu/rollback", headers=spine.auth)
        assert response.status == 409

        unknown = await spine.client.post("/api/v1/nlu/models/nope/activate", headers=spine.auth)
        assert unknown.status == 404
    finally:
        await other.stop()
