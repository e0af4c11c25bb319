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


def _refuse(*_args: Any) -> None:
    raise _Refused("XML with a DOCTYPE or entity declarations is refused.")


def parse_xml(data: bytes, root: str = "xml") -> dict[str, Any]:
    """Parse a WeChat-style XML document into a dict of its root's children.

    Leaf elements become their text, elements with children become dicts, repeated
    elements become lists; attributes are ignored.
    """
    for marker in _DTD_MARKERS:
        if marker in data:
            raise ChannelError(400, "XML with a DOCTYPE or entity declarations is refused.")
    check_utf8(data)

    # Each open element is [tag, children dict or None, text parts].
    stack: list[list[Any]] = []
    done: list[tuple[str, Any]] = []

    def start(name: str, _attrs: Any) -> None:
        if len(stack) >= MAX_XML_DEPTH:
            raise _Refused("The XML is nested too deeply.")
        stack.append([name, None, []])

    def text(chunk: str) -> None:
        if stack:
            stack[-1][2].append(chunk)

    def end(_name: str) -> None:
        tag, children, parts = stack.pop()
        value = children if children is not None else "".join(parts)
        if not stack:
            done.append((tag, value))
            return
        parent = stack[-1]
        siblings = parent[1]
        if siblings is None:
            parent[1] = {tag: value}
        elif tag not in siblings:
            siblings[tag] = value
        elif isinstance(siblings[tag], list):
            siblings[tag].append(value)
        else:
            siblings[tag] = [siblings[tag], value]

    parser = expat.ParserCreate(encoding="utf-8")
    parser.buffer_text = True
    parser.ordered_attributes = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise ChannelError(400, str(exc)) from None
    except (expat.ExpatError, ValueError, RecursionError):
        raise ChannelError(400, "The request body is not well-formed XML.") from None
    if not done or done[0][0] != root:
        raise ChannelError(400, f"The XML document's root element must be <{root}>.")
    value = done[0][1]
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
