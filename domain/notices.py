"""A building captain's notice as handlers see it, and the rules around it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

#: Notices are written and read in Beijing time (Asia/Shanghai has kept +08:00 since 1991).
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

#: A resident's 收到 acknowledges the building's latest notice sent within this long.
ACK_WINDOW = timedelta(days=3)

#: How far ahead a notice may be scheduled.
SCHEDULE_HORIZON = timedelta(days=366)

#: The timer that sends a scheduled notice.
NOTICE_TIMER = "notice_send"


class NoticeStatus:
    SCHEDULED = "scheduled"  # waits for its timer
    SENT = "sent"
    CANCELLED = "cancelled"


NOTICE_STATUSES = (NoticeStatus.SCHEDULED, NoticeStatus.SENT, NoticeStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class NoticeView:
    """A notice as the shell loaded it. `acknowledged` counts residents' 收到 per building
    id (None for an acknowledgement from a chat of no building), when the loader counted
    them."""

    id: int
    captain_id: int
    text: str
    send_at: datetime
    status: str
    building_ids: tuple[int, ...]
    group_ids: tuple[int, ...]
    created_at: datetime
    sent_at: datetime | None = None
    acknowledged: Mapping[int | None, int] = field(default_factory=dict, hash=False)

    @property
    def acknowledged_total(self) -> int:
        return sum(self.acknowledged.values())

    def covers(self, building_id: int) -> bool:
        return building_id in self.building_ids
