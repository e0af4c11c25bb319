"""GeoReport v2 documents in both formats, and its error answers.

JSON and XML carry the same tree (the spec's "Spark convention"): a list of objects is an
element per object inside its plural (`services` → `service`, `service_requests` →
`request`, `attributes` → `attribute`, `values` → `value`, `errors` → `error`); None is an
empty element (`<account_id/>`), true and false are `true` and `false`. XML is written with
the standard library's ElementTree, which escapes `<`, `&` and quotes; characters XML 1.0
cannot hold at all (C0 controls other than tab and newlines) are dropped, so every answer
parses. gridbot never parses XML it is sent (a POST is a form, as the spec says), so there
is no entity to expand.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

FORMATS = ("json", "xml")
JSON_TYPE = "application/json"
XML_TYPE = "text/xml"

#: The element of each item in a list, by the list's name.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: Any) -> str:
    """A value as XML text: booleans as the spec writes them, nothing XML 1.0 cannot hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list | tuple):
        item = ITEM_NAMES.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    elif value is not None:
        element.text = xml_text(value)


def to_xml(root: str, value: Any) -> bytes:
    """The document with the XML declaration the spec asks for."""
    element = ET.Element(root)
    _fill(element, value)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def answer(fmt: str, root: str, value: Any, status: int = 200,
           headers: Mapping[str, str] | None = None) -> web.Response:
    """A document in the format the path asked for (`.json` or `.xml`). `root` names the
    XML root element (`services`, `service_requests`, `service_definition`)."""
    if fmt == "json":
        body = json.dumps(value, ensure_ascii=False).encode()
        return web.Response(body=body, status=status, headers=headers,
                            content_type=JSON_TYPE, charset="utf-8")
    return web.Response(body=to_xml(root, value), status=status, headers=headers,
                        content_type=XML_TYPE, charset="utf-8")


class Open311Error(Exception):
    """A refusal in the spec's error format: 403 for a missing or wrong api_key, 404 for
    what does not exist, 400 for any other request that cannot be fulfilled."""

    def __init__(self, status: int, description: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, description)
        self.status = status
        self.description = description
        self.headers = dict(headers or {})


def error_answer(fmt: str, errors: Sequence[Open311Error]) -> web.Response:
    """`[{"code": 403, "description": "…"}]`, or `<errors><error>…` in XML; the HTTP status
    is the first error's."""
    body = [{"code": e.status, "description": e.description} for e in errors]
    return answer(fmt, "errors", body, status=errors[0].status, headers=errors[0].headers)
