"""gridbot's Prometheus metrics: the registry of this process, the names, and the small
functions the places where things happen call (one line each).

Every process keeps its own figures and serves them at `/metrics` (web and worker ports
alike); with several processes Prometheus scrapes each and `sum()` adds them up. Counters
move where the thing happens: a message stored (`bot.ingest`), refused (`bot.channels`),
handled, put back or failed (`bot.processing`), a row sent (`bot.outbox`), a timer fired
(`bot.scheduler`), work taken over from a dead worker (`bot.workqueue`). Figures that live
in the database — the outbox's depth and the age of its oldest row, dead rows, messages
waiting — are read when `/metrics` is scraped, with one statement bounded in time
(`database_figures`), so that a slow database never holds a scrape.

Labels carry only names from gridbot's own code (channels, transports, outcomes, intents,
timer kinds): never a person, a chat or a message's words.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import within
from storage.errors import short_reason
from storage.models import InboundRecord, OutboxMessage

log = logging.getLogger(__name__)

#: The longest a scrape waits for the database's figures.
SCRAPE_TIMEOUT = 2.0
#: The classic text format every Prometheus reads (what `generate_latest` writes for
#: gridbot's names, which are all plain).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A counter's *_created timestamp doubles every series for nothing gridbot's alerts use.
disable_created_metrics()
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

PROCESS = Gauge("gridbot_process", "This gridbot process, by role (all, web or worker)",
                ["role"], registry=REGISTRY)

# -- intake -----------------------------------------------------------------------------------
MESSAGES_IN = Counter(
    "gridbot_messages_in", "Messages stored, by channel (a redelivery counts as a duplicate)",
    ["channel"], registry=REGISTRY)
MESSAGES_DUPLICATE = Counter(
    "gridbot_messages_duplicate", "Redeliveries of messages already stored, by channel",
    ["channel"], registry=REGISTRY)
MESSAGES_REFUSED = Counter(
    "gridbot_messages_refused",
    "Channel requests refused, by channel and HTTP status (403 signature or replay, 400 "
    "malformed or unstorable, 413 too large, 503 the database could not store it now)",
    ["channel", "status"], registry=REGISTRY)

# -- handling ---------------------------------------------------------------------------------
MESSAGES_HANDLED = Counter(
    "gridbot_messages_handled", "Messages handled and committed, by the decision's outcome",
    ["outcome"], registry=REGISTRY)
MESSAGES_FAILED = Counter(
    "gridbot_messages_failed", "Messages given up after repeated errors (status failed)",
    registry=REGISTRY)
MESSAGES_RETRIED = Counter(
    "gridbot_messages_retried",
    "Messages put back to be handled again: transient (the database was away or busy, "
    "after a backoff), error (an error that may not pass, counted towards failing), again "
    "(at once: a ticket changed meanwhile, or a failed batch split up)", ["reason"],
    registry=REGISTRY)
HANDLING_SECONDS = Histogram(
    "gridbot_handling_seconds", "From a message stored to its decision committed",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=REGISTRY)
BATCH_SIZE = Histogram(
    "gridbot_batch_size", "Messages claimed and handled in one transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200), registry=REGISTRY)
NLU_CONFIDENCE = Histogram(
    "gridbot_nlu_confidence", "The NLU's confidence in the intent it chose, by intent",
    ["intent"], buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99),
    registry=REGISTRY)
ESCALATIONS = Counter(
    "gridbot_escalations",
    "Tickets escalated to the next holder, by what escalated them (timer: a deadline "
    "passed; message: a command)", ["source"], registry=REGISTRY)
TIMERS_FIRED = Counter(
    "gridbot_timers_fired", "Timers fired (deadlines, reminders, scheduled notices), by kind",
    ["kind"], registry=REGISTRY)
WORK_TAKEN_OVER = Counter(
    "gridbot_work_taken_over",
    "Messages taken over from a worker that stopped acknowledging them", registry=REGISTRY)

# -- sending ----------------------------------------------------------------------------------
SENDS = Counter(
    "gridbot_sends",
    "Outbox sends by transport and result (sent; retry: failed, tried again later; dead: "
    "given up)", ["transport", "result"], registry=REGISTRY)
SENDS_HELD = Counter(
    "gridbot_sends_held",
    "Outbox rows held back by a rate limit (WeCom's per robot or per member), not counted "
    "as attempts", ["transport"], registry=REGISTRY)


# -- what the code calls ------------------------------------------------------------------------

def stored(channel: str, duplicate: bool) -> None:
    (MESSAGES_DUPLICATE if duplicate else MESSAGES_IN).labels(channel).inc()


def refused(channel: str, status: int) -> None:
    MESSAGES_REFUSED.labels(channel, str(status)).inc()


def understood(nlu: dict[str, Any] | None) -> None:
    """The confidence of one NLU answer, by its intent."""
    intent = (nlu or {}).get("intent") or {}
    confidence = intent.get("confidence")
    if isinstance(confidence, int | float):
        NLU_CONFIDENCE.labels(str(intent.get("name") or "none")).observe(float(confidence))


def handled(decisions: Iterable[Any], stored_at: Iterable[datetime | None],
            now: datetime | None = None) -> None:
    """A batch committed: its decisions (outcomes, escalations) and, for each message, when
    it was stored."""
    for decision in decisions:
        MESSAGES_HANDLED.labels(decision.outcome).inc()
        escalated(decision, "message")
    now = now or datetime.now(UTC)
    for at in stored_at:
        if at is not None:
            HANDLING_SECONDS.observe(max(0.0, (now - at).total_seconds()))


def escalated(decision: Any, source: str) -> None:
    count = sum(1 for change in decision.changes if change.kind == "escalated")
    if count:
        ESCALATIONS.labels(source).inc(count)


def timers_fired(fired: Iterable[tuple[str, Any]]) -> None:
    """Timers whose firing committed: (kind, decision) each."""
    for kind, decision in fired:
        TIMERS_FIRED.labels(kind).inc()
        escalated(decision, "timer")


def put_back(*, counted: bool, soon: bool) -> None:
    MESSAGES_RETRIED.labels("error" if counted else "again" if soon else "transient").inc()


def sent(transport: str, result: str) -> None:
    SENDS.labels(transport, result).inc()


# -- scraping ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DatabaseFigures:
    outbox_pending: int
    outbox_oldest: datetime | None
    outbox_dead: int
    inbound_waiting: int
    inbound_oldest: datetime | None


def _figures_statement() -> Any:
    pending = OutboxMessage.status == "pending"
    waiting = InboundRecord.status.in_(("received", "processing"))
    return select(
        select(func.count()).select_from(OutboxMessage).where(pending).scalar_subquery(),
        select(func.min(OutboxMessage.created_at)).where(pending).scalar_subquery(),
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.status == "dead").scalar_subquery(),
        select(func.count()).select_from(InboundRecord).where(waiting).scalar_subquery(),
        select(func.min(InboundRecord.received_at)).where(waiting).scalar_subquery(),
    )


_FIGURES = _figures_statement()


async def database_figures(engine: AsyncEngine,
                           timeout: float = SCRAPE_TIMEOUT) -> DatabaseFigures | None:
    """The outbox's and the inbound queue's figures in one statement; None when the database
    did not answer within `timeout` seconds (the scrape then says so instead of waiting)."""

    async def read() -> DatabaseFigures:
        async with engine.connect() as connection:
            row = (await connection.execute(_FIGURES)).one()
        return DatabaseFigures(int(row[0] or 0), _aware(row[1]), int(row[2] or 0),
                               int(row[3] or 0), _aware(row[4]))

    try:
        return await within(read(), timeout)
    except Exception as exc:
        log.warning("metrics: the database's figures could not be read: %s",
                    "timed out" if isinstance(exc, TimeoutError) else short_reason(exc))
        return None


def _aware(value: Any) -> datetime | None:
    """A time from a scalar subquery: SQLite gives text, PostgreSQL an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class _Figures:
    """The database's figures of one scrape, as a collector of a one-scrape registry."""

    def __init__(self, figures: DatabaseFigures | None, now: datetime) -> None:
        self._figures = figures
        self._now = now

    def collect(self) -> Iterable[GaugeMetricFamily]:
        figures = self._figures
        yield GaugeMetricFamily(
            "gridbot_metrics_database_ok",
            f"1 when this scrape read the database's figures within {SCRAPE_TIMEOUT:g} s, "
            "else 0 (and the outbox and inbound figures are left out)",
            value=0 if figures is None else 1)
        if figures is None:
            return
        yield GaugeMetricFamily("gridbot_outbox_pending", "Outbox rows waiting to be sent",
                                value=figures.outbox_pending)
        yield GaugeMetricFamily(
            "gridbot_outbox_oldest_pending_seconds",
            "Age of the oldest outbox row waiting to be sent (0 when none waits)",
            value=self._age(figures.outbox_oldest))
        yield GaugeMetricFamily("gridbot_outbox_dead",
                                "Outbox rows given up (dead), until sent again by an admin",
                                value=figures.outbox_dead)
        yield GaugeMetricFamily("gridbot_inbound_waiting",
                                "Messages stored and not yet handled",
                                value=figures.inbound_waiting)
        yield GaugeMetricFamily(
            "gridbot_inbound_oldest_waiting_seconds",
            "Age of the oldest message stored and not yet handled (0 when none waits)",
            value=self._age(figures.inbound_oldest))

    def _age(self, at: datetime | None) -> float:
        return 0.0 if at is None else max(0.0, (self._now - at).total_seconds())


async def exposition(engine: AsyncEngine) -> bytes:
    """The text `/metrics` answers: this process's registry and the database's figures."""
    figures = await database_figures(engine)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Figures(figures, datetime.now(UTC)))  # type: ignore[arg-type]
    return generate_latest(REGISTRY) + generate_latest(scrape)
