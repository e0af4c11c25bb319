"""`gridbot nlu review | models | activate | rollback | retrain`: the admin loop that keeps
the language model good, over the database every gridbot process shares."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.config import Settings
from storage.db import SessionFactory, with_sessions
from storage.nlu_store import (
    INTENTS,
    RegistryError,
    activate,
    item_json,
    label_item,
    list_models,
    review_items,
    rollback,
)

T = TypeVar("T")
INTENT_KEYS = {str(i + 1): name for i, name in enumerate(INTENTS)}


def _run(work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    return asyncio.run(with_sessions(Settings.from_env().database_url, work))


def _fail(message: str) -> int:
    print(f"gridbot: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------- review


async def _label(sessions: SessionFactory, item_id: int, intent: str | None) -> dict[str, Any]:
    async with sessions() as session, session.begin():
        return item_json(await label_item(session, item_id, intent, by="cli"))


async def _open_items(sessions: SessionFactory, limit: int) -> list[dict[str, Any]]:
    async with sessions() as session:
        return [item_json(i) for i in await review_items(session, "open", limit)]


def _describe(item: dict[str, Any]) -> str:
    confidence = f"{item['confidence']:.2f}" if item["confidence"] is not None else "—"
    why = "模型不确定 unsure" if item["reason"] == "low_confidence" else "工作人员改类 corrected"
    suggested = f"  suggested: {item['suggested']}" if item["suggested"] else ""
    return (f"[{item['id']}] {why}  predicted: {item['predicted']} ({confidence}){suggested}\n"
            f"    {item['text']}")


def cmd_review(args: argparse.Namespace) -> int:
    try:
        if args.label:
            item_id, intent = args.label
            print(json.dumps(_run(lambda s: _label(s, int(item_id), intent)), ensure_ascii=False))
            return 0
        if args.dismiss is not None:
            print(json.dumps(_run(lambda s: _label(s, args.dismiss, None)), ensure_ascii=False))
            return 0
        items = _run(lambda s: _open_items(s, args.limit))
    except (RegistryError, ValueError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return 0
    if not items:
        print("the review queue is empty")
        return 0
    if args.list or not sys.stdin.isatty():
        for item in items:
            print(_describe(item))
        return 0
    return _interactive(items)


def _interactive(items: list[dict[str, Any]]) -> int:
    keys = "  ".join(f"{k}={name}" for k, name in INTENT_KEYS.items())
    print(f"{len(items)} to review. Answer {keys}, Enter=accept the suggestion, "
          "d=dismiss, s=skip, q=quit")
    labeled = 0
    for item in items:
        print()
        print(_describe(item))
        while True:
            answer = input("> ").strip().lower()
            if answer == "q":
                print(f"{labeled} labeled")
                return 0
            if answer == "s":
                break
            intent: str | None
            if answer == "d":
                intent = None
            elif answer == "" and item["suggested"]:
                intent = item["suggested"]
            elif answer in INTENT_KEYS or answer in INTENTS:
                intent = INTENT_KEYS.get(answer, answer)
            else:
                print(f"answer one of {keys}, d, s or q")
                continue
            _run(lambda s, i=item["id"], n=intent: _label(s, i, n))
            labeled += intent is not None
            break
    print(f"{labeled} labeled. Retrain with: gridbot nlu retrain")
    return 0


# ---------------------------------------------------------------- models


async def _models(sessions: SessionFactory) -> list[Any]:
    async with sessions() as session:
        return await list_models(session)


def cmd_models(args: argparse.Namespace) -> int:
    models = _run(_models)
    if args.json:
        print(json.dumps([{
            "version": m.version, "created_at": m.created_at.isoformat(), "examples": m.examples,
            "macro_f1": m.macro_f1, "note": m.note, "active": m.active} for m in models],
            ensure_ascii=False, indent=2))
        return 0
    if not models:
        print("no trained models yet; the packaged model is in use (gridbot nlu retrain)")
    for m in models:
        f1 = f"{m.macro_f1:.3f}" if m.macro_f1 is not None else "—"
        mark = "*" if m.active else " "
        print(f"{mark} {m.version}  {m.created_at:%Y-%m-%d %H:%M}  {m.examples:>6} examples  "
              f"macro-F1 {f1}  {m.note or ''}")
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    async def work(sessions: SessionFactory) -> str | None:
        async with sessions() as session, session.begin():
            return await activate(session, args.version, by="cli")

    try:
        previous = _run(work)
    except RegistryError as exc:
        return _fail(str(exc))
    print(f"model {args.version} is active (was {previous or 'the packaged model'}); "
          "running processes follow within seconds")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    async def work(sessions: SessionFactory) -> str:
        async with sessions() as session, session.begin():
            return await rollback(session, by="cli")

    try:
        version = _run(work)
    except RegistryError as exc:
        return _fail(str(exc))
    print(f"rolled back: model {version} is active again")
    return 0


def _bar(done: int, total: int, what: str) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what:<16}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_retrain(args: argparse.Namespace) -> int:
    from bot.retrain import retrain, side_by_side

    settings = Settings.from_env()

    async def work(sessions: SessionFactory) -> Any:
        result = await retrain(sessions, settings.var_dir, folds=args.folds, progress=_bar,
                               note=args.note)
        if args.activate:
            async with sessions() as session, session.begin():
                await activate(session, result.model.version, by="cli")
        return result

    try:
        result = _run(work)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    print(f"trained {result.model.version} on {result.examples} examples "
          f"({result.reviewed} from the review queue, kept in {result.reviewed_file})")
    print(side_by_side(result.report, result.active_report, result.model.version,
                       result.active_version))
    if args.activate:
        print(f"model {result.model.version} is active")
    else:
        print(f"to use it: gridbot nlu activate {result.model.version}")
    return 0


def register(nlu_commands: Any) -> None:
    """Add the admin-loop commands to the `gridbot nlu` group."""
    review = nlu_commands.add_parser("review", help="label the messages the model was unsure of")
    review.add_argument("--list", action="store_true", help="print the open items and stop")
    review.add_argument("--json", action="store_true", help="print the open items as JSON")
    review.add_argument("--limit", type=int, default=100,
                        help="at most this many items (default: 100)")
    review.add_argument("--label", nargs=2, metavar=("ID", "INTENT"), help="label one item")
    review.add_argument("--dismiss", type=int, metavar="ID", help="dismiss one item")
    review.set_defaults(func=cmd_review)

    models = nlu_commands.add_parser("models", help="list trained models; * marks the active one")
    models.add_argument("--json", action="store_true", help="print the models as JSON")
    models.set_defaults(func=cmd_models)

    activate_parser = nlu_commands.add_parser("activate", help="make a trained model active")
    activate_parser.add_argument("version", help="the model's version, as `models` lists it")
    activate_parser.set_defaults(func=cmd_activate)

    nlu_commands.add_parser(
        "rollback", help="go back to the previously active model").set_defaults(func=cmd_rollback)

    retrain_parser = nlu_commands.add_parser(
        "retrain", help="train on the packaged data plus review labels; compare with the active model")
    retrain_parser.add_argument("--folds", type=int, default=5,
                                help="cross-validation folds for the report (default: 5)")
    retrain_parser.add_argument("--activate", action="store_true", help="activate it right away")
    retrain_parser.add_argument("--note", help="a note kept with the model")
    retrain_parser.set_defaults(func=cmd_retrain)
