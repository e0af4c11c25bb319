"""`gridbot user …`: sign-in for staff without WeCom.

    gridbot user password zhangwg          # asks twice for the new password
    gridbot user password zhangwg --stdin  # reads it from the first line of stdin
    gridbot user link wxid_wang --hours 48 # prints a one-time sign-in link
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from bot.config import Settings
from storage.db import SessionFactory, with_sessions

BY = "command line"


def _settings(args: argparse.Namespace) -> Settings:
    from bot.cli import _settings as read

    return read(args)


async def _staff(sessions: SessionFactory, account: str) -> Any:
    """The staff member named `account`, or the reason there is none."""
    from bot.auth.passwords import person_by_account
    from storage.orgmap import load_org_map

    async with sessions() as session:
        org = await load_org_map(session)
    person = person_by_account(org, account)
    if person is None:
        return f"nobody in the org file has the wecom_userid or wechat_id {account!r}"
    if not org.is_staff(person.id):
        return f"{account} ({person.name}) holds no role in the org file and cannot sign in"
    return person


def _read_password(args: argparse.Namespace) -> str | None:
    if args.stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        print("gridbot: no terminal to type the password in; pass it on standard input with "
              "--stdin; nothing changed", file=sys.stderr)
        return None
    try:
        first = getpass.getpass("新密码 new password: ")
        again = getpass.getpass("再输一次 again: ")
    except (EOFError, KeyboardInterrupt):
        print("\ngridbot: no password given; nothing changed", file=sys.stderr)
        return None
    if again != first:
        print("gridbot: the two passwords differ; nothing changed", file=sys.stderr)
        return None
    return first


def cmd_password(args: argparse.Namespace) -> int:
    from bot.auth import passwords

    settings = _settings(args)
    password = _read_password(args)
    if password is None:
        return 1
    problem = passwords.password_problem(password)
    if problem:
        print(f"gridbot: {problem} nothing changed", file=sys.stderr)
        return 2

    async def work(sessions: SessionFactory) -> str:
        person = await _staff(sessions, args.account)
        if isinstance(person, str):
            return person
        await passwords.set_password(sessions, person, password, BY, datetime.now(UTC))
        return ""

    failure = asyncio.run(with_sessions(settings.database_url, work))
    if failure:
        print(f"gridbot: {failure}", file=sys.stderr)
        return 2
    print(f"password set for {args.account}; they sign in at {settings.public_url}/login")
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    from bot.auth import passwords
    from bot.auth.routes import link_url

    settings = _settings(args)
    if not 1 <= args.hours <= passwords.MAX_LINK_HOURS:
        print(f"gridbot: --hours must be a whole number from 1 to {passwords.MAX_LINK_HOURS:g}",
              file=sys.stderr)
        return 2

    async def work(sessions: SessionFactory) -> str:
        person = await _staff(sessions, args.account)
        if isinstance(person, str):
            return person
        token, expires_at = await passwords.make_link(sessions, person, BY, datetime.now(UTC),
                                                      args.hours)
        return f"ok {link_url(settings.public_url, token)} {expires_at.isoformat()}"

    answer = asyncio.run(with_sessions(settings.database_url, work))
    if not answer.startswith("ok "):
        print(f"gridbot: {answer}", file=sys.stderr)
        return 2
    _, url, expires = answer.split(" ")
    print(url)
    print(f"works once, until {expires} (UTC); send it to {args.account} privately",
          file=sys.stderr)
    return 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def demo_sign_in_line(settings: Settings, channels: list[str]) -> str | None:
    """On a local try-out (the simulator on, no channel, listening on loopback only — what
    `make run` serves), a one-time link that opens the console signed in as the first
    street admin; never anywhere else."""
    if not settings.simulator or channels or settings.host not in LOOPBACK:
        return None
    from bot.auth import passwords
    from bot.auth.routes import link_url
    from storage.orgmap import load_org_map

    async def work(sessions: SessionFactory) -> str | None:
        async with sessions() as session:
            org = await load_org_map(session)
        admins = org.admins()
        person = org.person(admins[0]) if admins else None
        if person is None:
            return None
        token, _ = await passwords.make_link(sessions, person, "gridbot serve (demo)",
                                             datetime.now(UTC), passwords.LINK_HOURS)
        base = f"http://{settings.host}:{settings.port}"
        return f"  console as {person.name} (street admin, one-time link): {link_url(base, token)}"

    try:
        return asyncio.run(with_sessions(settings.database_url, work))
    except Exception:  # the demo's convenience, never a reason not to serve
        return None


def register(sub: Any) -> None:
    """Add `gridbot user password|link` to the command line."""
    user = sub.add_parser("user", help="sign-in for staff without WeCom")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    password = user_sub.add_parser("password", help="set a staff member's password")
    password.add_argument("account", help="their wecom_userid or wechat_id in the org file")
    password.add_argument("--stdin", action="store_true",
                          help="read the password from the first line of stdin")
    password.set_defaults(func=cmd_password)
    link = user_sub.add_parser("link", help="print a one-time sign-in link for a staff member")
    link.add_argument("account", help="their wecom_userid or wechat_id in the org file")
    link.add_argument("--hours", type=int, default=24,
                      help="how long the link works, in whole hours (default: 24)")
    link.set_defaults(func=cmd_link)
