"""Why an outgoing message could not be delivered, and whether trying again can help.

The outbox worker only needs `err.retryable`: a transient error is retried with backoff,
a permanent one is recorded and never tried again. `reason` is a one-line, operator-readable
explanation that never contains an access token, a secret or a webhook key.
"""

from __future__ import annotations

import re

# errcodes that mean "try again later" (WeCom and the Official Account share most of them).
TRANSIENT_ERRCODES: dict[int, str] = {
    -1: "system busy",
    6000: "data version conflict",
    45009: "API call rate limit reached",
    45011: "API minute quota reached",
    45033: "API concurrency limit reached",
}

# errcodes that mean the access token must be fetched again.
TOKEN_ERRCODES: dict[int, str] = {
    40001: "invalid secret or credential",
    40014: "invalid access token",
    42001: "access token expired",
}

# errcodes whose meaning is known and for which retrying the same request cannot help.
PERMANENT_ERRCODES: dict[int, str] = {
    40002: "invalid grant_type",
    40003: "invalid user id / openid",
    40008: "invalid msgtype",
    40013: "invalid corp id / appid",
    40031: "invalid user id list",
    40032: "too many recipients",
    40033: "request contains \\uxxxx escapes",
    40035: "invalid parameter",
    40050: "chatid does not exist",
    40056: "invalid agentid",
    40058: "invalid parameter",
    40063: "required parameter is empty",
    40091: "secret does not belong to this corp",
    40125: "invalid appsecret",
    40164: "calling IP not in the whitelist",
    41001: "access token missing",
    41002: "corp id missing",
    41004: "secret missing",
    41010: "url missing",
    41011: "agentid missing",
    41016: "title missing",
    41033: "description missing",
    43004: "recipient has not followed the account",
    44004: "message content is empty",
    45002: "message content too long",
    45015: "customer-service reply window (48 h) has passed",
    45047: "customer-service message limit for this user reached",
    48001: "API not authorised for this account",
    48002: "API not authorised for this app",
    50002: "recipient outside the app's visible range",
    50003: "app is disabled",
    60011: "no privilege for these users/departments/tags",
    60020: "calling IP not allowed (set the app's trusted IPs)",
    81013: "no valid recipient (all users invalid or outside the app's range)",
    82001: "all recipients invalid",
    86001: "invalid chatid",
    86003: "chatid does not exist",
    86008: "chat was not created by this app",
    93000: "invalid webhook key (robot removed or key wrong)",
}


class SendError(Exception):
    """A delivery attempt failed. `retryable` says whether the outbox should try again."""

    retryable: bool = False

    def __init__(
        self,
        reason: str,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errcode = errcode
        self.http_status = http_status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class TransientSendError(SendError):
    """Network trouble, timeouts, 5xx/429, rate limits, system busy: retry later."""

    retryable = True


class PermanentSendError(SendError):
    """Bad configuration, bad recipient, bad request: retrying cannot help."""

    retryable = False


def describe_errcode(errcode: int) -> str | None:
    """A short English description of a WeCom/Official Account errcode, if known."""
    return (
        TRANSIENT_ERRCODES.get(errcode)
        or TOKEN_ERRCODES.get(errcode)
        or PERMANENT_ERRCODES.get(errcode)
    )


def error_from_errcode(api: str, errcode: int, errmsg: str = "") -> SendError:
    """Classify a nonzero errcode answered by `api` (e.g. "wecom message/send")."""
    known = describe_errcode(errcode)
    detail = f"errcode {errcode}"
    if known:
        detail += f" ({known})"
    clean = redact(errmsg).strip()
    if clean:
        detail += f": {clean}"
    reason = f"{api}: {detail}"
    if errcode in TRANSIENT_ERRCODES:
        return TransientSendError(reason, errcode=errcode)
    return PermanentSendError(reason, errcode=errcode)


def error_from_status(api: str, status: int, retry_after: float | None = None) -> SendError:
    """Classify a non-2xx HTTP status: 429, 408 and 5xx are transient, the rest permanent."""
    reason = f"{api}: HTTP {status}"
    if status in (408, 429) or status >= 500:
        return TransientSendError(reason, http_status=status, retry_after=retry_after)
    return PermanentSendError(reason, http_status=status)


_SECRET_PARAMS = re.compile(r"(access_token|corpsecret|secret|key)=([^&\s'\"]+)", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide the values of access_token, secret and key query parameters in `text`."""
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", text)
