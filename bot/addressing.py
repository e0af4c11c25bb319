"""Turning a handler's recipient into an outbox row: which transport, which target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.config import Settings
from domain.decisions import Send, ToDepartment, ToGroup, ToPerson, ToSender
from domain.org import OrgMap
from handlers.open311 import CHANNEL as OPEN311_CHANNEL
from handlers.open311 import is_open311_reporter
from storage.models import recipient_key


@dataclass(frozen=True, slots=True)
class Delivery:
    transport: str
    target: dict[str, Any]
    payload: dict[str, Any]


class Addressing:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _staff_transport(self) -> str:
        if self._settings.wecom_push_enabled or not self._settings.simulator:
            return "wecom_app"
        return "simulator"

    def outbox_row(self, send: Send, ticket_id: int | None, org: OrgMap, dedup_key: str,
                   now: datetime) -> dict[str, Any] | None:
        """The outbox row (its column values) that sends `send` about `ticket_id`; None when
        nobody can be reached."""
        delivery = self.resolve(send, send.render(ticket_id), send.render_card(ticket_id), org,
                                ticket_id)
        if delivery is None:
            return None
        return {
            "dedup_key": dedup_key, "transport": delivery.transport, "target": delivery.target,
            "recipient": recipient_key(delivery.transport, delivery.target),
            "payload": delivery.payload, "ticket_id": ticket_id, "status": "pending",
            "attempts": 0, "next_attempt_at": now, "created_at": now,
        }

    def resolve(self, send: Send, text: str, card: tuple[str, str] | None, org: OrgMap,
                ticket_id: int | None) -> Delivery | None:
        """None when the recipient cannot be reached at all (a group since removed)."""
        to = send.to
        if isinstance(to, ToGroup):
            return self._to_group(org, to, text)
        if isinstance(to, ToPerson):
            return self._to_person(org, to, text, card, ticket_id)
        if isinstance(to, ToDepartment):
            return self._to_department(org, to, text, card, ticket_id)
        return self._to_sender(to, text)

    def _simulating(self, channel: str, org: OrgMap, building_id: int) -> bool:
        """Whether a group of this channel has no way out but the simulator."""
        if not self._settings.simulator:
            return False
        if channel == "bridge":
            return not self._settings.bridge_outbound_url
        building = org.building(building_id)
        return building is None or not building.webhook_key

    def _to_department(self, org: OrgMap, to: ToDepartment, text: str,
                       card: tuple[str, str] | None, ticket_id: int | None) -> Delivery | None:
        """A department on WeCom is pushed like staff; one reached by a robot webhook gets
        the text in its group."""
        department = org.department(to.department_id)
        if department is None:
            return None
        if department.person_id is not None:
            return self._to_person(org, ToPerson(department.person_id), text, card, ticket_id)
        if department.webhook_key:
            if self._settings.simulator and not self._settings.wecom_push_enabled:
                return Delivery("simulator", {"department": department.name}, {"text": text})
            return Delivery("wecom_robot", {"webhook_key": department.webhook_key},
                            {"text": text, "mentioned_list": []})
        return None

    def _to_group(self, org: OrgMap, to: ToGroup, text: str) -> Delivery | None:
        group = org.group(to.group_id)
        if group is None:
            return None
        # An Open311 reporter is nobody in the chat: named in the text, never @-mentioned.
        mentions = [m for m in to.mention_ids if not is_open311_reporter(m)]
        if group.channel in ("bridge", "wecom_bot") and self._simulating(group.channel, org,
                                                                          group.building_id):
            # The demo (make run) lists a bridge group per building but has no bridge: its
            # messages go to the building's simulator group, not to a transport that is off.
            return None
        if group.channel == "bridge":
            return Delivery("bridge", {"chat_id": group.chat_id},
                            {"text": text, "mention_ids": mentions})
        if group.channel == "wecom_bot":
            building = org.building(group.building_id)
            key = building.webhook_key if building else None
            return Delivery("wecom_robot", {"webhook_key": key, "chat_id": group.chat_id},
                            {"text": text, "mentioned_list": mentions})
        if group.channel == "wecom_app":
            return Delivery("wecom_appchat", {"chatid": group.chat_id}, {"text": text})
        return Delivery("simulator", {"chat_id": group.chat_id, "name": group.name},
                        {"text": text, "mention_ids": mentions})

    def _to_person(self, org: OrgMap, to: ToPerson, text: str, card: tuple[str, str] | None,
                   ticket_id: int | None) -> Delivery | None:
        person = org.person(to.person_id)
        if person is None:
            return None
        transport = self._staff_transport()
        # Someone known only by a WeChat id cannot be pushed to 1:1 on WeCom. The row is kept
        # all the same, without userids: the dispatcher gives it up at once, naming the person,
        # so the console's failed deliveries show who the org file leaves unreachable.
        userids = [person.wecom_userid] if person.wecom_userid else []
        target = {"userids": userids, "person": person.wecom_userid or person.wechat_id,
                  "name": person.name}
        if card is not None:
            # 详情 opens the ticket for the person it was pushed to (WeCom's OAuth2 sign-in).
            url = f"{self._public_url()}/t/{ticket_id}" if ticket_id else self._public_url()
            payload = {"msgtype": "textcard", "title": card[0], "description": card[1],
                       "url": url, "btntxt": "详情", "text": text}
        else:
            payload = {"msgtype": "text", "content": text, "text": text}
        return Delivery(transport, target, payload)

    def _to_sender(self, to: ToSender, text: str) -> Delivery | None:
        if to.channel == OPEN311_CHANNEL:
            return None  # a report through Open311 left no way to write back 1:1
        if to.channel == "wechat":
            return Delivery("wechat", {"openid": to.sender_id}, {"text": text})
        if to.channel in ("wecom_app", "wecom_bot"):
            transport = self._staff_transport()
            return Delivery(transport, {"userids": [to.sender_id], "person": to.sender_id},
                            {"msgtype": "text", "content": text, "text": text})
        if to.channel == "bridge" and to.chat_id:
            return Delivery("bridge", {"chat_id": to.chat_id},
                            {"text": text, "mention_ids": [to.sender_id]})
        return Delivery("simulator", {"person": to.sender_id, "chat_id": to.chat_id},
                        {"text": text})

    def _public_url(self) -> str:
        return self._settings.public_url
