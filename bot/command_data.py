"""What the shell loads for a command before its handler decides: each `CommandSpec.loads`
names one loader here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from domain.decisions import Context
from handlers import Command, CommandData
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
    """The open tickets the sender holds (staff)."""
    if ctx.person_id is None:
        return CommandData()
    return CommandData(tickets=await ticket_queries.open_of_assignee(session, ctx.person_id))


LOADERS: dict[str, Loader] = {
    "nothing": nothing,
    "ticket": ticket,
    "reporter_tickets": reporter_tickets,
    "assignee_tickets": assignee_tickets,
}


async def load(session: AsyncSession, ctx: Context, command: Command, what: str) -> CommandData:
    return await LOADERS[what](session, ctx, command)
