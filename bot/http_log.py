"""Malformed HTTP is the client's mistake, not gridbot's: one WARNING line, no traceback.

aiohttp answers a request it cannot parse (an 8 KB header line, `Content-Length: abc`, a bad
request line) with 400 and logs it on `aiohttp.server` as an ERROR with the parser's traceback.
`quiet_malformed_requests()` turns each of those records into one WARNING line naming the
client and what was wrong, in the parser's words up to where it would quote the request (an
over-long line is the request line itself, its query perhaps a resident's phone number);
real errors on that logger keep their traceback.
"""

from __future__ import annotations

import logging
import re

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"
MAX_REASON_CHARS = 200
#: Where the parser's message starts to quote what it read: a colon, a quote, a bracket.
_QUOTED = re.compile(r"""[:'"(\[{<]""")


class MalformedRequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            reason = " ".join(_QUOTED.split(str(exc.message or ""), 1)[0].split())
            reason = reason[:MAX_REASON_CHARS] or type(exc).__name__
            record.msg = "refused malformed HTTP from %s: %s (%s)"
            record.args = (remote, type(exc).__name__, reason)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


_FILTER = MalformedRequestFilter()


def quiet_malformed_requests() -> None:
    """Install the filter once (repeated calls change nothing)."""
    logging.getLogger(SERVER_LOGGER).addFilter(_FILTER)
