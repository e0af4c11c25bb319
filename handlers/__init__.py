"""What each intent and command does: pure functions from a message to a decision."""

from domain.decisions import Context, Decision, Message
from domain.tickets import TicketView
from handlers.commands import Command, CommandSpec
from handlers.messages import handle_message
from handlers.registry import SPECS, command_in, handle_command, parse_command
from handlers.ticket_commands import CommandData

__all__ = [
    "Command",
    "CommandData",
    "CommandSpec",
    "Context",
    "Decision",
    "Message",
    "SPECS",
    "TicketView",
    "command_in",
    "handle_command",
    "handle_message",
    "parse_command",
]
