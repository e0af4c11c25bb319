"""Handling benchmark: how fast one process *handles* stored messages — understanding, the
decision, the ticket, its events, followers, timers and outbox rows, committed — without the
webhook in front or the sending behind, on SQLite and PostgreSQL.

    .venv/bin/python bench/handling.py [--database sqlite,postgresql] [--messages 3000]
        [--batch 100] [--repeat 3] [--server postgresql://postgres@127.0.0.1:5432]
        [--profile FILE] [--json FILE]

It prints figures and ratios; it asserts nothing.

What runs, per database and repetition: a fresh database loaded with `gridbot migrate` and
`gridbot demo --no-history`; --messages messages of the pipeline benchmark's mix
(`bench/pipeline.resident_posts`: a third matters, half the repairs more reports of a
breakage already reported, the rest chatter) stored as intake stores them; then the
processor of a `Runtime` (the one `gridbot serve` runs) handles them in batches of --batch
(by default `gridbot serve`'s, bot.runtime.BATCH), as the work queue hands them over. Then
staff answer: the assignee of 7 tickets in 10 sends `接单 N`, then perhaps `进展 N …` (4 in
10) and `完成 N …` (6 in 10), and a neighbour asks `查询 N` about 3 in 10, each round stored
and handled the same way.

Printed per run: messages handled, wall time, this process's CPU time (the handling's own:
the database server's is not in it), messages per CPU second and per wall second, SQL
statements per message, and the statements that ran most. --profile FILE saves a cProfile
of the last run's handling. The PostgreSQL server is the one given (--server, or
GRIDBOT_BENCH_POSTGRES), where a database is made and dropped for each run; SQLite is a file
in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline import P_QUERY, Ids, resident_posts, staff_steps  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from bot.channels.message import InboundMessage  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime import BATCH, Runtime  # noqa: E402
from storage.models import InboundRecord, Person, Ticket  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "gridbot_bench_handling"


def gridbot(env: dict[str, str], *args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=cwd, check=True,
                   capture_output=True)


def fresh_database(kind: str, server: str, workdir: Path) -> str:
    if kind == "sqlite":
        path = workdir / "handling.db"
        path.unlink(missing_ok=True)
        return f"sqlite+aiosqlite:///{path}"
    for sql in (f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"'):
        subprocess.run(["psql", f"{server}/postgres", "-qc", sql], check=True, capture_output=True)
    return f"postgresql+asyncpg://{server.split('://', 1)[1]}/{DATABASE}"


def drop_database(kind: str, server: str) -> None:
    if kind == "postgresql":
        subprocess.run(["psql", f"{server}/postgres", "-qc",
                        f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'], capture_output=True)


class Statements:
    """SQL statements run on an engine, by their first words."""

    def __init__(self, engine: Any) -> None:
        self.counts: Counter[str] = Counter()
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        words = statement.split()
        self.counts[" ".join(words[:4])[:70]] += 1


class Handling:
    """Messages stored, then handled batch by batch; CPU and wall time of the handling only."""

    def __init__(self, runtime: Runtime, batch: int, profile: cProfile.Profile | None) -> None:
        self.runtime = runtime
        self.batch = batch
        self.profile = profile
        self.cpu = self.wall = 0.0
        self.handled = 0
        self.decisions: Counter[str] = Counter()

    async def store_and_handle(self, messages: list[InboundMessage]) -> None:
        await asyncio.gather(*(self.runtime.intake.store(m) for m in messages))
        cpu, wall = time.process_time(), time.perf_counter()
        if self.profile is not None:
            self.profile.enable()
        # As the sweeper finds them: a sender's later messages once their earlier ones are
        # handled (processing keeps each sender's messages in order).
        while ids := await self.runtime.processor.pending(limit=len(messages)):
            for start in range(0, len(ids), self.batch):
                decided = await self.runtime.processor.process_many(ids[start:start + self.batch])
                self.handled += len(decided)
                self.decisions.update(d.outcome for d in decided.values())
        if self.profile is not None:
            self.profile.disable()
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall


def staff_rounds(tickets: list[tuple[int, int | None, str | None]], rng: random.Random,
                 ids: Ids) -> list[list[InboundMessage]]:
    """What staff and neighbours send about the tickets made: each ticket's commands in
    rounds, one after the other, as each waits for the one before to be answered."""
    now = int(time.time())
    rounds: list[list[InboundMessage]] = [[], [], []]
    for number, building, user in tickets:
        for step, text in enumerate(staff_steps(rng, number, user)):
            rounds[step].append(InboundMessage(channel="wecom_app", msg_id=ids.numeric(),
                                               sender_id=user or "", text=text, sent_at=now))
        if building is not None and rng.random() < P_QUERY:
            i = ids.next()
            rounds[0].append(InboundMessage(
                channel="bridge", msg_id=f"{ids.tag}-q{i}", sender_id=f"wxid_{ids.tag}_q{i}",
                sender_name=f"邻居{i}", chat_id=f"b{building}@chatroom", text=f"查询 {number}",
                sent_at=now))
    return [r for r in rounds if r]


async def run_one(kind: str, args: argparse.Namespace, workdir: Path, seed: int,
                  profile: cProfile.Profile | None) -> dict[str, Any]:
    url = fresh_database(kind, args.server, workdir)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")},
           "GRIDBOT_DATABASE_URL": url, "GRIDBOT_VAR_DIR": str(workdir / "var")}
    gridbot(env, "migrate", cwd=workdir)
    gridbot(env, "demo", "--no-history", cwd=workdir)
    runtime = Runtime(Settings.from_env(env))
    statements = Statements(runtime.engine)
    try:
        runtime.intake.start()
        await asyncio.to_thread(runtime.nlu)
        rng = random.Random(seed)
        ids = Ids(f"h{seed}")
        now = int(time.time())
        residents = [InboundMessage(channel=p.channel, msg_id=p.msg_id, sender_id=p.sender,
                                    text=p.text, sent_at=now, chat_id=p.chat,
                                    sender_name=p.name)
                     for p in resident_posts(args.messages, rng, ids, 0.1)]
        statements.counts.clear()
        handling = Handling(runtime, args.batch, profile)
        await handling.store_and_handle(residents)
        residents_cpu = handling.cpu
        async with runtime.sessions() as session:
            tickets = [(t, b, u) for t, b, u in await session.execute(
                select(Ticket.id, Ticket.building_id, Person.wecom_userid)
                .outerjoin(Person, Person.id == Ticket.assignee_id).order_by(Ticket.id))]
        stored_before_staff = sum(statements.counts.values())
        staff = 0
        for round_ in staff_rounds(tickets, rng, ids):
            staff += len(round_)
            await handling.store_and_handle(round_)
        total = args.messages + staff
        async with runtime.sessions() as session:
            statuses = dict((await session.execute(
                select(InboundRecord.status, func.count()).group_by(InboundRecord.status))).all())
        await runtime.intake.stop()
        return {
            "statuses": statuses,
            "database": kind, "residents": args.messages, "staff_and_queries": staff,
            "handled": handling.handled, "decisions": dict(handling.decisions),
            "cpu_s": handling.cpu, "wall_s": handling.wall, "residents_cpu_s": residents_cpu,
            "per_cpu_s": total / handling.cpu, "per_wall_s": total / handling.wall,
            "statements": sum(statements.counts.values()),
            "statements_residents": stored_before_staff,
            "top_statements": statements.counts.most_common(25),
        }
    finally:
        await runtime.engine.dispose()
        drop_database(kind, args.server)


def describe(r: dict[str, Any]) -> str:
    total = r["residents"] + r["staff_and_queries"]
    lines = [
        f"== {r['database']}: {r['residents']} residents' messages, then "
        f"{r['staff_and_queries']} staff commands and 查询",
        f"  stored {sum(r['statuses'].values())} of {total}, by status {r['statuses']}; "
        f"decisions {r['decisions']}",
        f"  {r['per_cpu_s']:.0f} messages per CPU s ({1000 * r['cpu_s'] / total:.2f} ms each; "
        f"residents alone {1000 * r['residents_cpu_s'] / r['residents']:.2f} ms), "
        f"{r['per_wall_s']:.0f} per wall s ({r['wall_s']:.2f} s); "
        f"{r['statements'] / total:.2f} statements a message",
    ]
    lines += [f"    {n:6d}  {s}" for s, n in r["top_statements"][:6]]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite,postgresql",
                        help="sqlite, postgresql or both, comma-separated")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--server", default=os.environ.get("GRIDBOT_BENCH_POSTGRES", SERVER))
    parser.add_argument("--profile", metavar="FILE", help="save a cProfile of the handling")
    parser.add_argument("--json", metavar="FILE", help="save the results as JSON")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.database.split(",") if d.strip()]
    if not args.databases or set(args.databases) - {"sqlite", "postgresql"}:
        parser.error("--database: sqlite, postgresql or both")
    return args


async def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="gridbot-handling-") as tmp:
        workdir = Path(tmp)
        for kind in args.databases:
            for n in range(args.repeat):
                profile = cProfile.Profile() if args.profile and n == args.repeat - 1 else None
                result = await run_one(kind, args, workdir, args.seed + n, profile)
                results.append(result)
                print(describe(result), flush=True)
                if profile is not None:
                    profile.dump_stats(args.profile)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run_all(args))
    print("\ndatabase    msgs/CPU s  ms/msg  msgs/wall s  statements/msg")
    for kind in args.databases:
        runs = [r for r in results if r["database"] == kind]
        for r in runs:
            total = r["residents"] + r["staff_and_queries"]
            print(f"{kind:11} {r['per_cpu_s']:10.0f} {1000 * r['cpu_s'] / total:7.2f} "
                  f"{r['per_wall_s']:12.0f} {r['statements'] / total:15.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
