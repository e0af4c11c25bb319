"""The comparison server for bench/ingest.py: a WeRoBot Official Account bot served by waitress.

    python bench/werobot_app.py --port 8091 --threads 16 [--sessions FILE]

It reads the Official Account's token, EncodingAESKey and AppID from BENCH_WECHAT_TOKEN,
BENCH_WECHAT_AES_KEY and BENCH_WECHAT_APPID, answers every text message with a short text
(an encrypted passive reply) and stores nothing. With ``--sessions FILE`` it keeps WeRoBot's
default SQLite session storage in FILE, as a WeRoBot bot does unless told otherwise.
It exits on its own when the process that started it goes away (or after six hours).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence

import waitress
from werobot import WeRoBot
from werobot.session.sqlitestorage import SQLiteStorage

REPLY = "收到，我们会尽快处理。"


def build_robot(token: str, aes_key: str, appid: str, sessions: str | None = None) -> WeRoBot:
    """A WeRoBot that answers each text with ``REPLY``; sessions off unless a file is given."""
    robot = WeRoBot(token=token, encoding_aes_key=aes_key, app_id=appid)
    # The non-deprecated spelling of enable_session=False.
    robot.config["SESSION_STORAGE"] = SQLiteStorage(sessions) if sessions else False

    @robot.text
    def answer(message: object) -> str:
        return REPLY

    return robot


MAX_LIFETIME_S = 6 * 3600


def _exit_with_parent(parent: int) -> None:
    """End the process when its parent is gone, or after MAX_LIFETIME_S in any case."""
    for _ in range(MAX_LIFETIME_S):
        if os.getppid() != parent:
            break
        time.sleep(1.0)
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=16, help="waitress worker threads")
    parser.add_argument("--sessions", metavar="FILE", help="WeRoBot's SQLite session storage")
    args = parser.parse_args(argv)
    try:
        robot = build_robot(
            os.environ["BENCH_WECHAT_TOKEN"],
            os.environ["BENCH_WECHAT_AES_KEY"],
            os.environ["BENCH_WECHAT_APPID"],
            args.sessions,
        )
    except KeyError as exc:
        print(f"werobot_app: {exc.args[0]} is not set", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Waitress warns about its task queue under load; that is the load we asked for.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    waitress.serve(robot.wsgi, host=args.host, port=args.port, threads=args.threads,
                   connection_limit=1000, ident="werobot", _quiet=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
