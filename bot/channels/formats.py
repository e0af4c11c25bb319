"""Safe, fast decoding of the XML and JSON bodies the channels receive.

XML is parsed with expat directly into plain dicts. Documents with a DOCTYPE or entity
declarations are refused before parsing (by looking at the raw bytes) and again by the parser's
handlers, so no entity is ever expanded and nothing external is ever fetched.
"""

from __future__ import annotations

import json
from typing import Any
from xml.parsers import expat

from bot.channels.message import MAX_BODY, ChannelError

MAX_XML_DEPTH = 8

#: Timestamps at or above this many seconds are refused as nonsense.
MAX_TIME = 2**40

_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")


class _Refused(Exception):
    """Raised from inside expat handlers to stop parsing."""


def check_size(body: bytes) -> None:
    if len(body) > MAX_BODY:
        raise ChannelError(413, f"The request body is larger than {MAX_BODY} bytes.")


def check_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ChannelError(400, "The request body is not UTF-8.") from None


class _TreeBuilder:
    """Builds {tag: text | {child: ...} | [values...]} from expat events; attributes are ignored."""

    __slots__ = ("stack", "root")

    def __init__(self) -> None:
        self.stack: list[list[Any]] = []
        self.root: tuple[str, Any] | None = None

    def start(self, name: str, _attrs: Any) -> None:
        if len(self.stack) >= MAX_XML_DEPTH:
            raise _Refused("The XML is nested too deeply.")
        self.stack.append([name, None, []])

    def data(self, text: str) -> None:
        if self.stack:
            self.stack[-1][2].append(text)

    def end(self, _name: str) -> None:
        tag, children, parts = self.stack.pop()
        value = children if children is not None else "".join(parts)
        if not self.stack:
            self.root = (tag, value)
            return
        parent = self.stack[-1]
        if parent[1] is None:
            parent[1] = {}
        siblings = parent[1]
        if tag in siblings:
            existing = siblings[tag]
            if isinstance(existing, list):
                existing.append(value)
            else:
                siblings[tag] = [existing, value]
        else:
            siblings[tag] = value

    @staticmethod
    def refuse(*_args: Any) -> None:
        raise _Refused("XML with a DOCTYPE or entity declarations is refused.")


def parse_xml(data: bytes, root: str = "xml") -> dict[str, Any]:
    """Parse a WeChat-style XML document into a dict of its root's children."""
    for marker in _DTD_MARKERS:
        if marker in data:
            raise ChannelError(400, "XML with a DOCTYPE or entity declarations is refused.")
    check_utf8(data)
    builder = _TreeBuilder()
    parser = expat.ParserCreate(encoding="utf-8")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = builder.refuse
    parser.EntityDeclHandler = builder.refuse
    parser.UnparsedEntityDeclHandler = builder.refuse
    parser.ExternalEntityRefHandler = builder.refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise ChannelError(400, str(exc)) from None
    except (expat.ExpatError, ValueError, RecursionError):
        raise ChannelError(400, "The request body is not well-formed XML.") from None
    if builder.root is None or builder.root[0] != root:
        raise ChannelError(400, f"The XML document's root element must be <{root}>.")
    value = builder.root[1]
    return value if isinstance(value, dict) else {}


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Parse a UTF-8 JSON object; anything else is a 400."""
    text = check_utf8(data)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ChannelError(400, "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ChannelError(400, "The request body must be a JSON object.")
    return value


def required_text(fields: dict[str, Any], name: str) -> str:
    """A non-empty string field of decoded XML/JSON; numbers are accepted and turned into text."""
    value = fields.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise ChannelError(400, f"The field {name} is missing or not text.")


def optional_text(fields: dict[str, Any], name: str) -> str | None:
    """A string field that may be absent; numbers are turned into text, other types ignored."""
    value = fields.get(name)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def time_field(fields: dict[str, Any], name: str) -> int:
    """A unix-seconds field, given as a number or as decimal text."""
    value = fields.get(name)
    if isinstance(value, str):
        value = value.strip()
        if 0 < len(value) <= 15 and value.isascii() and value.isdigit():
            value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_TIME:
        return value
    raise ChannelError(400, f"The field {name} is missing or not a whole number.")
