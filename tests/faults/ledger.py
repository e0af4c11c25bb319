"""What went in and what came out: a count of every message posted, stored, handled and
answered, of every ticket pushed to staff, and the ids of whatever was lost or doubled.

The database says what gridbot stored and decided; the fake bridge and fake WeCom say what
actually reached the groups and the staff.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.models import InboundRecord, OutboxMessage, Ticket, TicketEvent, TicketFollower
from tests.fakes import MESSAGE_SEND, FakeBridge, FakeWeCom

from .load import Message

TICKET_NUMBER = re.compile(r"#(\d+)")


def _ticket_numbers(text: str) -> list[int]:
    return [int(n) for n in TICKET_NUMBER.findall(text or "")]


def _delivery_row(delivery: str | None) -> int | None:
    """The outbox row id in gridbot's X-Gridbot-Delivery (`gridbot-<id>`), if it is one."""
    match = re.fullmatch(r"gridbot-(\d+)", delivery or "")
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------- the fakes' side


def bridge_replies(bridge: FakeBridge) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Posts the bridge took (each delivery id once), by (chat_id, mentioned sender)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in bridge.received:
        data = entry["json"]
        for sender in data.get("mention_ids") or ():
            out[(data["chat_id"], sender)].append(entry)
    return out


def task_pushes(wecom: FakeWeCom, delivered_only: bool = True) -> Counter[int]:
    """Task cards pushed to staff through WeCom, by the ticket number in their title."""
    counts: Counter[int] = Counter()
    for m in wecom.delivered if delivered_only else wecom.messages:
        data = m["json"]
        if m["path"] == MESSAGE_SEND and data.get("msgtype") == "textcard":
            for number in _ticket_numbers(data["textcard"].get("title", ""))[:1]:
                counts[number] += 1
    return counts


def text_pushes(wecom: FakeWeCom, containing: str) -> Counter[int]:
    """Messages to staff (texts and task cards) containing `containing`, by the first
    ticket number in them."""
    counts: Counter[int] = Counter()
    for m in wecom.delivered:
        data = m["json"]
        if m["path"] != MESSAGE_SEND:
            continue
        if data.get("msgtype") == "text":
            content = data["text"].get("content", "")
        elif data.get("msgtype") == "textcard":
            card = data["textcard"]
            content = card.get("title", "") + "\n" + card.get("description", "")
        else:
            continue
        if containing in content:
                for number in _ticket_numbers(content)[:1]:
                    counts[number] += 1
    return counts


# ---------------------------------------------------------------- the database's side


def reader(db_url: str) -> AsyncEngine:
    """An engine that only reads, beside gridbot and without its connection settings (no
    write lock taken on SQLite, no pool kept open)."""
    if make_url(db_url).get_backend_name() == "sqlite":
        return create_async_engine(db_url, poolclass=NullPool, connect_args={"timeout": 30})
    return create_async_engine(db_url, poolclass=NullPool)



@dataclass
class Snapshot:
    inbound: list[Any]
    tickets: list[Any]
    followers: list[Any]
    events: list[Any]
    outbox: list[Any]


async def snapshot(db_url: str) -> Snapshot:
    engine = reader(db_url)
    try:
        async with engine.connect() as c:
            inbound = (await c.execute(select(
                InboundRecord.id, InboundRecord.channel, InboundRecord.msg_id,
                InboundRecord.chat_id, InboundRecord.sender_id, InboundRecord.status,
                InboundRecord.attempts, InboundRecord.error))).all()
            tickets = (await c.execute(select(
                Ticket.id, Ticket.source_message_id, Ticket.reporter_id, Ticket.building_id,
                Ticket.status, Ticket.escalation_level))).all()
            followers = (await c.execute(select(
                TicketFollower.ticket_id, TicketFollower.sender_id))).all()
            events = (await c.execute(select(
                TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.actor, TicketEvent.text,
                TicketEvent.data))).all()
            outbox = (await c.execute(select(
                OutboxMessage.id, OutboxMessage.dedup_key, OutboxMessage.transport,
                OutboxMessage.status, OutboxMessage.ticket_id, OutboxMessage.attempts,
                OutboxMessage.last_error, OutboxMessage.target))).all()
    finally:
        await engine.dispose()
    return Snapshot(list(inbound), list(tickets), list(followers), list(events), list(outbox))


# ---------------------------------------------------------------- waiting for quiet


async def until(check: Callable[[], Awaitable[bool]], timeout: float,
                every: float = 0.25) -> bool:
    """Poll `check()` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)


async def progress(db_url: str) -> dict[str, int]:
    """Inbound messages not yet decided and outbox rows not yet sent or given up."""
    engine = reader(db_url)
    try:
        async with engine.connect() as c:
            inbound = dict((await c.execute(
                select(InboundRecord.status, func.count()).group_by(InboundRecord.status))).all())
            outbox = dict((await c.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all())
    finally:
        await engine.dispose()
    return {
        "inbound_open": sum(n for s, n in inbound.items() if s in ("received", "processing")),
        "inbound": sum(inbound.values()),
        "outbox_pending": outbox.get("pending", 0),
        "outbox": sum(outbox.values()),
    }


async def settle(db_url: str, bridge: FakeBridge, wecom: FakeWeCom, *, timeout: float,
                 quiet: float = 1.5, expect_stored: int = 0) -> tuple[bool, float]:
    """Wait until every stored message is decided, every outbox row is sent or dead and the
    fakes have heard nothing new for `quiet` seconds (or `timeout` passes).

    Returns (settled, seconds waited). A database that cannot be read counts as not settled.
    """
    started = time.monotonic()
    last_change = started
    last: tuple[Any, ...] | None = None
    while True:
        try:
            state = await progress(db_url)
        except Exception as exc:  # the database is down or restarting
            state = {"error": repr(exc)}
        heard = (len(bridge.requests), len(wecom.requests))
        now = time.monotonic()
        key = (tuple(sorted(state.items())), heard)
        if key != last:
            last, last_change = key, now
        done = ("error" not in state and state["inbound_open"] == 0
                and state["outbox_pending"] == 0 and state["inbound"] >= expect_stored)
        if done and now - last_change >= quiet:
            return True, now - started
        if now - started > timeout:
            return False, now - started
        await asyncio.sleep(0.25)


# ---------------------------------------------------------------- the ledger


@dataclass
class Ledger:
    """Counts of one run, and the messages and tickets that break "exactly once"."""

    counts: dict[str, Any] = field(default_factory=dict)
    lost: dict[str, list[str]] = field(default_factory=dict)
    doubled: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def lost_count(self) -> int:
        return sum(len(v) for v in self.lost.values())

    @property
    def doubled_count(self) -> int:
        return sum(len(v) for v in self.doubled.values())

    def report(self, title: str = "ledger") -> str:
        lines = [f"== {title}"]
        for key, value in self.counts.items():
            lines.append(f"   {key}: {value}")
        for label, table in (("LOST", self.lost), ("DOUBLED", self.doubled)):
            for kind, ids in table.items():
                if ids:
                    shown = ", ".join(ids[:12]) + (" …" if len(ids) > 12 else "")
                    lines.append(f"   {label} {kind}: {len(ids)} [{shown}]")
        lines.extend(f"   note: {n}" for n in self.notes)
        return "\n".join(lines)

    def problems(self) -> str:
        return "; ".join(f"{kind}: {len(ids)} (e.g. {', '.join(ids[:5])})"
                         for table in (self.lost, self.doubled)
                         for kind, ids in table.items() if ids)


def _line(text: str | None, limit: int = 80) -> str:
    """The first line of an error, shortened."""
    return (text or "").splitlines()[0][:limit] if text else ""


def _add(table: dict[str, list[str]], kind: str, item: str) -> None:
    table.setdefault(kind, []).append(item)


async def count(db_url: str, messages: Sequence[Message], bridge: FakeBridge,
                wecom: FakeWeCom, *, excused_doubles: Iterable[int] = (),
                logs: Iterable[str] = ()) -> Ledger:
    """The ledger of `messages` (each from a sender of its own) after a run.

    Every message answered 2xx must be stored, handled once (one ticket it opened, or one
    follow of an open ticket) and answered once in its group, @-mentioning its sender and
    naming the ticket. Every ticket must be pushed to staff once. Repeated deliveries of
    outbox rows in `excused_doubles` (rows a crash caught between delivering and recording)
    are counted but not held against the run when the fake dropped them by delivery id;
    so are those of rows the servers' `logs` show a try of timed out (`timed_out_rows`).
    """
    snap = await snapshot(db_url)
    ledger = Ledger()
    timed_out = timed_out_rows(*logs)
    excused = set(excused_doubles) | timed_out
    accepted = [m for m in messages if m.accepted]
    statuses = Counter(m.status for m in messages)

    # Every message has a sender of its own, so its rows are found by (chat, sender) however
    # gridbot keys or shortens the message id.
    stored = defaultdict(list)
    for r in snap.inbound:
        if r.channel == "bridge":
            stored[(r.chat_id, r.sender_id)].append(r)
    created = defaultdict(list)
    for t in snap.tickets:
        created[t.source_message_id].append(t.id)
    followed_by_actor = defaultdict(list)
    for e in snap.events:
        if e.kind == "followed":
            followed_by_actor[e.actor].append(e.ticket_id)
    follower_rows = Counter(f.sender_id for f in snap.followers)
    replies = bridge_replies(bridge)
    pushes = task_pushes(wecom)
    pushes_raw = task_pushes(wecom, delivered_only=False)

    handled_total = 0
    for m in accepted:
        rows = stored.get((m.chat_id, m.sender_id), [])
        if not rows:
            _add(ledger.lost, "answered 2xx but not stored", m.msg_id)
            continue
        if len(rows) > 1:
            _add(ledger.doubled, "stored more than once", f"{m.msg_id} (rows {[r.id for r in rows]})")
        row = rows[0]
        tickets = created.get(row.id, [])
        follows = followed_by_actor.get(m.sender_name, [])
        handled = len(tickets) + len(follows)
        handled_total += handled
        if handled == 0:
            why = f"{m.msg_id} ({row.status}" + (f": {_line(row.error)}" if row.error else "") + ")"
            _add(ledger.lost, "stored but no ticket or follow", why)
        elif handled > 1:
            _add(ledger.doubled, "handled more than once",
                 f"{m.msg_id} (tickets {tickets}, follows {follows})")
        answers = replies.get((m.chat_id, m.sender_id), [])
        if not answers:
            _add(ledger.lost, "no reply in the group", m.msg_id)
        elif len(answers) > 1:
            _add(ledger.doubled, "replied more than once",
                 f"{m.msg_id} (deliveries {[a['delivery'] for a in answers]})")
        for answer in answers[:1]:
            numbers = _ticket_numbers(answer["json"].get("text", ""))
            if not numbers:
                _add(ledger.lost, "reply without a ticket number", m.msg_id)
            elif handled == 1 and numbers[0] not in tickets + follows:
                _add(ledger.doubled, "reply names another ticket",
                     f"{m.msg_id} (#{numbers[0]}, expected {tickets + follows})")

    for t in snap.tickets:
        n = pushes.get(t.id, 0)
        if n == 0:
            _add(ledger.lost, "ticket never pushed to staff", f"#{t.id}")
        elif n > 1:
            _add(ledger.doubled, "ticket pushed more than once", f"#{t.id} ({n}x)")

    # Repeated deliveries the fakes saw: each outbox row may arrive more than once only if
    # a fault caught it between delivering and being marked sent.
    transport = {r.id: r.transport for r in snap.outbox}
    delivered = deliveries(snap, bridge, wecom)
    for row_id, times in sorted(delivered.items()):
        if len(times) > 1 and row_id not in excused:
            _add(ledger.doubled, "delivery repeated (not in flight at a fault)",
                 f"row {row_id} {transport.get(row_id)} {len(times)}x")

    inbound_status = Counter(r.status for r in snap.inbound)
    outbox_status = Counter(r.status for r in snap.outbox)
    failed = [r for r in snap.inbound if r.status == "failed"]
    ledger.counts = {
        "sent": len(messages),
        "answered": dict(sorted(Counter(str(s) for s in statuses.elements()).items())),
        "answered 2xx": len(accepted),
        "stored (inbound rows)": f"{len(snap.inbound)} {dict(inbound_status)}",
        "tickets": len(snap.tickets),
        "follows": f"{sum(len(v) for v in followed_by_actor.values())} events, "
                   f"{sum(follower_rows.values())} follower rows",
        "handled (tickets + follows of these messages)": handled_total,
        "outbox rows": f"{len(snap.outbox)} {dict(outbox_status)}",
        "replies received by the bridge": f"{len(bridge.received)} "
                                          f"(+{len(bridge.duplicates)} repeated delivery ids)",
        "task pushes received by WeCom": f"{sum(pushes.values())} "
                                         f"(+{sum(pushes_raw.values()) - sum(pushes.values())}"
                                         " dropped by its duplicate check)",
        "lost": ledger.lost_count,
        "doubled": ledger.doubled_count,
    }
    if excused_doubles:
        ledger.counts["outbox rows in flight at a crash"] = len(set(excused_doubles))
    if timed_out:
        repeated = sum(1 for row_id, times in delivered.items()
                       if row_id in timed_out and len(times) > 1)
        ledger.counts["outbox rows whose receiver did not answer in time"] = (
            f"{len(timed_out)} (delivered again: {repeated})")
    for r in failed[:5]:
        ledger.notes.append(f"inbound {r.id} {r.msg_id} failed after {r.attempts} attempts: "
                            f"{_line(r.error, 160)}")
    dead = [r for r in snap.outbox if r.status == "dead"]
    for r in dead[:5]:
        ledger.notes.append(f"outbox row {r.id} ({r.transport}) dead: {_line(r.last_error, 160)}")
    return ledger


def deliveries(snap: Snapshot, bridge: FakeBridge, wecom: FakeWeCom) -> dict[int, list[float]]:
    """When the fakes received each outbox row (bridge posts by delivery id, task pushes by
    their ticket), every time it arrived."""
    task_row_of_ticket = {r.ticket_id: r.id for r in snap.outbox
                          if r.transport == "wecom_app" and r.dedup_key.endswith(":task")}
    out: dict[int, list[float]] = defaultdict(list)
    for entry in bridge.received + bridge.duplicates:
        row_id = _delivery_row(entry["delivery"])
        if row_id is not None:
            out[row_id].append(entry["at"])
    for m in wecom.messages:
        data = m["json"]
        if m["path"] == MESSAGE_SEND and data.get("msgtype") == "textcard":
            for number in _ticket_numbers(data["textcard"].get("title", ""))[:1]:
                row_id = task_row_of_ticket.get(number)
                if row_id is not None:
                    out[row_id].append(m["at"])
    return out


async def in_flight(db_url: str, bridge: FakeBridge, wecom: FakeWeCom) -> set[int]:
    """Outbox rows the fakes received that the database does not record as sent: a crash
    caught them between delivering and being marked (they may be delivered again)."""
    snap = await snapshot(db_url)
    unsent = {r.id for r in snap.outbox if r.status != "sent"}
    return {r for r in deliveries(snap, bridge, wecom) if r in unsent}


async def delivered_between(db_url: str, bridge: FakeBridge, wecom: FakeWeCom,
                            start: float, end: float) -> set[int]:
    """Outbox rows first delivered between `start` and `end` (time.time()): while the
    database was unreachable, so that nobody could record them as sent."""
    snap = await snapshot(db_url)
    return {r for r, times in deliveries(snap, bridge, wecom).items()
            if start <= min(times) <= end}


# ---------------------------------------------------------------- the server's log


TIMED_OUT_TRY = re.compile(r"outbox row (\d+) \(\w+\) try \d+ failed.*no answer within")


def timed_out_rows(*logs: str) -> set[int]:
    """Outbox rows a try of which gridbot gave up waiting for: the service may have taken the
    message all the same (a receiver too busy to answer within the send's time limit), so
    the retry may deliver it again, under the same delivery id."""
    return {int(match.group(1)) for text in logs for match in TIMED_OUT_TRY.finditer(text)}


@dataclass
class LogFindings:
    errors: list[str]
    tracebacks: int
    locked: int

    def summary(self) -> str:
        kinds = Counter(re.sub(r"^\S+ \S+ ERROR ", "", line)[:70] for line in self.errors)
        top = "; ".join(f"{n}x {k}" for k, n in kinds.most_common(5))
        return (f"{len(self.errors)} ERROR lines, {self.tracebacks} tracebacks, "
                f"{self.locked} 'database is locked'" + (f" — {top}" if top else ""))


def read_log(text: str) -> LogFindings:
    lines = text.splitlines()
    return LogFindings(
        errors=[line for line in lines if " ERROR " in line],
        tracebacks=sum(1 for line in lines if line.startswith("Traceback (most recent call")),
        locked=sum(1 for line in lines if "database is locked" in line),
    )
