"""What an HTTP request brings, checked before use: query and path parameters and JSON bodies.

Every parser returns a typed value or raises `BadRequest` (400) or `BodyTooLarge` (413), whose
body is `{"error": "…"}` naming the parameter and what was wrong with it. Numbers are read only
from ASCII digits (`'²'.isdigit()` is true, but `int('²')` fails), with a bounded length; texts
are bounded and never carry a NUL or a lone surrogate, which no database column can hold; a JSON
body is read up to a size limit and refused when nested deeper than a depth limit, so that
neither a huge body nor a 30,000-deep array can reach the parser's recursion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

from aiohttp import web
from multidict import MultiMapping

from domain.notices import SHANGHAI

MAX_ID = 2**62
MAX_JSON_BYTES = 128 * 1024
MAX_JSON_DEPTH = 32
MAX_JSON_DIGITS = 20
MAX_NAME_CHARS = 50
MAX_NUMBER_DIGITS = 9
#: `since` may name 1970-01-01 in Beijing time, a few hours before the unix epoch.
EARLIEST = datetime(1970, 1, 1, tzinfo=SHANGHAI)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def _json_error(reason: str) -> dict[str, Any]:
    return {"text": json.dumps({"error": reason}, ensure_ascii=False), "content_type": "application/json"}


class BadRequest(web.HTTPBadRequest):
    """400 with `{"error": reason}`."""

    def __init__(self, reason: str) -> None:
        super().__init__(**_json_error(reason))
        self.error = reason


class BodyTooLarge(web.HTTPRequestEntityTooLarge):
    """413 with `{"error": …}` naming the limit."""

    def __init__(self, limit: int) -> None:
        reason = f"the body is larger than {limit} bytes"
        super().__init__(limit, limit + 1, **_json_error(reason))
        self.error = reason


def _refuse(reason: str) -> NoReturn:
    raise BadRequest(reason)


def refuse_field(name: str, rule: str) -> NoReturn:
    """400 naming a body field and what it must be: `tier: one of micro, small, …`."""
    raise BadRequest(f"{name}: {rule}")


def ascii_digits(text: str) -> bool:
    """True for "0"–"9" only: not "²", not full-width "５", not "" (str.isdigit accepts more)."""
    return text.isascii() and text.isdecimal()


def checked_text(value: str, name: str, max_chars: int) -> str:
    """`value` if it fits `max_chars` and holds nothing a database cannot store."""
    if len(value) > max_chars:
        _refuse(f"{name} is longer than {max_chars} characters")
    if _UNSTORABLE.search(value):
        _refuse(f"{name} holds a NUL character or a lone surrogate")
    return value


def _whole_number(text: str, name: str, low: int, high: int) -> int:
    digits = text[1:] if text.startswith("-") else text
    if not ascii_digits(digits) or len(digits) > len(str(max(abs(low), abs(high)))):
        _refuse(f"{name} must be a whole number between {low} and {high}, in ASCII digits")
    number = int(text)
    if not low <= number <= high:
        _refuse(f"{name} must be between {low} and {high}")
    return number


# ------------------------------------------------------------------ query parameters
#
# A route names the parameters it reads (`known_query`): any other is refused, so that a
# misspelt filter (`stauts=closed`) is not silently ignored. A list-valued parameter may be
# given several times, which is the same as its comma form (`status=new&status=closed` is
# `status=new,closed`); a single-valued one given twice is refused.


def known_query(query: Mapping[str, str], names: Collection[str]) -> None:
    """Refuse (400) a query parameter the route does not read, naming it and those it does."""
    unknown = sorted(set(query) - set(names))
    if not unknown:
        return
    said = ", ".join(repr(name[:40]) for name in unknown[:5])
    plural = "s" if len(unknown) > 1 else ""
    known = (f"the parameters are {', '.join(names)}" if names
             else "this route takes no query parameters")
    _refuse(f"unknown query parameter{plural}: {said}; {known}")


def _values(query: Mapping[str, str], name: str) -> list[str]:
    """Every value the query gives `name`, in order (a plain mapping holds at most one)."""
    if isinstance(query, MultiMapping):
        return list(query.getall(name, []))
    value = query.get(name)
    return [] if value is None else [value]


def query_value(query: Mapping[str, str], name: str) -> str:
    """The value of a single-valued parameter ("" when absent); 400 when given twice."""
    values = _values(query, name)
    if len(values) > 1:
        _refuse(f"{name} is given {len(values)} times; it takes one value")
    return values[0] if values else ""


def query_int(query: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    value = query_value(query, name).strip()
    return default if value == "" else _whole_number(value, name, low, high)


def query_text(query: Mapping[str, str], name: str, max_chars: int) -> str:
    """A single-valued text parameter, stripped ("" when absent)."""
    return checked_text(query_value(query, name).strip(), name, max_chars)


def query_choices(query: Mapping[str, str], name: str, allowed: Collection[str]) -> str | None:
    """One value of `allowed`, or several separated by commas or given as the parameter
    repeated (each once, in the order first given); None when absent."""
    chosen: list[str] = []
    for value in _values(query, name):
        if not value:
            continue
        for part in value.split(","):
            if part not in allowed:
                _refuse(f"{name} must be one of {', '.join(allowed)}; got {part[:40]!r}")
            if part not in chosen:
                chosen.append(part)
    return ",".join(chosen) or None


def query_choice(query: Mapping[str, str], name: str, allowed: Collection[str]) -> str | None:
    """One value of `allowed` (a single-valued parameter); None when absent."""
    value = query_value(query, name)
    if not value:
        return None
    if value not in allowed:
        _refuse(f"{name} must be one of {', '.join(allowed)}; got {value[:40]!r}")
    return value


def query_name(query: Mapping[str, str], name: str) -> str | None:
    """A building or grid as people name it ("3号楼", "第1网格") or number it ("7")."""
    value = query_text(query, name, MAX_NAME_CHARS)
    if not value:
        return None
    if value.isdigit() and not (ascii_digits(value) and len(value) <= MAX_NUMBER_DIGITS):
        _refuse(f"{name} must be a name or a number of at most {MAX_NUMBER_DIGITS} ASCII digits")
    return value


def query_since(query: Mapping[str, str], name: str = "since") -> datetime | None:
    """An ISO date or date-time or unix seconds, as UTC. A date, or a date-time that names no
    offset, is Beijing time (Asia/Shanghai), as everything else gridbot shows: `2026-11-30`
    is that day's Beijing midnight."""
    value = query_value(query, name).strip()
    if not value:
        return None
    wrong = f"{name} must be an ISO date/time or unix seconds between 1970 and 9999"
    try:
        if ascii_digits(value):
            if len(value) > 12:
                _refuse(wrong)
            moment = datetime.fromtimestamp(int(value), UTC)
        else:
            parsed = datetime.fromisoformat(checked_text(value, name, 40).replace("Z", "+00:00"))
            moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        _refuse(wrong)
    if not EARLIEST <= moment < LATEST:
        _refuse(wrong)
    return moment


# ------------------------------------------------------------------ path parameters


def path_id(request: web.Request, name: str = "id") -> int:
    return _whole_number(request.match_info[name], name, 1, MAX_ID)


def path_text(request: web.Request, name: str, max_chars: int) -> str:
    return checked_text(request.match_info[name], name, max_chars)


# ------------------------------------------------------------------ JSON bodies


async def json_object(
    request: web.Request, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> dict[str, Any]:
    """The body as a JSON object, read up to `max_bytes` and at most `max_depth` deep."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyTooLarge(max_bytes)
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge(max_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        _refuse("the body must be JSON in UTF-8")
    if nesting_depth(text) > max_depth:
        _refuse(f"the body is nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int)
    except (ValueError, RecursionError) as exc:
        _refuse(f"the body is not valid JSON: {str(exc)[:120]}")
    if not isinstance(value, dict):
        _refuse("the body must be a JSON object")
    return value


async def json_object_or_empty(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (`json_object`); a bare POST, without a body, is {}."""
    if not request.body_exists:
        return {}
    return await json_object(request)


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings not counted)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_DIGITS:
        raise ValueError(f"a number longer than {MAX_JSON_DIGITS} digits")
    return int(digits)


def only_fields(body: Mapping[str, Any], allowed: Collection[str], what: str = "this") -> None:
    """Refuse (400) a field outside `allowed`, naming it and the fields `what` takes."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        takes = (f"the fields are {', '.join(allowed)}" if allowed
                 else f"{what} takes no fields: send no body or {{}}")
        _refuse(f"unknown fields: {', '.join(k[:40] for k in unknown[:5])}; {takes}")


def json_text(body: Mapping[str, Any], name: str, *, max_chars: int,
              default: str | None = None) -> str | None:
    """A string field (None or absent: `default`)."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        _refuse(f"{name} must be a string")
    return checked_text(value, name, max_chars)


def json_choice(body: Mapping[str, Any], name: str, allowed: Collection[str]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or value not in allowed:
        _refuse(f"{name} must be one of {', '.join(allowed)}")
    return value


def json_int(body: Mapping[str, Any], name: str, *, low: int, high: int) -> int:
    """A required whole-number field between `low` and `high` (not a float, not a bool)."""
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        _refuse(f"{name} must be a whole number between {low} and {high}")
    if not low <= value <= high:
        _refuse(f"{name} must be between {low} and {high}")
    return value


def json_flag(body: Mapping[str, Any], name: str) -> bool:
    """A boolean field, false when absent."""
    value = body.get(name, False)
    if not isinstance(value, bool):
        _refuse(f"{name} must be true or false")
    return value
