"""How gridbot's log lines look: readable text (the default) or, with
`GRIDBOT_LOG_FORMAT=json`, one JSON object a line for a log collector.

A JSON line carries the time (UTC, ISO 8601), the level, the logger, the message as gridbot
wrote it, the fields gridbot passes with `extra=` (ids, transports; never a message's words)
and, for an error, its traceback. It holds nothing the text line would not: statements'
parameters and residents' messages stay out of both (see "Security and failure behaviour"
in the README).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Loggers that say too much below WARNING: aiosqlite logs every statement with its
#: parameters (residents' messages) at DEBUG.
QUIET = ("jieba", "alembic.runtime.plugins", "aiosqlite")

# Whatever a LogRecord holds by itself; anything else on a record came with `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value if isinstance(value, str | int | float | bool) or \
                    value is None else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str = "text", verbose: bool = False,
              stream: IO[str] | None = None, force: bool = False) -> logging.Handler | None:
    """Set up the root logger once for a `gridbot` run: one handler on stderr (or `stream`)
    writing text or JSON lines, and returns it. Like `logging.basicConfig`, a root logger
    that already has handlers (gridbot run inside another program, or its tests) is left as
    it is, unless `force`."""
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root = logging.getLogger()
    if root.handlers and not force:
        return None
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter(TEXT_FORMAT))
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return handler
