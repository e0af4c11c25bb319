"""The running parts of one gridbot process, wired from settings: storage, intake,
processors, the outbox and the outbound clients."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp

from bot.addressing import Addressing
from bot.config import Settings
from bot.digest import ensure_timer as ensure_digest_timer
from bot.digest import load_digest
from bot.ingest import InboundStore, SeenCache
from bot.media import MediaFetcher
from bot.models import ModelHolder
from bot.outbound import Dispatcher, MemoryTokenCache, RedisTokenCache
from bot.outbox import OutboxWorker
from bot.photos import PhotoReader
from bot.processing import Processor
from bot.ratelimit import (
    WECOM_APP_LIMIT,
    WECOM_APP_WINDOW,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from bot.replay import DatabaseReplayGuard, RedisReplayGuard, ReplayGuard
from bot.reports import city, spans
from bot.scheduler import Scheduler
from bot.workqueue import READ_AT_ONCE, MemoryWorkQueue, RedisStreamQueue, WorkQueue
from bot.writer import DecisionWriter
from handlers.digest import DIGEST
from storage.db import SessionFactory, create_engine, session_factory, statement_sessions
from storage.errors import is_transient, short_reason
from storage.notices import notice_view
from storage.orgmap import OrgMapCache

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5.0
FORGET_INTERVAL = 60.0  # how often expired conversation state is deleted
FOLD_INTERVAL = 60.0  # how often the changes of the tickets counted per day are folded in
CITY_FIGURES_CHECK = 30.0  # how often a worker looks for a city figure due to be made
MODEL_CHECK_INTERVAL = 5.0
DIGEST_CHECK_INTERVAL = 600.0  # how often a worker makes sure a morning digest is pending
# Messages handled in one transaction. A batch costs a dozen round trips whatever it holds
# (the claim, the fence, the locks, the open tickets, one INSERT of each kind of row, the
# work queue's read and acknowledgement), so a burst is handled in batches as large as the
# work queue hands out; a steady flow's batches are as small as what has arrived.
BATCH = READ_AT_ONCE
# On SQLite the intake's writes wait for the one writer a processing transaction holds, and
# the outbox waits up to 0.2 s for a pause in arrivals. Processing takes its whole batch even
# while messages arrive: a few messages at a time answered a burst's senders sooner but left
# its last replies seconds behind, each small transaction costing about as much as a full
# one (bench/pipeline.py --database sqlite, README "Measured"). PostgreSQL's intake never
# waits for processing: there processing and sending go on whatever arrives.
INTAKE_FIRST = {"sqlite"}


class Deliverer:
    """The outbound clients, plus the simulator: a transport that only records."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def deliver(self, transport: str, target: dict[str, Any], payload: dict[str, Any],
                      delivery_id: str) -> dict[str, Any]:
        if transport == "simulator":
            return {}
        return await self._dispatcher.deliver(transport, target, payload, delivery_id)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _log_failure(what: str, exc: Exception) -> None:
    """A database that is down or busy is one line; anything else is a bug, with its trace."""
    if is_transient(exc):
        log.warning("%s failed, will retry: %s", what, short_reason(exc))
    else:
        log.exception("%s failed", what, exc_info=exc)


#: Seconds a Redis command may take before it fails as if Redis were down. A Redis that hangs
#: then costs a message's answer at most this (intake falls back on the database's unique
#: key), well within the 5 seconds WeChat waits; longer than the work queue's 1-second block.
REDIS_WAITS = 2.0


def _default_nlu(settings: Settings) -> Any:
    """The backend ``settings.nlu_backend`` names, or gridbot's own model (the default),
    its files under ``settings.var_dir``."""
    from nlu import get_model
    from nlu.backends import load_backend

    if settings.nlu_backend != "default":
        return load_backend(settings).warm()
    return get_model(settings.var_dir / "models").warm()


@dataclass
class Runtime:
    settings: Settings
    nlu_loader: Any = None  # called with no arguments; default: the backend `settings` name
    engine: Any = None
    sessions: SessionFactory = field(init=False)
    redis: Any = None
    http: aiohttp.ClientSession | None = None
    queue: WorkQueue = field(init=False)
    org: OrgMapCache = field(init=False)
    intake: InboundStore = field(init=False)
    processor: Processor = field(init=False)
    outbox: OutboxWorker = field(init=False)
    writer: DecisionWriter = field(init=False)
    scheduler: Scheduler = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    models: ModelHolder = field(init=False)
    media: MediaFetcher = field(init=False)
    #: The turns of this process's requests to read a city's figure (`city.answer`).
    city_readings: city.Readings = field(default_factory=city.Readings)
    #: The months of a city's days this process read last (`spans.stats_since`).
    city_days: spans.KeptDays = field(default_factory=spans.KeptDays)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        settings = self.settings
        if self.nlu_loader is None:
            self.nlu_loader = partial(_default_nlu, settings)
        if self.engine is None:
            self.engine = create_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        statements = statement_sessions(self.engine)
        seen = None
        if settings.redis_url:
            import redis.asyncio as aioredis

            self.redis = aioredis.from_url(settings.redis_url, socket_timeout=REDIS_WAITS,
                                           socket_connect_timeout=REDIS_WAITS)
            self.queue = RedisStreamQueue(self.redis)
            seen = SeenCache(self.redis)
            tokens: Any = RedisTokenCache(self.redis)
            replay: ReplayGuard = RedisReplayGuard(self.redis)
            robots: RateLimiter = RedisRateLimiter(self.redis)
            members: RateLimiter = RedisRateLimiter(self.redis, WECOM_APP_LIMIT,
                                                    WECOM_APP_WINDOW)
        else:
            self.queue = MemoryWorkQueue()
            tokens = MemoryTokenCache()
            replay = DatabaseReplayGuard(self.engine)
            robots = MemoryRateLimiter()
            members = MemoryRateLimiter(WECOM_APP_LIMIT, WECOM_APP_WINDOW)
        self.org = OrgMapCache(self.sessions)
        self.models = ModelHolder(self.sessions, self.nlu_loader)
        self.intake = InboundStore(self.engine, on_stored=self.queue.put, seen=seen,
                                   replay=replay)
        self.dispatcher = Dispatcher(settings, tokens=tokens)
        self._intake_first = self.engine.dialect.name in INTAKE_FIRST
        self.outbox = OutboxWorker(self.sessions, Deliverer(self.dispatcher),
                                   before_round=self.intake.quiet if self._intake_first else None,
                                   robot_limiter=robots, app_limiter=members,
                                   statements=statements)
        self.writer = DecisionWriter(Addressing(settings))
        self.media = MediaFetcher(settings, wecom=self.dispatcher.wecom)
        self.photos = PhotoReader(self.sessions, self.media, settings.public_url, _utcnow)
        self.processor = Processor(
            self.sessions, self.org, self.nlu, self.writer, on_outbox=self._wake_outbox,
            photos=self.photos, statements=statements,
        )
        self.scheduler = Scheduler(self.sessions, self.org, self.writer,
                                   on_outbox=self._wake_outbox, load_notice=notice_view,
                                   load_data={DIGEST: partial(load_digest,
                                                              at=settings.digest_at)})

    def nlu(self) -> Any:
        return self.models.current()

    async def _wake_outbox(self) -> None:
        self.outbox.wake()

    async def start(self, workers: bool = True) -> None:
        self.intake.start()
        if workers:
            if self.redis is None:
                await self._take_over_from_previous_run()
            # Load the model before messages arrive, off the event loop.
            await asyncio.to_thread(self.nlu)
            self.outbox.start()
            self._tasks.append(asyncio.create_task(self._follow_models(), name="gridbot-models"))
            self._tasks.append(asyncio.create_task(self._consume(), name="gridbot-processor"))
            self._tasks.append(asyncio.create_task(self._sweep(), name="gridbot-sweeper"))
            self._tasks.append(asyncio.create_task(self._watch_timers(), name="gridbot-timers"))
            self._tasks.append(asyncio.create_task(self._keep_digest_scheduled(),
                                                   name="gridbot-digest"))
            self._tasks.append(asyncio.create_task(self._make_city_figures(),
                                                   name="gridbot-city-figures"))

    async def _take_over_from_previous_run(self) -> None:
        """Without Redis, gridbot runs as one process: whatever is claimed at start was
        claimed by this process's previous run, which is gone. Take it over now instead of
        waiting for the leases to run out."""
        try:
            messages = await self.processor.release_leases()
            sends = await self.outbox.release_leases()
            await self.scheduler.release_leases()
        except Exception as exc:
            _log_failure("taking over a previous run's work", exc)
            return
        if messages or sends:
            log.info("took over %d message(s) and %d send(s) left by the previous run",
                     messages, sends)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        await self.outbox.stop()
        await self.intake.stop()
        await self.dispatcher.close()
        await self.media.close()
        await self.queue.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    async def _process(self, ids: list[int], take_over: bool = False) -> None:
        for start in range(0, len(ids), BATCH):
            await self.processor.process_many(ids[start:start + BATCH], take_over)

    async def _consume(self) -> None:
        while True:
            items = await self.queue.get(timeout=1.0)
            # Acknowledged batch by batch, so that none waits long enough to look abandoned.
            for start in range(0, len(items), BATCH):
                chunk = items[start:start + BATCH]
                try:
                    await self._process([i.inbound_id for i in chunk if not i.taken_over])
                    await self._process([i.inbound_id for i in chunk if i.taken_over],
                                        take_over=True)
                except Exception as exc:  # not acknowledged: taken over again after a while
                    _log_failure(f"processing {len(chunk)} messages", exc)
                    continue
                await self.queue.done(chunk)

    async def _sweep(self) -> None:
        """Catch what no signal announced: a crash mid-message, a lost wake-up, and the
        messages put back for a retry, as soon as they are due. Now and then it also
        deletes what conversations remembered that has expired and folds the changes of the
        tickets counted per day into their counts (storage.ticket_counts)."""
        forget_at = fold_at = 0.0
        while True:
            wait = SWEEP_INTERVAL
            try:
                await self._process(await self.processor.pending())
                if asyncio.get_running_loop().time() >= forget_at:
                    forget_at = asyncio.get_running_loop().time() + FORGET_INTERVAL
                    await self.processor.forget_expired()
                if asyncio.get_running_loop().time() >= fold_at:
                    fold_at = asyncio.get_running_loop().time() + FOLD_INTERVAL
                    await self.processor.fold_ticket_counts()
                due_in = await self.processor.next_retry_in()
                if due_in is not None:
                    wait = min(wait, max(due_in, 0.05))
            except Exception as exc:
                _log_failure("sweeping for waiting messages", exc)
            await asyncio.sleep(wait)

    async def _watch_timers(self) -> None:
        """Deadlines, reminders and scheduled notices, within about a second of their time."""
        while True:
            wait = 1.0
            try:
                while await self.scheduler.run_once():
                    pass
                wait = await self.scheduler.seconds_to_next()
            except Exception as exc:
                _log_failure("firing timers", exc)
            await asyncio.sleep(max(wait, 0.05))

    async def _make_city_figures(self) -> None:
        """The figures of a city made ahead (bot.reports.city); nothing for one street."""
        while True:
            try:
                await city.refresh(self.sessions, await self.org.get(), self.scheduler.clock)
            except Exception as exc:
                _log_failure("making the city's figures", exc)
            await asyncio.sleep(CITY_FIGURES_CHECK)

    async def schedule_digest(self) -> None:
        """The morning digest's timer, unless one is pending (`bot.digest`)."""
        async with self.sessions() as session, session.begin():
            due = await ensure_digest_timer(session, self.scheduler.clock(),
                                            self.settings.digest_at)
        if due is not None:
            log.info("morning digest scheduled for %s", due.isoformat())

    async def _keep_digest_scheduled(self) -> None:
        """At start, and again now and then: a start while the database was away, or a
        digest that failed for good, leaves no digest pending until this looks again."""
        while True:
            try:
                await self.schedule_digest()
            except Exception as exc:
                _log_failure("scheduling the morning digest", exc)
            await asyncio.sleep(DIGEST_CHECK_INTERVAL)

    async def _follow_models(self) -> None:
        while True:
            try:
                await self.models.refresh()
            except Exception as exc:
                log.warning("checking the active NLU model failed: %s", exc)
            await asyncio.sleep(MODEL_CHECK_INTERVAL)

    async def drain(self, timeout: float = 10.0) -> None:
        """Process every stored message, fire every due timer and send every due outbox row
        (tests, CLI)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            pending = await self.processor.pending()
            await self._process(pending)
            fired = await self.scheduler.run_once()
            sent = await self.outbox.run_once()
            if not pending and not sent and not fired:
                if self.outbox.sending:
                    # The background sender has rows out (a worker process's own loop):
                    # settled is when they are sent.
                    await asyncio.sleep(0.01)
                    continue
                retry_in = await self.processor.next_retry_in()
                if retry_in is None:
                    return
                await asyncio.sleep(min(retry_in, 0.5))
        raise TimeoutError("gridbot did not settle in time")
