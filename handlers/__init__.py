"""What each intent and command does: pure functions from a message to a decision."""

from domain.decisions import Context, Decision, Message
from domain.tickets import TicketView
from handlers.commands import Command, parse_command
from handlers.messages import handle_message
from handlers.ticket_commands import CommandData, handle_command

__all__ = [
    "Command",
    "CommandData",
    "Context",
    "Decision",
    "Message",
    "TicketView",
    "handle_command",
    "handle_message",
    "parse_command",
]
