"""SQL that reads the same on SQLite and PostgreSQL, for the figures (`storage.stats`).

- Times: `span(later, earlier)` is how long from one timestamp to the other — an interval on
  PostgreSQL, which is cheap to compare, add up and sort, and whole microseconds on SQLite,
  whose timestamps are ISO text in UTC (`storage.models.UTCDateTime`); `span_micros` turns a
  span, or a sum of spans, into exact microseconds, and `seconds(n)` is a constant span.
  `beijing_day_number` numbers a timestamp's Beijing day; `earliest` is the first of several
  timestamps, ignoring NULLs.
- Sets of ids: `member_of(column, ids)` binds any number of ids as one parameter (an array on
  PostgreSQL, which an index serves with `= ANY`; a JSON array read with json_each on
  SQLite), so that a street's 450 buildings make neither 450 parameters nor a new statement
  for each street.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Integer,
    String,
    bindparam,
    literal_column,
    not_,
    or_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

# ---------------------------------------------------------------- times

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_BEIJING_SECONDS = 8 * 3600


def day_number(day: date) -> int:
    """A Beijing day as `beijing_day_number` numbers it: days since 1970-01-01."""
    return day.toordinal() - _EPOCH_ORDINAL


def beijing_day_of(moment: datetime) -> tuple[int, datetime]:
    """The number (`day_number`) of the Beijing day `moment` falls on, and the midnight
    that ends that day."""
    beijing = timezone(timedelta(seconds=_BEIJING_SECONDS))
    day = moment.astimezone(beijing).date()
    return day_number(day), datetime(day.year, day.month, day.day, tzinfo=beijing) + timedelta(1)


class epoch_us(FunctionElement[int]):  # noqa: N801 - a SQL function's name
    """Microseconds since 1970 (UTC) of a timestamp column, exactly, as an integer."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_us, "postgresql")
def _epoch_us_pg(element: epoch_us, compiler: Any, **kw: Any) -> str:
    column = compiler.process(list(element.clauses)[0], **kw)
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"


@compiles(epoch_us, "sqlite")
def _epoch_us_sqlite(element: epoch_us, compiler: Any, **kw: Any) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (storage.models.UTCDateTime).
    column = compiler.process(list(element.clauses)[0], **kw)
    return (f"(CAST(strftime('%s', {column}) AS INTEGER) * 1000000"
            f" + CAST(substr({column}, 21, 6) AS INTEGER))")


class span(FunctionElement[Any]):  # noqa: N801
    """How long from one timestamp to another: an interval on PostgreSQL (cheap to compare,
    sum and order), microseconds on SQLite. `span_micros` makes microseconds of it."""

    inherit_cache = True


@compiles(span, "postgresql")
def _span_pg(element: span, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"({later} - {earlier})"


@compiles(span, "sqlite")
def _span_sqlite(element: span, compiler: Any, **kw: Any) -> str:
    later, earlier = element.clauses
    return f"({compiler.process(epoch_us(later), **kw)} - {compiler.process(epoch_us(earlier), **kw)})"


class span_micros(FunctionElement[int]):  # noqa: N801
    """A `span` (or a sum of spans) in whole microseconds."""

    type = BigInteger()
    inherit_cache = True


@compiles(span_micros, "postgresql")
def _span_micros_pg(element: span_micros, compiler: Any, **kw: Any) -> str:
    return (f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) * 1000000"
            " AS BIGINT)")


@compiles(span_micros, "sqlite")
def _span_micros_sqlite(element: span_micros, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


class gathered(FunctionElement[Any]):  # noqa: N801
    """Aggregate: the whole numbers of a column without NULLs in a group, in the order the
    group's rows come (the same for every `gathered` of one SELECT, which reads each row
    once for all its aggregates); `numbers_of` reads it. An array on PostgreSQL, the
    numbers joined by commas on SQLite (which would leave NULLs out where an array keeps
    them: COALESCE a column that may hold one)."""

    inherit_cache = True


@compiles(gathered, "postgresql")
def _gathered_pg(element: gathered, compiler: Any, **kw: Any) -> str:
    return f"array_agg({compiler.process(element.clauses, **kw)})"


@compiles(gathered, "sqlite")
def _gathered_sqlite(element: gathered, compiler: Any, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)})"


def numbers_of(found: list[int] | str) -> list[int]:
    """The numbers a `gathered` gave."""
    return [int(n) for n in found.split(",")] if isinstance(found, str) else found


class seconds_span(FunctionElement[Any]):  # noqa: N801
    """A constant number of seconds as a `span`: `seconds_span(seconds(86400))`."""

    inherit_cache = True


def seconds(count: int) -> Any:
    """A whole number of seconds, written into the statement (it names no input)."""
    return seconds_span(literal_column(str(int(count)), Integer()))


@compiles(seconds_span, "postgresql")
def _seconds_pg(element: seconds_span, compiler: Any, **kw: Any) -> str:
    return f"INTERVAL '{compiler.process(element.clauses, **kw)} seconds'"


@compiles(seconds_span, "sqlite")
def _seconds_sqlite(element: seconds_span, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} * 1000000)"


class beijing_day_number(FunctionElement[int]):  # noqa: N801
    """The Beijing day of a timestamp as days since 1970-01-01 (`day_number`)."""

    type = Integer()
    inherit_cache = True


@compiles(beijing_day_number, "postgresql")
def _day_pg(element: beijing_day_number, compiler: Any, **kw: Any) -> str:
    return beijing_day_sql("postgresql", compiler.process(list(element.clauses)[0], **kw))


@compiles(beijing_day_number, "sqlite")
def _day_sqlite(element: beijing_day_number, compiler: Any, **kw: Any) -> str:
    return beijing_day_sql("sqlite", compiler.process(list(element.clauses)[0], **kw))


def beijing_day_sql(dialect: str, column: str) -> str:
    """The Beijing day number (`day_number`) of a timestamp column in `dialect`'s SQL."""
    if dialect == "postgresql":
        return (f"CAST(FLOOR((EXTRACT(EPOCH FROM {column}) + {_BEIJING_SECONDS}) / 86400)"
                " AS INTEGER)")
    return f"((CAST(strftime('%s', {column}) AS INTEGER) + {_BEIJING_SECONDS}) / 86400)"


class earliest(FunctionElement[datetime]):  # noqa: N801
    """The earliest of some timestamps, ignoring NULLs (NULL when all are)."""

    inherit_cache = True


@compiles(earliest, "postgresql")
def _earliest_pg(element: earliest, compiler: Any, **kw: Any) -> str:
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(earliest, "sqlite")
def _earliest_sqlite(element: earliest, compiler: Any, **kw: Any) -> str:
    # SQLite's min() of several values is NULL when any is; its timestamps are ISO text.
    parts = [f"COALESCE({compiler.process(c, **kw)}, '9999')" for c in element.clauses]
    return f"NULLIF(MIN({', '.join(parts)}), '9999')"


# ---------------------------------------------------------------- sets of ids


class IdList(TypeDecorator[list[int]]):
    """A list of ids bound as one parameter: an integer array on PostgreSQL, a JSON array on
    SQLite (read with json_each)."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(BigInteger()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        ids = [int(i) for i in value]
        return ids if dialect.name == "postgresql" else json.dumps(ids)


class in_ids(FunctionElement[bool]):  # noqa: N801
    """`column IN (ids)` with the ids as one parameter, however many there are."""

    type = Boolean()
    inherit_cache = True
    # A condition as it stands: without it SQLite's SQL would read `… IN (…) = 1`, which no
    # index serves.
    _is_implicitly_boolean = True


@compiles(in_ids, "postgresql")
def _in_ids_pg(element: in_ids, compiler: Any, **kw: Any) -> str:
    column, ids = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} = ANY({ids})"


@compiles(in_ids, "sqlite")
def _in_ids_sqlite(element: in_ids, compiler: Any, **kw: Any) -> str:
    column, ids = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} IN (SELECT value FROM json_each({ids}))"


class in_id_set(FunctionElement[bool]):  # noqa: N801
    """`column IN (ids)` tested row by row against a hashed set (`one_of`)."""

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # as `in_ids`


@compiles(in_id_set, "postgresql")
def _in_id_set_pg(element: in_id_set, compiler: Any, **kw: Any) -> str:
    column, ids = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} IN (SELECT unnest({ids}))"


@compiles(in_id_set, "sqlite")
def _in_id_set_sqlite(element: in_id_set, compiler: Any, **kw: Any) -> str:
    column, ids = (compiler.process(c, **kw) for c in element.clauses)
    return f"{column} IN (SELECT value FROM json_each({ids}))"


def one_of(column: Any, ids: Iterable[int]) -> Any:
    """`column` is one of `ids`, for a test of every row rather than an index's search: on
    PostgreSQL the ids are hashed once (a subquery), where `= ANY` of a bound array would
    go through the array for each row."""
    return in_id_set(column, bindparam(None, sorted(ids), IdList()))


def member_of(column: Any, ids: Iterable[int]) -> Any:
    """`column` is one of `ids` (a set of any size, bound as one parameter)."""
    return in_ids(column, bindparam(None, sorted(ids), IdList()))


def not_member_of(column: Any, ids: Iterable[int]) -> Any:
    """`column` is NULL or none of `ids`."""
    return or_(column.is_(None), not_(member_of(column, ids)))
