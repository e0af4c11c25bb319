"""One HTTP exchange with a hard time limit, failures mapped onto SendError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .errors import (
    PermanentSendError,
    TransientSendError,
    error_from_errcode,
    error_from_status,
    redact,
)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON without \\uxxxx escapes (WeCom refuses them with errcode 40033)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _describe(exc: BaseException) -> str:
    text = redact(str(exc)).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    api: str,
    time_limit: float,
    params: Mapping[str, str] | None = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """Send one request; raise TransientSendError/PermanentSendError unless the status is 2xx."""
    if session.closed:  # shutting down: the row stays pending for the next start
        raise TransientSendError(f"{api}: the HTTP session is closed")
    try:
        async with session.request(
            method,
            url,
            params=params,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=time_limit),
            allow_redirects=False,
        ) as resp:
            raw = await resp.read()
            answer = Answer(resp.status, dict(resp.headers), raw)
    except TimeoutError as exc:
        raise TransientSendError(f"{api}: no answer within {time_limit:g} s") from exc
    except aiohttp.InvalidURL as exc:
        raise PermanentSendError(f"{api}: invalid URL") from exc
    except aiohttp.ClientError as exc:
        raise TransientSendError(f"{api}: {_describe(exc)}") from exc
    if not 200 <= answer.status < 300:
        raise error_from_status(api, answer.status, _retry_after(answer.headers))
    return answer


async def exchange_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    api: str,
    time_limit: float,
    params: Mapping[str, str] | None = None,
    payload: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Like `exchange`, sending `payload` as JSON and decoding a JSON object answer."""
    body = encode_json(payload) if payload is not None else None
    headers = {"Content-Type": JSON_CONTENT_TYPE} if body is not None else None
    answer = await exchange(
        session,
        method,
        url,
        api=api,
        time_limit=time_limit,
        params=params,
        body=body,
        headers=headers,
    )
    try:
        data = json.loads(answer.body)
    except ValueError as exc:
        raise TransientSendError(f"{api}: answer is not JSON") from exc
    if not isinstance(data, dict):
        raise TransientSendError(f"{api}: answer is not a JSON object")
    return data


def errcode_of(data: Mapping[str, Any]) -> int:
    """The errcode of a WeChat/WeCom answer; a missing errcode means success."""
    value = data.get("errcode", 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def token_from_answer(api: str, data: Mapping[str, Any]) -> tuple[str, float]:
    """`(access_token, expires_in)` from a gettoken/token answer, or the SendError it means."""
    code = errcode_of(data)
    if code != 0:
        raise error_from_errcode(api, code, str(data.get("errmsg", "")))
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise TransientSendError(f"{api}: answer has no access_token")
    try:
        expires_in = float(data.get("expires_in", 7200))
    except (TypeError, ValueError):
        expires_in = 7200.0
    return token, expires_in
