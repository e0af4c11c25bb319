"""Reports through Open311, decided without a server: the service chooses the category, the
address the building, and the reporter hears where the form said (a group, the Official
Account, or nowhere)."""

from __future__ import annotations

from domain.decisions import Context, Message, ToGroup, ToPerson, ToSender
from handlers import handle_message
from handlers.open311 import SERVICE_INTENTS, is_open311_reporter, understood
from tests.handlers.support import NOW, ORG, WORKER, nlu

TEXT = "电梯坏了三天了，一直没人来修"


def report_ctx(*, channel: str = "open311", sender: str = "open311:abc",
               group_id: int | None = None, building_id: int = 10) -> Context:
    return Context(message=Message(1, channel, sender, "王阿姨", TEXT, None), org=ORG, now=NOW,
                   group_id=group_id, building_id=building_id, person_id=None)


def test_every_service_is_a_ticket_intent():
    assert SERVICE_INTENTS == {"repair": "repair_request", "complaint": "complaint",
                               "wish": "micro_wish", "dispute": "dispute"}


def test_the_service_decides_the_intent_and_the_model_keeps_its_ranking():
    model = nlu("repair_request", 0.93, entities=[
        {"entity": "building", "value": "5"}, {"entity": "facility", "value": "lift"}],
        urgency="emergency", ranking=[{"name": "repair_request", "confidence": 0.93},
                                      {"name": "complaint", "confidence": 0.05}])
    chosen = understood(model, "complaint")
    assert chosen["intent"] == {"name": "complaint", "confidence": 1.0}
    assert chosen["intent_ranking"] == model["intent_ranking"]
    assert chosen["model_intent"] == {"name": "repair_request", "confidence": 0.93}
    assert chosen["entities"] == [{"entity": "facility", "value": "lift"}]  # no building
    assert chosen["urgency"] == "emergency" and chosen["service_code"] == "complaint"


def test_a_report_is_a_ticket_of_its_service_even_when_the_model_says_chatter():
    decision = handle_message(report_ctx(), understood(nlu("none", 0.9), "repair"))
    assert decision.outcome == "ticket_created"
    assert decision.create is not None and decision.create.category == "repair"
    assert decision.create.building_id == 10 and decision.create.assignee_id == WORKER
    assert "Open311 报告选定报修" in decision.reason
    assert decision.review is None  # the model's top intent is no ticket intent


def test_a_disagreeing_model_sends_the_report_to_review():
    decision = handle_message(report_ctx(), understood(nlu("repair_request", 0.9), "complaint"))
    assert decision.create is not None and decision.create.category == "complaint"
    assert decision.review is not None and decision.review.predicted == "repair_request"


def test_a_building_in_the_words_does_not_move_the_report():
    model = nlu("repair_request", 0.9, entities=[{"entity": "building", "value": "5"}])
    decision = handle_message(report_ctx(building_id=10), understood(model, "repair"))
    assert decision.create is not None and decision.create.building_id == 10


def test_the_reporter_hears_where_the_form_said():
    in_group = handle_message(report_ctx(group_id=100), understood(nlu("none"), "repair"))
    reply = next(s for s in in_group.sends if s.key == "reply")
    assert reply.to == ToGroup(100, ("open311:abc",))  # addressing drops the mention
    assert in_group.create is not None and in_group.create.group_id == 100

    on_wechat = handle_message(report_ctx(channel="wechat", sender="oReporter0001"),
                               understood(nlu("none"), "repair"))
    reply = next(s for s in on_wechat.sends if s.key == "reply")
    assert reply.to == ToSender("wechat", "oReporter0001")

    nowhere = handle_message(report_ctx(), understood(nlu("none"), "repair"))
    reply = next(s for s in nowhere.sends if s.key == "reply")
    assert reply.to == ToSender("open311", "open311:abc")  # addressing: no row
    assert any(isinstance(s.to, ToPerson) for s in nowhere.sends)  # the worker's task


def test_open311_reporters_are_told_apart():
    assert is_open311_reporter("open311:0f3a")
    assert not is_open311_reporter("wxid_res1") and not is_open311_reporter("oReporter0001")
