"""Every chat command, gathered from the modules that handle them, and the two ways in:
recognising a command in a text, and deciding what it does."""

from __future__ import annotations

from domain.decisions import Context, Decision
from handlers import ticket_commands
from handlers.commands import Command, CommandSpec, parse
from handlers.ticket_commands import CommandData, CommandHandler

_ALL: list[tuple[CommandSpec, CommandHandler]] = [*ticket_commands.COMMANDS]

SPECS: dict[str, CommandSpec] = {spec.word: spec for spec, _ in _ALL}
HANDLERS: dict[str, CommandHandler] = {spec.word: handler for spec, handler in _ALL}
assert len(SPECS) == len(_ALL), "a command word is registered twice"


def parse_command(text: str) -> Command | None:
    """The command in `text`, or None when it is not a command at all."""
    return parse(text, SPECS)


def handle_command(ctx: Context, command: Command, data: CommandData) -> Decision:
    """What `command` does, given what the shell loaded for it (`SPECS[word].loads`)."""
    if command.error is not None:
        return ticket_commands.usage_refused(ctx, command)
    if SPECS[command.word].ticket and data.ticket is None:
        return ticket_commands.not_found(ctx, command)
    return HANDLERS[command.word](ctx, command, data)
