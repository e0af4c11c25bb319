"""Pictures belong to the report they were sent with.

- A resident's picture within `PHOTO_WINDOW` after their report (one they made or joined)
  is attached to that ticket, and its handler is told.
- A resident's picture with no report near it waits, loose, for `PHOTO_WINDOW`: a report
  from the same person in that time takes it (`with_photos`). It makes no ticket and no
  reply.
- A staff member's picture within `PHOTO_WINDOW` after their `完成 N` is attached to ticket
  N and goes to its residents as a link; one sent just before `完成 N` waits loose, and the
  residents' message about 完成 carries its link.

The shell fetches the picture and reads the sender's recent tickets before the transaction
(bot.photos); everything here is decided from those facts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from domain.decisions import (
    NEW_TICKET,
    AttachPhotos,
    Context,
    Decision,
    Send,
    TaskCard,
    ToPerson,
    ToSender,
)
from domain.tickets import TicketView
from handlers import texts
from handlers.residents import tell_residents

#: How far apart a picture and its report may be, either way.
PHOTO_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class PhotoFacts:
    """What the shell learnt of a picture message before deciding.

    `failure` says why the picture cannot be kept (None: it was fetched and checked).
    `reports`: the sender's tickets of the last `PHOTO_WINDOW` (reported or joined), newest
    first; `resolved`: those the sender resolved (完成) in that time, newest first.
    `link`: where residents can see this picture, should it be a staff member's.
    `earlier`: the sender's pictures already given to a ticket in that time (its handler has
    been told of the first, and is not told again of each)."""

    failure: str | None
    reports: tuple[TicketView, ...] = ()
    resolved: tuple[TicketView, ...] = ()
    link: str = ""
    earlier: int = 0


def _minutes() -> int:
    return int(PHOTO_WINDOW.total_seconds() // 60)


def decide_photo(ctx: Context, facts: PhotoFacts) -> Decision:
    """The decision for a picture message."""
    if facts.resolved:
        return _completion_photo(ctx, facts, facts.resolved[0])
    if facts.reports:
        return _report_photo(facts, facts.reports[0])
    if facts.failure is not None:
        return Decision("ignored", texts.WHY_PHOTO_FAILED.format(why=facts.failure))
    # Someone gridbot knows (staff, a volunteer) may send the picture before 完成 N: it
    # waits with a link of its own, for the residents.
    return Decision("photo_waiting", texts.WHY_PHOTO_WAITING.format(minutes=_minutes()),
                    photos=AttachPhotos(None, by_staff=ctx.person_id is not None))


def _report_photo(facts: PhotoFacts, ticket: TicketView) -> Decision:
    if facts.failure is not None:
        # Said on the ticket, so that its handler knows a picture was sent and lost.
        return Decision("photo_failed", texts.WHY_PHOTO_FAILED.format(why=facts.failure),
                        photos=AttachPhotos(ticket.id, this_message=False,
                                            failure=texts.PHOTO_FAILED.format(
                                                why=facts.failure)))
    sends = []
    if ticket.assignee_id is not None and not facts.earlier:
        sends.append(Send(ToPerson(ticket.assignee_id), texts.PHOTO_TO_ASSIGNEE,
                          ticket_id=ticket.id, key="photo",
                          card=TaskCard(texts.PHOTO_TO_ASSIGNEE_TITLE, texts.PHOTO_TO_ASSIGNEE)))
    return Decision("photo_attached", texts.WHY_PHOTO_ATTACHED.format(
        minutes=_minutes(), ticket=ticket.id),
        photos=AttachPhotos(ticket.id, note=texts.PHOTO_FOR_TICKET), sends=sends)


def _completion_photo(ctx: Context, facts: PhotoFacts, ticket: TicketView) -> Decision:
    message = ctx.message
    if facts.failure is not None:
        return Decision("photo_failed", texts.WHY_PHOTO_FAILED.format(why=facts.failure),
                        sends=[Send(ToSender(message.channel, message.sender_id,
                                             message.chat_id),
                                    texts.PHOTO_FAILED_STAFF, {"why": facts.failure},
                                    key="photo")])
    return Decision(
        "photo_attached", texts.WHY_PHOTO_DONE.format(ticket=ticket.id),
        photos=AttachPhotos(ticket.id, by_staff=True, note=texts.PHOTO_DONE),
        sends=tell_residents(ticket, texts.PHOTO_DONE_TO_RESIDENTS, {"link": facts.link}))


def _card_with_pictures(send: Send, pictures: int) -> Send:
    if send.card is None:
        return send
    return replace(send, card=replace(send.card, description=send.card.description
                                      + texts.CARD_PICTURES.format(count=pictures)))


#: The keys of `tell_residents`' messages (handlers.residents).
_RESIDENT_KEYS = ("residents", "reporter")
_RESIDENT_PREFIXES = ("residents-", "follower-")


def _to_residents(send: Send) -> bool:
    return send.key in _RESIDENT_KEYS or send.key.startswith(_RESIDENT_PREFIXES)


def _done_with_links(decision: Decision, ctx: Context, links: tuple[str, ...]) -> Decision:
    """`完成 N` by someone whose pictures wait loose: ticket N takes them, and the residents'
    message about it carries their links."""
    ticket_id = next(c.ticket_id for c in decision.changes if c.kind == "resolved")
    params = {"photo_links": " ".join(links)}
    sends = [replace(send, template=send.template + texts.PHOTO_DONE_LINKS,
                     params={**send.params, **params}) if _to_residents(send) else send
             for send in decision.sends]
    return replace(decision, sends=sends, photos=AttachPhotos(
        ticket_id, this_message=False, adopt_since=ctx.now - PHOTO_WINDOW, by_staff=True,
        note=texts.PHOTO_DONE))


def with_photos(decision: Decision, ctx: Context, has_picture: bool,
                loose: int = 0, links: tuple[str, ...] = ()) -> Decision:
    """A text message's decision, with the pictures that go with it: a report (a new ticket,
    or one joined) takes the sender's loose pictures of the last `PHOTO_WINDOW`, and the
    message's own picture if it has one (a bridge message with text and `image_url`). A
    message with a picture that made no report leaves its picture loose."""
    if decision.photos is not None:
        return decision  # a picture message's own decision
    if links and ctx.person_id is not None and any(
            c.kind == "resolved" for c in decision.changes):
        return _done_with_links(decision, ctx, links)
    target: object = None
    if decision.create is not None:
        target = NEW_TICKET
    elif decision.follow is not None:
        target = decision.follow.ticket_id
    if target is None:
        return replace(decision, photos=AttachPhotos(None)) if has_picture else decision
    pictures = loose + (1 if has_picture else 0)
    if not pictures:
        return decision  # the shell saw no picture of the sender waiting: nothing to take
    if target is NEW_TICKET:
        # The handler's task card says that the new ticket comes with pictures.
        decision = replace(decision, sends=[_card_with_pictures(send, pictures)
                                            for send in decision.sends])
    return replace(decision, photos=AttachPhotos(
        target,  # type: ignore[arg-type]
        this_message=has_picture, adopt_since=ctx.now - PHOTO_WINDOW,
        note=texts.PHOTO_ADOPTED))
