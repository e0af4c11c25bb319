"""The `gridbot` command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings
from storage.db import with_sessions

if TYPE_CHECKING:
    from aiohttp import web


def _read_settings() -> Settings:
    """The environment and `.env`, read once per run; a bad value ends the run, named."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise SystemExit(f"gridbot: {exc}") from exc


def _settings(args: argparse.Namespace) -> Settings:
    """The settings `main()` read before running the command."""
    settings = getattr(args, "settings", None)
    return settings if settings is not None else _read_settings()


#: How SQLite and PostgreSQL say a table is missing: the database was never migrated.
_NO_TABLE = re.compile(r'no such table|relation "[^"]+" does not exist')


def _database_error(exc: Exception, settings: Settings) -> int:
    if _NO_TABLE.search(str(exc)):
        print(f"gridbot: the database {settings.database_url} has no gridbot tables yet: "
              "run `gridbot migrate` first", file=sys.stderr)
        return 1
    print(f"gridbot: cannot use the database {settings.database_url}: {exc}", file=sys.stderr)
    return 1


def _say(text: str) -> None:
    print(f"gridbot: {text}", file=sys.stderr, flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    from storage.migrate import upgrade_sync

    settings = _settings(args)
    try:
        upgrade_sync(settings.database_url, say=_say)
    except Exception as exc:
        return _database_error(exc, settings)
    print("database is up to date")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from storage.demo import demo_yaml, load_demo, load_demo_if_empty

    settings = _settings(args)
    if args.yaml:
        sys.stdout.write(demo_yaml())
        return 0
    try:
        summary = asyncio.run(with_sessions(
            settings.database_url, load_demo_if_empty if args.if_empty else load_demo))
    except Exception as exc:
        return _database_error(exc, settings)
    if summary is None:
        print("the database already holds an estate; demo not loaded")
    else:
        print(f"demo estate loaded: {summary}")
    if (summary is not None or not args.if_empty) and not args.no_history:
        from storage.demo_history import load_history

        try:
            history = asyncio.run(with_sessions(settings.database_url, load_history))
        except Exception as exc:
            return _database_error(exc, settings)
        print(f"demo {history} loaded" if history else
              "the database already holds tickets; no history added")
    return 0


def cmd_org_import(args: argparse.Namespace) -> int:
    """Import an org file; with --dry-run, say what the import would change. A refusal
    changes nothing (rc 2)."""
    from storage.orgfile import OrgFileError, import_org, load_org_file

    settings = _settings(args)
    path = Path(args.file)
    dry_run = bool(getattr(args, "dry_run", False))
    try:
        org = load_org_file(path)
    except OSError as exc:
        print(f"gridbot: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except OrgFileError as exc:
        print(f"gridbot: {path} was not imported; nothing changed:\n{exc}", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(with_sessions(
            settings.database_url, lambda sessions: import_org(sessions, org, dry_run=dry_run)))
    except OrgFileError as exc:
        print(f"gridbot: {path} was not imported; nothing changed:\n{exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        return _database_error(exc, settings)
    print(f"{path} (dry run, nothing imported): {summary}" if dry_run else f"{path}: {summary}")
    return 0


def cmd_org_export(args: argparse.Namespace) -> int:
    """Print a street's org file as the database has it (it imports back unchanged)."""
    from storage.orgexport import NotAnOrgFile, org_file_of
    from storage.orgfile import dump_org
    from storage.orgmap import load_org_map

    settings = _settings(args)

    async def read(sessions):  # type: ignore[no-untyped-def]
        async with sessions() as session:
            return await load_org_map(session)

    try:
        org = asyncio.run(with_sessions(settings.database_url, read))
    except Exception as exc:
        return _database_error(exc, settings)
    streets = {s.name: s.id for s in org.streets.values()}
    if args.street is None and len(streets) != 1:
        print(f"gridbot: name the street to export with --street ({'、'.join(streets) or 'none'})",
              file=sys.stderr)
        return 2
    name = args.street if args.street is not None else next(iter(streets))
    if name not in streets:
        print(f"gridbot: no street named {name}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(dump_org(org_file_of(org, streets[name])))
    except NotAnOrgFile as exc:
        print(f"gridbot: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import admin_token, create_app
    from bot.channels.routes import ChannelSet
    from bot.runtime import Runtime
    from storage.migrate import upgrade_sync

    settings = _settings(args)
    try:
        channels = ChannelSet.from_settings(settings)
    except ValueError as exc:
        print(f"gridbot: {exc}", file=sys.stderr)
        return 2
    if args.role != "all" and not settings.redis_url:
        print(f"gridbot: --role {args.role} needs GRIDBOT_REDIS_URL: web and worker processes "
              "hand each other the work through Redis", file=sys.stderr)
        return 2
    if not args.no_migrate:
        try:
            upgrade_sync(settings.database_url, say=_say)
        except Exception as exc:
            return _database_error(exc, settings)
    token, generated = admin_token(settings)
    lines = startup_lines(settings, channels.enabled(), token, generated)
    lines.append(f"  role: {args.role}")
    from bot.cli_users import demo_sign_in_line

    demo_line = demo_sign_in_line(settings, channels.enabled())
    if demo_line:
        lines.append(demo_line)

    def say(said: list[str]) -> None:
        if settings.log_format == "json":  # every line gridbot writes is then a JSON object
            for line in said:
                logging.getLogger("gridbot.serve").info(line.strip())
        else:
            print("\n".join(said))
        sys.stdout.flush()

    say([f"gridbot starting on {settings.host}:{settings.port} (the language model and the "
         "org map load first) …"])

    async def app_factory() -> web.Application:
        app = create_app(Runtime(settings), token=token, workers=args.role != "web",
                         web_routes=args.role != "worker")
        app.on_startup.append(_freeze_what_start_up_loaded)  # after the runtime has started
        return app

    _use_uvloop()
    try:
        # The addresses are printed once the port takes connections, not before.
        web.run_app(app_factory(), host=settings.host, port=settings.port,
                    print=lambda _running: say(lines), access_log=None)
    except OSError as exc:
        print(f"gridbot: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _use_uvloop() -> None:
    """Serve on uvloop where it is installed (Linux and macOS): the same asyncio, its loop
    written in C, so that sockets, timers and callbacks cost a process less CPU (README,
    "Handling, end to end"). Elsewhere asyncio's own loop serves."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _freeze_what_start_up_loaded(_app: web.Application) -> None:
    """What start-up loaded (the libraries, the language model, the org map) lives as long as
    the process: moved out of the garbage collector's reach, so that its full collections,
    which otherwise walk all of it again and again while messages are handled, walk only
    what handling made."""
    gc.collect()
    gc.freeze()


def startup_lines(settings: Settings, channels: list[str], token: str, generated: bool) -> list[str]:
    """What `gridbot serve` prints. The admin token appears only when it was just generated;
    afterwards only where it is kept (var/admin_token or the environment)."""
    from bot.app import admin_token_path

    base = f"http://{settings.host}:{settings.port}"
    lines = [f"gridbot serving on {base}"]
    lines += [f"  channel {name}: on" for name in channels]
    if settings.simulator:
        lines.append(f"  chat simulator: {base}/simulator"
                     + ("  (needs the admin token)" if channels else ""))
    if generated:
        lines.append(f"  admin console:  {base}/admin#token={token}")
        lines.append(f"  admin token (generated, kept in {admin_token_path(settings)}): {token}")
    else:
        kept = "GRIDBOT_ADMIN_TOKEN" if settings.admin_token else str(admin_token_path(settings))
        lines.append(f"  admin console:  {base}/admin  (admin token in {kept})")
    return lines


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The `gridbot` command line. With ``settings``, its defaults (the NLU model directory,
    evaluation reports) and every command's configuration come from them; without, the
    defaults are `Settings`' own and each command reads the environment when it runs."""
    parser = argparse.ArgumentParser(prog="gridbot", description="gridbot: micro-grid governance bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the channels, the API, the simulator and the console")
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate the database first")
    serve.add_argument(
        "--role", choices=("all", "web", "worker"), default="all",
        help="all (default): everything in one process; web: take callbacks and serve the API "
             "and console; worker: handle messages, fire timers and send (its port serves "
             "/healthz only). web and worker need GRIDBOT_REDIS_URL")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(func=cmd_migrate)

    demo = sub.add_parser("demo", help="load the demo estate (4 districts, 32 grids, 96 buildings)")
    demo.add_argument("--if-empty", action="store_true", help="only when no estate is loaded yet")
    demo.add_argument("--yaml", action="store_true", help="print the demo estate as an org file")
    demo.add_argument("--no-history", action="store_true",
                      help="load the estate alone, without last month's tickets (which are "
                           "added only to a database without tickets)")
    demo.set_defaults(func=cmd_demo)

    org = sub.add_parser("org", help="the grid map and its people")
    org_sub = org.add_subparsers(dest="org_command", required=True, metavar="COMMAND")
    org_import = org_sub.add_parser("import", help="import an org YAML file (idempotent)")
    org_import.add_argument("file")
    org_import.add_argument("--dry-run", action="store_true",
                            help="say what the import would change, and change nothing")
    org_import.set_defaults(func=cmd_org_import)
    org_export = org_sub.add_parser(
        "export", help="print a street's org file as the database has it (YAML)")
    org_export.add_argument("--street", help="the street's name (needed when there are several)")
    org_export.set_defaults(func=cmd_org_export)

    from bot.cli_users import register as register_users

    register_users(sub)

    from bot.cli_report import register as register_report

    register_report(sub)

    from bot.cli_nlu import register as register_admin_loop
    from nlu.cli import register as register_nlu

    register_admin_loop(register_nlu(
        sub, var_dir=(settings if settings is not None else Settings()).var_dir))
    parser.set_defaults(settings=settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from nlu import speedups

    settings = _read_settings()
    speedups.use_compiled(not settings.nlu_pure_python)
    args = build_parser(settings).parse_args(argv)
    from bot.logs import configure

    # Text lines, or one JSON object a line (GRIDBOT_LOG_FORMAT=json); never message contents.
    configure(settings.log_format, verbose=args.verbose)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
