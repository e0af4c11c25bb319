"""Secrets never leave gridbot in an answer: a WeCom group robot's webhook key is the credential
to post into that group, so the API and the simulator show it only as a short fingerprint
(`key-b3` → `***a1b2c3`), which tells two keys apart without revealing either."""

from __future__ import annotations

import hashlib
from typing import Any

#: Fields whose values are credentials, wherever they appear in an outbox target or payload.
SECRET_FIELDS = frozenset({"webhook_key", "key", "secret", "token", "access_token"})


def fingerprint(secret: str) -> str:
    return "***" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:6]


def redact_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with every secret field's text replaced by its fingerprint."""
    if isinstance(value, dict):
        return {
            k: fingerprint(v) if k in SECRET_FIELDS and isinstance(v, str) else redact_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value
