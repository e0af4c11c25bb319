"""The shell around the handlers: claim stored messages, understand them, decide, and apply
each decision with its outbox rows in one transaction.

How a message moves: `received` → claimed (`processing`, with a lease and a new attempt
number) → `done` or `failed`. Understanding (commands, NLU) happens before the transaction,
so no lock is held while a language backend answers. A batch of messages is decided and
applied in one transaction; each message's effects (ticket, events, followers, outbox rows)
and its status commit together or not at all.

- The transaction begins with a fence: a message becomes `done` only if this process still
  holds its claim (same attempt number). A process whose lease ran out while it stalled is
  fenced out, so no message is handled twice.
- The batch is first run without savepoints, its outbox rows and decisions written with one
  statement each; if one message fails, nothing of that pass is kept and the batch runs
  again with a savepoint per message, so that only that message fails.
- An error that passes (the database locked, restarting or unreachable, a ticket that moved
  meanwhile) puts the message back with a backoff, as often as it takes, and logs one line.
- Any other error is counted; after `MAX_FAILURES` the message is `failed` and, if its
  sender expected an answer, they hear that gridbot could not handle it.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import command_data, metrics
from bot.channels.media import READABLE_KINDS, VOICE
from bot.open311.intake import decided, report_context
from bot.photos import PhotoPrep, PhotoReader
from bot.writer import DecisionWriter, Origin
from domain.conversations import Memory
from domain.notices import NoticeView
from domain.org import OrgMap
from domain.tickets import TicketView
from handlers import (
    SPECS,
    Command,
    CommandData,
    Context,
    Decision,
    Message,
    command_in,
    conversation,
    handle_command,
    handle_message,
    notice_answers,
    notice_match,
    photos,
    voice,
)
from handlers.failures import could_not_handle
from handlers.intents import FOLLOW_WINDOW, building_of
from handlers.messages import takes_back
from handlers.open311 import CHANNEL as OPEN311_CHANNEL
from handlers.open311 import understood as understood_report
from handlers.quotes import reply_of
from nlu import matters
from nlu.traditional import to_simplified
from storage import conversations
from storage import tickets as ticket_queries
from storage.bound_rows import ids_in, rows_in
from storage.db import SessionFactory
from storage.errors import is_transient, short_reason
from storage.models import WAITING_CONDITION, InboundRecord
from storage.orgmap import OrgMapCache
from storage.ticket_counts import fold_ticket_counts
from storage.writes import PendingWrites

log = logging.getLogger(__name__)

# Short, since the fence (not the lease) keeps a message from being handled twice: a lease
# only says how long a dead process's messages wait before another takes them.
LEASE = timedelta(seconds=10)
MAX_FAILURES = 3
RETRY_FIRST = 0.5  # seconds before the first retry of a message
RETRY_CAP = 30.0


class Parser(Protocol):
    def parse(self, text: str) -> dict[str, Any]: ...


async def parse_text(parser: Parser, text: str) -> dict[str, Any]:
    """Parse with any backend; one that talks to a server does so without blocking."""
    aparse = getattr(parser, "aparse", None)
    if aparse is not None:
        return await aparse(text)
    return parser.parse(text)


def _matter_read(parser: Parser, nlu: dict[str, Any]) -> dict[str, Any]:
    """A message's one matter, read beside what was set aside: why the parser read its
    words so, and how they read in simplified characters."""
    words = str(nlu.get("text", ""))
    evidence = explain_text(parser, words, nlu)
    read = {**nlu, "evidence": evidence} if evidence is not None else dict(nlu)
    read.pop("read_as", None)
    simplified = to_simplified(words)
    if simplified != words:
        read["read_as"] = simplified
    return read


def explain_text(parser: Parser, text: str, parsed: dict[str, Any]) -> dict[str, Any] | None:
    """Why the parser chose its intent in ``parsed``, its answer for ``text``, when it can
    say (gridbot's own model can)."""
    explain = getattr(parser, "explain", None)
    return explain(text, parsed=parsed) if explain is not None else None


def retry_delay(attempt: int) -> timedelta:
    """0.5 s, 1 s, 2 s … up to 30 s, with jitter so that a fleet spreads out."""
    base = min(RETRY_CAP, RETRY_FIRST * 2.0 ** max(0, attempt - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))




@dataclass(frozen=True, slots=True)
class Claim:
    """A stored message this process holds, as it was stored."""

    id: int
    attempt: int  # the claim's number: the fence that keeps a stale holder out
    failures: int
    channel: str
    msg_id: str
    chat_id: str | None
    sender_id: str
    sender_name: str | None
    kind: str
    text: str
    mentions_bot: bool
    received_at: datetime | None = None  # when it was stored: handling latency is from here
    media: dict[str, str] | None = None  # its picture's or voice's media id / URL


def _own_words(claim: Claim) -> Claim:
    """The claim with the sender's own words: a quoted message left out (`handlers.quotes`)."""
    words = reply_of(claim.text)
    return claim if words is claim.text else replace(claim, text=words)


@dataclass(slots=True)
class Prepared:
    """A claimed message with everything decided about it before the transaction."""

    claim: Claim
    ctx: Context | None = None
    command: Command | None = None
    nlu: dict[str, Any] | None = None
    error: Exception | None = None
    # The building's recent notices, read when the message may ask about one of them.
    notices: list[NoticeView] = field(default_factory=list)
    # Its picture, fetched before the transaction (bot.photos).
    photo: PhotoPrep | None = None
    # What is remembered of the sender in this chat, and the NLU of their fragments joined
    # to this message when those are to be read together (handlers.conversation).
    memory: Memory | None = None
    joined_nlu: dict[str, Any] | None = None

    @property
    def is_text(self) -> bool:
        # A voice message with its transcription is read like typed text.
        return self.claim.kind in READABLE_KINDS and bool(self.claim.text.strip())


class Processor:
    def __init__(
        self,
        sessions: SessionFactory,
        org: OrgMapCache,
        nlu: Callable[[], Parser],
        writer: DecisionWriter,
        on_outbox: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        photos: PhotoReader | None = None,
        statements: SessionFactory | None = None,
    ) -> None:
        self._photos = photos
        self._sessions = sessions
        # For the claim and the reads before the transaction (storage.db.statement_sessions).
        self._statements = statements or sessions
        self._org = org
        self._nlu = nlu
        self._writer = writer
        self._on_outbox = on_outbox
        self._clock = clock

    async def process(self, inbound_id: int) -> Decision | None:
        """Handle one stored message, once. None when another worker has it or had it."""
        decisions = await self.process_many([inbound_id])
        return decisions.get(inbound_id)

    async def process_many(self, inbound_ids: list[int],
                           take_over: bool = False) -> dict[int, Decision]:
        """Handle stored messages in one transaction, so that one failing message does not
        hold back the others. Messages another worker holds are skipped — unless
        `take_over`: the work queue says their worker died, so its claim is taken without
        waiting for its lease (the fence keeps it from applying anything after that)."""
        claims = await self._claim(inbound_ids, take_over)
        if not claims:
            return {}
        metrics.BATCH_SIZE.observe(len(claims))
        decisions: dict[int, Decision] = {}
        if self._photos is not None:
            await self._photos.prefetch(claims)
        # One sender's messages in one chat are decided one after the other, each with what
        # the one before left remembered: a batch holds at most one of them.
        waves = _waves(claims)
        for index, wave in enumerate(waves):
            org = await self._org.get()
            prepared = [await self._prepare(claim, org) for claim in wave]
            await self._recall(prepared)
            try:
                decided_now = await self._decide_and_apply(prepared)
            except Exception as exc:
                # The later waves go back with it, so that a sender's messages keep their order.
                later = [Prepared(c) for rest in waves[index + 1:] for c in rest]
                await self._batch_failed(sorted(prepared + later, key=lambda p: p.claim.id), exc)
                break
            decisions.update(decided_now)
            metrics.handled(decided_now.values(),
                            (c.received_at for c in wave if c.id in decided_now), self._clock())
        if any(d.sends for d in decisions.values()) and self._on_outbox is not None:
            await self._on_outbox()
        return decisions

    async def pending(self, limit: int = 200) -> list[int]:
        """Messages stored but not handled: new ones, ones due for a retry, and ones whose
        worker died."""
        async with self._statements() as session:
            rows = await session.execute(_PENDING, {"now": self._clock(), "limit": limit})
            return list(rows.scalars())

    async def release_leases(self) -> int:
        """Put back every claimed message: for a process that knows it is the only one, the
        claims it finds at start were left by its own previous run. The attempt numbers stay,
        so nothing that run still held could be applied."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(InboundRecord).where(InboundRecord.status == "processing")
                .values(status="received", lease_until=None)
            )
        return result.rowcount or 0

    async def next_retry_in(self) -> float | None:
        """Seconds until the soonest message put back for a retry is due; None if none is."""
        async with self._sessions() as session:
            soonest = await session.scalar(
                select(func.min(InboundRecord.next_attempt_at))
                .where(InboundRecord.status == "received",
                       InboundRecord.next_attempt_at.is_not(None)))
        if soonest is None:
            return None
        return max(0.0, (soonest - self._clock()).total_seconds())

    async def forget_expired(self) -> int:
        """Delete what conversations remembered that has expired (handlers.conversation)."""
        async with self._sessions() as session, session.begin():
            return await conversations.forget_expired(session, self._clock())

    async def fold_ticket_counts(self) -> int:
        """Fold the changes the triggers on `tickets` recorded into `ticket_counts`, so that
        they stay few (storage.ticket_counts); how many were folded."""
        async with self._sessions() as session, session.begin():
            return await fold_ticket_counts(session)

    # -- claiming and understanding ---------------------------------------------------------

    async def _claim(self, inbound_ids: list[int], take_over: bool = False) -> list[Claim]:
        now = self._clock()
        # One conditional UPDATE: it needs no transaction around it.
        async with self._statements() as session, session.begin():
            result = await session.execute(
                _TAKE_OVER if take_over else _CLAIM,
                {"ids": inbound_ids, "along": inbound_ids, "now": now, "lease": now + LEASE})
            # A reply quoting another message is read as the reply alone.
            claims = [_own_words(Claim(*row)) for row in result]
        return sorted(claims, key=lambda c: c.id)

    async def _prepare(self, claim: Claim, org: OrgMap) -> Prepared:
        prepared = Prepared(claim)
        try:
            ctx = prepared.ctx = self._context(claim, org)
            if self._photos is not None:
                prepared.photo = await self._photos.prepare(claim, prepared.ctx)
            if not prepared.is_text:
                return prepared
            # A report through Open311 is a form: its words are never a command.
            report = claim.channel == OPEN311_CHANNEL
            command = prepared.command = None if report else command_in(
                ctx, claim.text, to_simplified)
            # A message is understood here, outside the transaction; so is the argument of a
            # command that names a problem in words (走访 3号楼 楼道灯不亮).
            words = claim.text if command is None else (
                command.arg if command.error is None and SPECS[command.word].understands
                else "")
            if words:
                parser = self._nlu()
                nlu = await parse_text(parser, words)
                metrics.understood(nlu)
                evidence = explain_text(parser, words, nlu)
                prepared.nlu = {**nlu, "evidence": evidence} if evidence is not None else nlu
                read_as = to_simplified(words)
                if read_as != words:  # 明天幾點停水: the handlers read it as 明天几点停水
                    prepared.nlu = {**prepared.nlu, "read_as": read_as}
                # 电梯坏了，楼道灯也不亮: two matters, each read on its own (nlu.matters)
                several = None if command is not None or report else await matters.read(
                    lambda part: parse_text(parser, part), words, nlu, notice_match.is_question)
                if several is not None:
                    prepared.nlu = matters.as_read(prepared.nlu, several)
                    if prepared.nlu.get("set_aside"):  # the one matter beside a thanks
                        prepared.nlu = _matter_read(parser, prepared.nlu)
            if report:
                prepared.nlu = understood_report(prepared.nlu or {},
                                                 decided(claim.chat_id).service_code)
        except Exception as exc:
            prepared.error = exc
        return prepared

    async def _recall(self, wave: list[Prepared]) -> None:
        """What the wave's messages need read before the transaction, in one session for the
        whole wave: the loose pictures of senders whose message may take them, the recent
        notices a question may be about, and what gridbot remembers of each sender in their
        chat (with, when a message is to be read with the sender's fragments, their joined
        NLU — parsed after the session is closed)."""
        wanting = [p for p in wave if _may_take_pictures(p)] if self._photos is not None else []
        asking = [p for p in wave if _wants_notices(p)]
        remembering = [p for p in wave if p.error is None and p.is_text and p.ctx is not None
                       and p.claim.channel != OPEN311_CHANNEL]
        if not wanting and not asking and not remembering:
            return
        photos = self._photos
        try:
            async with self._statements() as session:
                if photos is not None:
                    await _read_for(session, wanting, lambda: photos.loose(
                        session, [(p.claim, p.photo) for p in wanting]), "photo")
                await _read_for(session, asking, lambda: command_data.recent_notices_of(
                    session, [p.ctx for p in asking if p.ctx is not None]), "notices")
                remembering = [p for p in remembering if p.error is None]
                memories = await conversations.read_many(session, [
                    (conversation.key_of(p.ctx), p.ctx.now, p.ctx.group_id is None)
                    for p in remembering if p.ctx is not None])
        except Exception as exc:
            for prepared in wanting + asking + remembering:
                if prepared.error is None:
                    prepared.error = exc
            return
        for prepared, memory in zip(remembering, memories, strict=True):
            prepared.memory = memory
            assert prepared.ctx is not None
            joined = None if prepared.command is not None else conversation.joined_text(
                prepared.ctx, prepared.nlu, memory)
            if joined is not None:
                try:
                    prepared.joined_nlu = await parse_text(self._nlu(), joined)
                except Exception as exc:
                    prepared.error = exc

    def _context(self, claim: Claim, org: OrgMap) -> Context:
        if claim.channel == OPEN311_CHANNEL:
            return report_context(claim, org, self._clock())
        group = org.group_for(claim.channel, claim.chat_id) if claim.chat_id else None
        person = org.person_by_sender(claim.channel, claim.sender_id)
        return Context(
            message=Message(
                inbound_id=claim.id,
                channel=claim.channel,
                sender_id=claim.sender_id,
                sender_name=claim.sender_name,
                text=claim.text,
                chat_id=claim.chat_id,
                mentions_bot=claim.mentions_bot,
            ),
            org=org,
            now=self._clock(),
            group_id=group.id if group else None,
            building_id=group.building_id if group else None,
            person_id=person.id if person else None,
        )

    # -- the transaction --------------------------------------------------------------------

    async def _decide_and_apply(self, batch: list[Prepared]) -> dict[int, Decision]:
        """Decide and apply a batch in one transaction. The fast pass takes no savepoints;
        if one message fails in it, nothing of the pass is kept and the batch is handled
        again with a savepoint per message, so that only that message fails."""
        try:
            return await self._run_batch(batch, careful=False)
        except _OneFailed:
            return await self._run_batch(batch, careful=True)

    async def _run_batch(self, batch: list[Prepared], *, careful: bool) -> dict[int, Decision]:
        decisions: dict[int, Decision] = {}
        now = self._clock()
        async with self._sessions() as session, session.begin():
            held = await self._fence(session, [p.claim for p in batch], now)
            live = [p for p in batch if p.claim.id in held]  # the rest another process has
            about = [_about(p) for p in live]
            await ticket_queries.lock_buildings(session, {
                *(p.ctx.building_id for p in live
                  if p.ctx is not None and p.ctx.building_id is not None),
                *(b for buildings in about for b in buildings)})
            open_tickets = _BatchTickets(session, now - FOLLOW_WINDOW)
            await open_tickets.prefetch((b for buildings in about for b in buildings),
                                        (t for p in live for t in _named_tickets(p)))
            writes = PendingWrites()
            audits: list[dict[str, Any]] = []
            for prepared in live:
                if careful:
                    decision = await self._handle_carefully(session, prepared, open_tickets,
                                                            writes, audits)
                else:
                    try:
                        decision = await self._handle(session, prepared, open_tickets,
                                                      writes, audits)
                    except Exception as exc:
                        if is_transient(exc) and not isinstance(exc, ticket_queries.StaleTicket):
                            raise
                        raise _OneFailed() from exc
                if decision is not None:
                    decisions[prepared.claim.id] = decision
            await writes.flush(session)
            if audits:
                await session.execute(_RECORD_DECISION, audits)
        return decisions

    async def _handle(self, session: AsyncSession, prepared: Prepared,
                      open_tickets: _BatchTickets, writes: PendingWrites,
                      audits: list[dict[str, Any]]) -> Decision | None:
        if prepared.error is not None:
            raise prepared.error
        if prepared.photo is not None and prepared.photo.retry is not None:
            # The picture's source is down: this message waits, the batch goes on.
            await self._put_back(session, [prepared.claim], prepared.photo.retry,
                                 counted=False)
            return None
        decision = photos.with_photos(await self._decide(session, prepared, open_tickets),
                                      prepared.ctx, _has_picture(prepared),
                                      prepared.photo.loose if prepared.photo else 0,
                                      prepared.photo.links if prepared.photo else ())
        await self._apply(session, prepared, decision, writes, audits)
        open_tickets.after(decision, prepared)
        return decision

    async def _handle_carefully(self, session: AsyncSession, prepared: Prepared,
                                open_tickets: _BatchTickets, writes: PendingWrites,
                                audits: list[dict[str, Any]]) -> Decision | None:
        claim = prepared.claim
        mine = PendingWrites()
        records: list[dict[str, Any]] = []
        try:
            async with session.begin_nested():
                decision = await self._handle(session, prepared, open_tickets, mine, records)
        except ticket_queries.StaleTicket as exc:
            await self._put_back(session, [claim], exc, counted=False, soon=True)
            return None
        except Exception as exc:
            if is_transient(exc):
                raise  # the transaction itself is in doubt: the whole batch goes back
            return await self._failed(session, prepared, exc)
        writes.absorb(mine)  # kept only when its savepoint was
        audits += records
        return decision

    async def _fence(self, session: AsyncSession, claims: list[Claim], now: datetime) -> set[int]:
        """Mark the claims this process still holds done; the others were taken over by a
        process that claimed them after their lease ran out. Inside the transaction, so a
        message and its effects commit together."""
        result = await session.execute(
            _FENCE, {"held": [(c.id, c.attempt) for c in claims], "now": now})
        return set(result.scalars())

    async def _decide(self, session: AsyncSession, prepared: Prepared,
                      open_tickets: _BatchTickets) -> Decision:
        ctx = prepared.ctx
        assert ctx is not None
        claim = prepared.claim
        if prepared.photo is not None and prepared.photo.facts is not None:
            return photos.decide_photo(ctx, prepared.photo.facts)
        if not prepared.is_text:
            if claim.kind == VOICE:
                return voice.untranscribed(ctx)
            return Decision("ignored", f"不是文字消息（{claim.kind}）")
        if prepared.command is not None:
            command = prepared.command
            data = CommandData()
            loads = SPECS[command.word].loads
            if command.error is None:
                if loads == "ticket" and command.ticket_id is not None:
                    data = CommandData(ticket=await open_tickets.named(command.ticket_id))
                else:
                    data = await command_data.load(session, ctx, command, loads)
                if prepared.nlu is not None:
                    data = replace(data, nlu=prepared.nlu)
            decision = handle_command(ctx, command, data)
            if prepared.memory is not None:
                decision = conversation.after_command(decision, ctx, prepared.memory)
            return decision
        nlu = prepared.nlu or {}
        memory = prepared.memory
        # Only a would-be ticket needs its building's open tickets (to join one of them).
        tickets = await open_tickets.open_in(_about(prepared))
        if memory is None:  # an Open311 report
            return handle_message(ctx, nlu, tickets, prepared.notices)
        last = (await open_tickets.named(memory.last_ticket_id)
                if memory.last_ticket_id is not None else None)
        return conversation.converse(ctx, nlu, memory, tickets, prepared.notices,
                                     prepared.joined_nlu, last, decide=handle_message)

    async def _apply(self, session: AsyncSession, prepared: Prepared, decision: Decision,
                     writes: PendingWrites | None, audits: list[dict[str, Any]] | None,
                     send_key: str = "") -> None:
        ctx = prepared.ctx
        assert ctx is not None
        claim = prepared.claim
        person = ctx.org.person(ctx.person_id) if ctx.person_id is not None else None
        origin = Origin(
            key=f"in:{claim.id}" + (f":{send_key}" if send_key else ""),
            actor=person.name if person else (claim.sender_name or claim.sender_id),
            now=ctx.now, actor_person_id=ctx.person_id,
            # Whom the context says wrote: an Open311 reporter who gave an openid is a
            # WeChat user (bot.open311.intake); anyone else is the message's sender.
            reporter=(ctx.message.channel, ctx.message.sender_id, claim.sender_name),
            source_message_id=claim.id, group_id=ctx.group_id,
            picture=prepared.photo.picture if prepared.photo is not None else None,
        )
        applied = await self._writer.apply(session, decision, origin, ctx.org, writes)
        audit = decision.audit()
        if applied.ticket_id is not None:
            audit["ticket_id"] = applied.ticket_id
        for other, made in zip(audit.get("more", ()), applied.more, strict=True):
            if made.ticket_id is not None:
                other["ticket_id"] = made.ticket_id
        record = {"record_id": claim.id, "record_decision": audit}
        if audits is not None:
            audits.append(record)
        else:
            await session.execute(_RECORD_DECISION, [record])

    # -- when it goes wrong -----------------------------------------------------------------

    async def _failed(self, session: AsyncSession, prepared: Prepared,
                      exc: Exception) -> Decision | None:
        """An error that will not pass by itself: try again a few times (a fresh org map or
        another order may mend it), then give up with an answer to the sender."""
        claim = prepared.claim
        failures = claim.failures + 1
        reason = short_reason(exc)
        if failures < MAX_FAILURES:
            log.warning("inbound message %s failed (%d of %d), trying again: %s",
                        claim.id, failures, MAX_FAILURES, reason)
            await self._put_back(session, [claim], exc, counted=True)
            return None
        log.error("inbound message %s failed %d times, giving up", claim.id, failures,
                  exc_info=exc)
        metrics.MESSAGES_FAILED.inc()
        decision = None
        if prepared.ctx is not None:
            decision = could_not_handle(prepared.ctx, prepared.command is not None,
                                        prepared.nlu, reason)
            try:
                async with session.begin_nested():
                    await self._apply(session, prepared, decision, None, None,
                                      send_key="failed")
            except Exception as apology_exc:
                if is_transient(apology_exc):
                    raise
                log.error("inbound message %s: the answer to its sender failed too: %s",
                          claim.id, short_reason(apology_exc))
                decision = None
        await session.execute(
            update(InboundRecord)
            .where(InboundRecord.id == claim.id, InboundRecord.attempts == claim.attempt)
            .values(status="failed", failures=failures, processed_at=self._clock(),
                    lease_until=None, next_attempt_at=None, error=reason)
        )
        return decision

    async def _put_back(self, session: AsyncSession, claims: Iterable[Claim], exc: Exception,
                        *, counted: bool, soon: bool = False) -> None:
        """Return held messages to be handled again after a backoff."""
        now = self._clock()
        reason = short_reason(exc)
        for claim in claims:
            delay = timedelta(0) if soon else retry_delay(claim.attempt)
            values: dict[str, Any] = {
                "status": "received", "lease_until": None, "next_attempt_at": now + delay,
                "error": reason,
            }
            if counted:
                values["failures"] = claim.failures + 1
            metrics.put_back(counted=counted, soon=soon)
            # The attempt number, not the status: inside the batch's transaction the fence
            # has already marked the message done.
            await session.execute(
                update(InboundRecord)
                .where(InboundRecord.id == claim.id, InboundRecord.attempts == claim.attempt)
                .values(**values)
            )

    async def _batch_failed(self, batch: list[Prepared], exc: Exception) -> None:
        """The batch's transaction failed as a whole: nothing of it was kept."""
        claims = [p.claim for p in batch]
        transient = is_transient(exc)
        if transient:
            log.warning("handling %d message(s) put off, will retry: %s", len(claims),
                        short_reason(exc))
        try:
            async with self._sessions() as session, session.begin():
                if transient or len(claims) > 1:
                    await self._put_back(session, claims, exc, counted=False,
                                         soon=not transient)
                else:
                    await self._failed(session, batch[0], exc)
        except Exception as release_exc:  # the database is gone: the leases run out instead
            log.warning("could not put %d message(s) back (their lease will run out): %s",
                        len(claims), short_reason(release_exc))
            return
        if not transient and len(claims) > 1:
            # One of them breaks the whole transaction: handle each alone to find it.
            log.warning("a batch of %d messages failed as a whole (%s); handling them one "
                        "by one", len(claims), short_reason(exc))
            for claim in claims:
                await self.process_many([claim.id])


class _OneFailed(Exception):
    """A message failed in a batch's fast pass: the batch is handled again, carefully."""


# One statement for the decisions of a whole batch, executed with many parameter sets.
_RECORD_DECISION = (
    update(InboundRecord.__table__)
    .where(InboundRecord.__table__.c.id == bindparam("record_id"))
    .values(decision=bindparam("record_decision"))
)


def _wants_notices(prepared: Prepared) -> bool:
    """Answers from notices: a question the NLU reads as no matter, in a building's group,
    is checked against the building's recent notices (read, like the NLU's work, outside
    the transaction)."""
    ctx = prepared.ctx
    return (prepared.error is None and prepared.command is None and ctx is not None
            and prepared.nlu is not None and notice_answers.wants_notices(ctx, prepared.nlu))


def _may_open(prepared: Prepared) -> bool:
    """Whether a message may open or join a ticket in its group's building."""
    if prepared.command is not None or prepared.ctx is None or prepared.ctx.building_id is None:
        return False
    return _intent(prepared) != "none" or prepared.claim.mentions_bot


def _may_take_pictures(prepared: Prepared) -> bool:
    """Whether a message may take its sender's loose pictures: a 完成, or words that may make
    a report."""
    if prepared.error is not None or not prepared.is_text:
        return False
    command = prepared.command
    return command.word == "完成" if command is not None else _intent(prepared) != "none"


def _intent(prepared: Prepared) -> str:
    return ((prepared.nlu or {}).get("intent") or {}).get("name", "none")


def _has_picture(prepared: Prepared) -> bool:
    return prepared.photo is not None and prepared.photo.picture is not None


def _in_turn(along: bool) -> Any:
    """A message is taken only after its sender's earlier messages in the same chat (those
    in the parameter `along` aside): what a conversation remembers depends on their order,
    also when one of them was put back for a retry or another process holds it."""
    earlier = _INBOUND.alias("earlier")
    conditions = [
        # Spelled as the partial index's condition, for SQLite to use that index.
        text("earlier." + WAITING_CONDITION),
        earlier.c.id < _INBOUND.c.id,
        earlier.c.channel == _INBOUND.c.channel, earlier.c.sender_id == _INBOUND.c.sender_id,
        func.coalesce(earlier.c.chat_id, "") == func.coalesce(_INBOUND.c.chat_id, ""),
    ]
    if along:
        conditions.append(~ids_in(earlier.c.id, "along"))
    return ~exists().where(*conditions)


def _claimable(along: bool) -> Any:
    """Messages that may be claimed at the parameter `now`."""
    t = _INBOUND.c
    now = bindparam("now", type_=t.received_at.type)
    return and_(or_(
        and_(t.status == "received", or_(t.next_attempt_at.is_(None), t.next_attempt_at <= now)),
        and_(t.status == "processing", t.lease_until < now),
    ), _in_turn(along))


# The statements processing runs for every batch, built once (Core, on the table: no ORM
# bookkeeping is needed for rows no session holds).
_INBOUND = InboundRecord.__table__
_PENDING = (select(_INBOUND.c.id).where(_claimable(along=False)).order_by(_INBOUND.c.id)
            .limit(bindparam("limit")))


def _claim_statement(take_over: bool) -> Any:
    t = _INBOUND.c
    claimable = _claimable(along=True)
    if take_over:
        claimable = or_(claimable, t.status == "processing")
    return (
        update(_INBOUND)
        .where(ids_in(t.id, "ids"), claimable)
        .values(status="processing", lease_until=bindparam("lease", type_=t.lease_until.type),
                attempts=t.attempts + 1)
        .returning(t.id, t.attempts, t.failures, t.channel, t.msg_id, t.chat_id, t.sender_id,
                   t.sender_name, t.kind, t.text, t.mentions_bot, t.received_at, t.media)
    )


_CLAIM = _claim_statement(take_over=False)
_TAKE_OVER = _claim_statement(take_over=True)
_FENCE = (
    update(_INBOUND)
    .where(rows_in((_INBOUND.c.id, _INBOUND.c.attempts), "held"),
           _INBOUND.c.status == "processing")
    .values(status="done", processed_at=bindparam("now", type_=_INBOUND.c.processed_at.type),
            lease_until=None, next_attempt_at=None, error=None)
    .returning(_INBOUND.c.id)
)


def _about(prepared: Prepared) -> set[int]:
    """The buildings whose open tickets a message's decision may read, to join one of them
    rather than open another: those the message names or is answered with as well as its
    group's (`conversation.answer_buildings`); an Open311 report's address and the building
    its text names. Their locks are held while the batch is decided."""
    ctx = prepared.ctx
    if ctx is None:
        return set()
    if prepared.memory is None:  # an Open311 report
        if not _may_open(prepared):
            return set()
        named = building_of(ctx, prepared.nlu or {})
        return {b for b in (ctx.building_id, named) if b is not None}
    if not _may_report(prepared):
        return set()
    return conversation.answer_buildings(ctx, prepared.nlu or {}, prepared.memory,
                                         prepared.joined_nlu)


def _may_report(prepared: Prepared) -> bool:
    """Whether a message may open or join a ticket, read with what is remembered."""
    if prepared.command is not None:
        return False
    intents = {((nlu or {}).get("intent") or {}).get("name", "none")
               for nlu in (prepared.nlu, prepared.joined_nlu)}
    return (intents != {"none"} or prepared.claim.mentions_bot
            or (prepared.memory is not None and prepared.memory.pending is not None)
            or takes_back(to_simplified(prepared.claim.text)))


async def _read_for(session: AsyncSession, wave: list[Prepared],
                    read: Callable[[], Awaitable[list[Any]]], attribute: str) -> None:
    """Read something for each of these messages in one statement (`read` answers in their
    order) and set it as their `attribute`; if the read fails, so does each of them, and the
    session is usable again for the next read."""
    if not wave:
        return
    try:
        found = await read()
    except Exception as exc:
        for prepared in wave:
            prepared.error = exc
        with contextlib.suppress(Exception):
            await session.rollback()
        return
    for prepared, value in zip(wave, found, strict=True):
        setattr(prepared, attribute, value)


def _waves(claims: list[Claim]) -> list[list[Claim]]:
    """The claims in waves, a sender's messages in one chat each in a later wave."""
    waves: list[list[Claim]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for claim in claims:
        key = (claim.channel, claim.sender_id, claim.chat_id or "")
        index = seen[key] = seen.get(key, -1) + 1
        if index == len(waves):
            waves.append([])
        waves[index].append(claim)
    return waves


def _named_tickets(prepared: Prepared) -> list[int]:
    """The tickets a message's decision will read by number: the ticket its command names
    (接单 N, 查询 N …), or the one the sender's conversation last spoke of."""
    command, memory = prepared.command, prepared.memory
    if command is not None:
        if command.error is None and command.ticket_id is not None \
                and SPECS[command.word].loads == "ticket":
            return [command.ticket_id]
        return []
    if memory is not None and memory.last_ticket_id is not None:
        return [memory.last_ticket_id]
    return []


class _BatchTickets:
    """The tickets a batch's decisions read, each kind in one query for the whole batch: the
    open tickets of its buildings and the tickets its messages name. A decision that opens,
    joins or changes a ticket makes what it touched be read again when next asked for."""

    def __init__(self, session: AsyncSession, since: datetime) -> None:
        self._session = session
        self._since = since
        self._open: dict[int, list[TicketView]] = {}
        self._named: dict[int, TicketView | None] = {}

    async def prefetch(self, building_ids: Iterable[int | None],
                       ticket_ids: Iterable[int]) -> None:
        buildings = {b for b in building_ids if b is not None and b not in self._open}
        if buildings:
            self._open.update(await ticket_queries.open_in_buildings_since(
                self._session, buildings, self._since))
        numbers = {t for t in ticket_ids if t not in self._named}
        if numbers:
            found = await ticket_queries.views_of(self._session, numbers)
            self._named.update({t: found.get(t) for t in numbers})

    async def open_in(self, building_ids: Iterable[int]) -> list[TicketView]:
        """The open tickets of these buildings, building by building in ascending order."""
        ordered = sorted(set(building_ids))
        await self.prefetch(ordered, ())
        return [ticket for building_id in ordered for ticket in self._open[building_id]]

    async def named(self, ticket_id: int) -> TicketView | None:
        if ticket_id not in self._named:
            await self.prefetch((), [ticket_id])
        return self._named[ticket_id]

    def after(self, decision: Decision, prepared: Prepared) -> None:
        """Forget what `decision` changed: the building where it opened or joined a ticket,
        and each ticket it joined or changed, with the buildings whose open tickets hold it."""
        for other in decision.more:  # the message's other matters
            self.after(other, prepared)
        if decision.create is not None and decision.create.building_id is not None:
            self._open.pop(decision.create.building_id, None)
        touched = {change.ticket_id for change in decision.changes}
        if decision.follow is not None:
            touched.add(decision.follow.ticket_id)
        if not touched:
            return
        if prepared.ctx is not None and prepared.ctx.building_id is not None:
            self._open.pop(prepared.ctx.building_id, None)
        for ticket_id in touched:
            self._named.pop(ticket_id, None)
        for building_id in [b for b, views in self._open.items()
                            if any(v.id in touched for v in views)]:
            del self._open[building_id]


__all__ = ["Claim", "Processor", "explain_text", "parse_text", "retry_delay"]
