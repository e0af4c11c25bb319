"""What gridbot decides about a picture or a voice without text, from the facts the shell
read (pure: no database, no network)."""

from __future__ import annotations

from dataclasses import replace

from domain.decisions import (
    NEW_TICKET,
    ChangeTicket,
    Decision,
    Follow,
    Send,
    TaskCard,
    ToGroup,
    ToPerson,
)
from handlers import photos, voice
from handlers.photos import PHOTO_WINDOW, PhotoFacts
from tests.handlers.support import NOW, WORKER, ctx, staff_ctx, ticket


def test_a_picture_with_no_report_near_waits_loose_without_a_word():
    decision = photos.decide_photo(ctx(""), PhotoFacts(None))
    assert decision.photos is not None and decision.photos.ticket_id is None
    assert decision.sends == [] and decision.create is None


def test_a_picture_after_a_report_goes_to_that_ticket_and_its_handler_hears():
    decision = photos.decide_photo(ctx(""), PhotoFacts(None, reports=(ticket(id=7),)))
    assert decision.photos is not None and decision.photos.ticket_id == 7
    assert not decision.photos.by_staff
    [push] = decision.sends
    assert push.to == ToPerson(WORKER) and push.card is not None and push.ticket_id == 7


def test_a_picture_that_could_not_be_kept_is_said_on_the_ticket():
    decision = photos.decide_photo(ctx(""), PhotoFacts("不是图片", reports=(ticket(id=7),)))
    assert decision.photos is not None and decision.photos.failure
    assert not decision.photos.this_message and decision.sends == []


def test_a_failed_picture_with_no_report_is_only_recorded():
    decision = photos.decide_photo(ctx(""), PhotoFacts("不是图片"))
    assert decision.photos is None and decision.sends == []
    assert "不是图片" in decision.reason


def test_a_workers_picture_after_done_goes_to_the_residents_as_a_link():
    done = ticket(id=9, status="resolved")
    decision = photos.decide_photo(staff_ctx("", WORKER, "zhangwg"),
                                   PhotoFacts(None, resolved=(done,), link="https://g/p/tok"))
    assert decision.photos is not None and decision.photos.by_staff
    assert decision.photos.ticket_id == 9
    [told] = decision.sends
    assert told.to == ToGroup(100, ("wxid_res1",))
    assert "https://g/p/tok" in told.render(9)


def test_a_report_takes_the_loose_pictures_and_its_card_says_so():
    card = Send(ToPerson(WORKER), "x", card=TaskCard("#{id}", "desc"), ticket_id=NEW_TICKET)
    created = Decision("ticket_created", "", create=object(), sends=[card])  # type: ignore[arg-type]
    decided = photos.with_photos(created, ctx("3号楼漏水"), has_picture=False, loose=2)
    assert decided.photos is not None and decided.photos.ticket_id is NEW_TICKET
    assert decided.photos.adopt_since == NOW - PHOTO_WINDOW
    assert "2 张" in decided.sends[0].render_card(5)[1]


def test_a_report_joined_takes_the_pictures_too_but_chatter_does_not():
    followed = photos.with_photos(Decision("followed", "", follow=Follow(7)), ctx("x"), False,
                                  loose=1)
    assert followed.photos is not None and followed.photos.ticket_id == 7
    nothing_waiting = photos.with_photos(Decision("followed", "", follow=Follow(7)), ctx("x"),
                                         False)
    assert nothing_waiting.photos is None
    chatter = Decision("ignored", "")
    assert photos.with_photos(chatter, ctx("x"), False).photos is None
    with_picture = photos.with_photos(replace(chatter), ctx("x"), True)
    assert with_picture.photos is not None and with_picture.photos.ticket_id is None


def test_done_takes_a_workers_waiting_pictures_and_tells_the_residents_their_links():
    resolved = ChangeTicket(9, "resolved", "已更换灯泡", ("accepted",), status="resolved")
    told = Send(ToGroup(100, ("wxid_res1",)), "@{reporter} #{id} 已办结", {"reporter": "王阿姨"},
                ticket_id=9, key="residents")
    answer = Send(ToPerson(WORKER), "好的", ticket_id=9, key="answer")
    done = Decision("answered", "", changes=[resolved], sends=[told, answer])
    decided = photos.with_photos(done, staff_ctx("完成 9", WORKER, "zhangwg"), False, loose=1,
                                 links=("https://g/p/tok",))
    assert decided.photos is not None and decided.photos.ticket_id == 9
    assert decided.photos.by_staff and decided.photos.adopt_since == NOW - PHOTO_WINDOW
    assert "https://g/p/tok" in decided.sends[0].render(9)
    assert decided.sends[1] == answer
    # A resident's waiting picture (no link) is never shown to the others.
    assert photos.with_photos(done, ctx("x"), False, loose=1).photos is None


def test_voice_without_text_is_answered_only_when_gridbot_is_addressed():
    in_group = voice.untranscribed(ctx(""))
    assert in_group.sends == []
    mentioned = voice.untranscribed(ctx("", mentions=True))
    assert mentioned.sends[0].to == ToGroup(100, ("wxid_res1",))
    one_to_one = voice.untranscribed(ctx("", channel="wechat", chat_id=None, sender="oRes"))
    assert "打字" in one_to_one.sends[0].render(None)
