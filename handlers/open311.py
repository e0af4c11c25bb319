"""Reports that arrive through Open311 GeoReport v2 (`bot.open311`): which category each
service is, and what gridbot understands of such a report.

A report POSTed to `/open311/v2/requests` is stored as an inbound message on the channel
`open311` and handled like any message (`handlers.messages.handle_message`): the same
intake, processing, NLU, routing and writer make its ticket. Two things differ, and both are
decided here:

- **The category is the report's `service_code`, not the NLU's guess.** GeoReport v2 makes
  `service_code` a required argument that the client takes from our own service list
  (`GET services`): the reporter (or the call-taker typing for them) chose 报修, 投诉, 微心愿
  or 矛盾纠纷 on purpose, as deliberately as staff re-filing a ticket with 改类. A model
  reading the words is a guess; a choice made on a form is not, and overriding it would
  silently re-file what a person filed. The NLU still reads the words for everything the
  form does not say — urgency (an emergency repair gets the emergency deadlines), the
  facility, the dispute tier, unit and room — and its own ranking is kept, so a report whose
  words the model reads as another ticket category goes to the admins' review queue like
  any unsure message: the person's choice decides the ticket, the disagreement teaches the
  model. Staff correct a mis-filed report with 改类 as always.
- **The building is the report's address.** The address was asked for on purpose, so a
  building number the NLU finds in the words ("隔壁5号楼") does not move the ticket.
"""

from __future__ import annotations

from typing import Any

from domain.tickets import INTENT_CATEGORY

#: The channel Open311 reports are stored on.
CHANNEL = "open311"
#: How the sender id of a report starts when its reporter gave no Official Account openid:
#: nobody gridbot can write to, and no one to @-mention in a group.
REPORTER_PREFIX = "open311:"

#: service_code → the NLU intent that makes that category of ticket.
SERVICE_INTENTS: dict[str, str] = {category: intent for intent, category in INTENT_CATEGORY.items()}
#: The service codes, in the order the service list shows them.
SERVICE_CODES: tuple[str, ...] = ("repair", "complaint", "wish", "dispute")


def is_open311_reporter(sender_id: str) -> bool:
    """Whether this sender id stands for an Open311 reporter who cannot be reached."""
    return sender_id.startswith(REPORTER_PREFIX)


def understood(nlu: dict[str, Any], service_code: str) -> dict[str, Any]:
    """The NLU result with the report's service deciding the intent (see the module's
    docstring): the intent is the service's, sure; the ranking stays the model's own; a
    building the words name is dropped, since the address decides the building."""
    intent = SERVICE_INTENTS[service_code]
    ranking = list(nlu.get("intent_ranking") or [])
    model_said = dict(nlu.get("intent") or {"name": "none", "confidence": 0.0})
    entities = [e for e in nlu.get("entities") or () if e.get("entity") != "building"]
    return {
        **nlu,
        "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": ranking,
        "entities": entities,
        "service_code": service_code,
        "model_intent": model_said,
    }
