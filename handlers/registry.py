"""Every chat command, gathered from the modules that handle them, and the two ways in:
recognising a command in a text, and deciding what it does."""

from __future__ import annotations

from collections.abc import Callable

from domain.decisions import Context, Decision
from handlers import feedback, notices, staff_views, ticket_commands, visits, whistle, wishes
from handlers.commands import Command, CommandSpec, parse
from handlers.residents import discreet
from handlers.ticket_commands import CommandData, CommandHandler

_ALL: list[tuple[CommandSpec, CommandHandler]] = [*ticket_commands.COMMANDS, *whistle.COMMANDS,
                                                  *notices.COMMANDS, *feedback.COMMANDS,
                                                  *staff_views.COMMANDS, *visits.COMMANDS,
                                                  *wishes.COMMANDS]

SPECS: dict[str, CommandSpec] = {spec.word: spec for spec, _ in _ALL}
HANDLERS: dict[str, CommandHandler] = {spec.word: handler for spec, handler in _ALL}
assert len(SPECS) == len(_ALL), "a command word is registered twice"


def parse_command(text: str, simplified: Callable[[str], str] | None = None) -> Command | None:
    """The command in `text`, or None when it is not a command at all; with `simplified`,
    one written in traditional characters too (`handlers.commands.parse`)."""
    return parse(text, SPECS) if simplified is None else parse(text, SPECS, simplified)


def command_in(ctx: Context, text: str,
               simplified: Callable[[str], str] | None = None) -> Command | None:
    """The command `ctx`'s sender gives in `text`: None when it is not one, or when in a
    group it is a word of a command someone else gives (`CommandSpec.given_by`)."""
    command = parse_command(text, simplified)
    if command is None or ctx.group_id is None:
        return command
    given_by = SPECS[command.word].given_by
    return None if given_by is not None and not given_by(ctx) else command


def handle_command(ctx: Context, command: Command, data: CommandData) -> Decision:
    """What `command` does, given what the shell loaded for it (`SPECS[word].loads`)."""
    if command.error is not None:
        return ticket_commands.usage_refused(ctx, command)
    if SPECS[command.word].ticket and data.ticket is None:
        return ticket_commands.not_found(ctx, command)
    decision = HANDLERS[command.word](ctx, command, data)
    # Whatever a command says into a group about a dispute names none of its parties.
    decision.sends = discreet(decision.sends, data.ticket)
    return decision
