"""What the shell loads for a command before its handler decides: each `CommandSpec.loads`
names one loader here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from domain.decisions import Context
from domain.notices import ACK_WINDOW, NoticeView
from handlers import Command, CommandData, notice_answers, wishes
from handlers.notices import RECEIPTS_NOTICES
from storage import notices as notice_queries
from storage import points as points_queries
from storage import tickets as ticket_queries

Loader = Callable[[AsyncSession, Context, Command], Awaitable[CommandData]]


async def nothing(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    return CommandData()


async def ticket(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    assert command.ticket_id is not None
    return CommandData(ticket=await ticket_queries.ticket_view(session, command.ticket_id))


async def reporter_tickets(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    """The sender's open tickets: those they reported or follow."""
    return CommandData(tickets=await ticket_queries.open_of_reporter(
        session, ctx.message.channel, ctx.message.sender_id))


async def assignee_tickets(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    """The open tickets the sender holds (staff: workers, mediators), and those whistled to
    the departments they answer for."""
    if ctx.person_id is None:
        return CommandData()
    held = await ticket_queries.open_of_assignee(session, ctx.person_id)
    departments = [d.id for d in ctx.org.departments_of_person(ctx.person_id)]
    whistled = await ticket_queries.open_of_departments(session, departments)
    seen = {t.id for t in held}
    return CommandData(tickets=held + [t for t in whistled if t.id not in seen])


async def building_notice(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    """For 收到: the latest notice of the sender's building within the acknowledgement
    window, and whether the sender acknowledged it already."""
    if ctx.building_id is None:
        return CommandData()
    found = await notice_queries.latest_sent_to_building(session, ctx.building_id,
                                                         ctx.now - ACK_WINDOW)
    if found is None:
        return CommandData()
    done = await notice_queries.has_acknowledged(session, found.id, ctx.message.channel,
                                                 ctx.message.sender_id)
    return CommandData(facts={"notice": found, "acknowledged": done})


async def captain_notice(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    """For 回执: the captain's latest sent notices with their acknowledgements, and how
    many of theirs wait for their time."""
    if ctx.person_id is None:
        return CommandData()
    return CommandData(facts={
        "notices": await notice_queries.latest_sent_of_captain(
            session, ctx.person_id, RECEIPTS_NOTICES),
        "scheduled": await notice_queries.scheduled_of_captain(session, ctx.person_id)})


async def captain_tickets(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    """For 本楼工单: the open tickets of the buildings the sender is captain of."""
    if ctx.person_id is None:
        return CommandData()
    return CommandData(tickets=await ticket_queries.open_in_buildings(
        session, ctx.org.buildings_of_captain(ctx.person_id)))


async def grid_wishes(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    """For 心愿: the open wishes of the grid of the group it was sent in (1:1, the sender's
    grids)."""
    return CommandData(tickets=await ticket_queries.open_wishes(
        session, wishes.wish_grids(ctx), wishes.LIST_LIMIT))


async def points(session: AsyncSession, ctx: Context, command: Command) -> CommandData:
    """For 积分: the sender's balance and latest entries."""
    if ctx.person_id is None:
        return CommandData()
    return CommandData(facts={"account": await points_queries.account(
        session, ctx.person_id, wishes.POINTS_LINES)})


async def recent_notices_of(session: AsyncSession, contexts: list[Context],
                            ) -> list[list[NoticeView]]:
    """For answers from notices (not a command's loader), for each message: the notices
    sent to the building of its group within the window a question may be about. One
    statement for them all."""
    wanted = [(ctx.building_id, ctx.now - notice_answers.ANSWER_WINDOW) for ctx in contexts
              if ctx.building_id is not None]
    found = iter(await notice_queries.sent_to_buildings_since(session, wanted))
    return [next(found) if ctx.building_id is not None else [] for ctx in contexts]


LOADERS: dict[str, Loader] = {
    "nothing": nothing,
    "ticket": ticket,
    "reporter_tickets": reporter_tickets,
    "assignee_tickets": assignee_tickets,
    "captain_tickets": captain_tickets,
    "building_notice": building_notice,
    "captain_notice": captain_notice,
    "grid_wishes": grid_wishes,
    "points": points,
}


async def load(session: AsyncSession, ctx: Context, command: Command, what: str) -> CommandData:
    return await LOADERS[what](session, ctx, command)
