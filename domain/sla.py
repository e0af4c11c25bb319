"""Service levels: how long a ticket may wait to be accepted, resolved and rated.

One table per street (the org file's `sla`), every value in seconds; what a street leaves
out comes from the defaults here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

DEFAULT_ACCEPT: Mapping[str, int] = {"emergency": 10 * 60, "normal": 2 * 3600}
DEFAULT_RESOLVE: Mapping[str, int] = {
    "repair": 24 * 3600,
    "complaint": 48 * 3600,
    "wish": 7 * 86400,
    "dispute": 7 * 86400,
    "emergency": 4 * 3600,
}
#: A resolved ticket nobody rates is closed after this long.
DEFAULT_CONFIRM = 3 * 86400


def _positive_seconds(value: Any) -> int | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return int(value) if number and value > 0 else None


@dataclass(frozen=True, slots=True)
class Sla:
    """Deadlines in seconds: `accept` per urgency, `resolve` per category (and emergency),
    `confirm` for a resolved ticket to be rated."""

    accept: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_ACCEPT))
    resolve: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_RESOLVE))
    confirm: int = DEFAULT_CONFIRM

    def accept_seconds(self, urgency: str) -> int:
        """Seconds to accept a ticket of this urgency ("emergency" or "normal")."""
        key = "emergency" if urgency == "emergency" else "normal"
        return int(self.accept.get(key, DEFAULT_ACCEPT[key]))

    def resolve_seconds(self, category: str, urgency: str = "normal") -> int:
        """Seconds to resolve a ticket; an emergency uses the `emergency` deadline."""
        key = "emergency" if urgency == "emergency" else category
        if key in self.resolve:
            return int(self.resolve[key])
        return int(DEFAULT_RESOLVE.get(key, DEFAULT_RESOLVE["complaint"]))

    def grace_seconds(self, urgency: str) -> int:
        """What the next holder gets after an escalation: as long as the first holder had to
        accept (minutes for an emergency, hours otherwise)."""
        return self.accept_seconds(urgency)

    def deadlines(self, category: str, urgency: str, now: datetime) -> tuple[datetime, datetime]:
        """(accept by, resolve by) for a ticket opened or reopened at `now`."""
        return (now + timedelta(seconds=self.accept_seconds(urgency)),
                now + timedelta(seconds=self.resolve_seconds(category, urgency)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "accept": {key: int(value) for key, value in self.accept.items()},
            "resolve": {key: int(value) for key, value in self.resolve.items()},
            "confirm": int(self.confirm),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any] | None) -> Sla:
        """The table as stored, defaults filling what is missing; a stored value that is not
        a positive number of seconds keeps the default."""
        tables = []
        for part, defaults in (("accept", DEFAULT_ACCEPT), ("resolve", DEFAULT_RESOLVE)):
            table = dict(defaults)
            stored = value.get(part) if isinstance(value, Mapping) else None
            if isinstance(stored, Mapping):
                for key, seconds in stored.items():
                    positive = _positive_seconds(seconds)
                    if positive is not None:
                        table[str(key)] = positive
            tables.append(table)
        confirm = _positive_seconds(value.get("confirm")) if isinstance(value, Mapping) else None
        return cls(accept=MappingProxyType(tables[0]), resolve=MappingProxyType(tables[1]),
                   confirm=confirm or DEFAULT_CONFIRM)
