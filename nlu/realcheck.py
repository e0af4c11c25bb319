"""Score the packaged model on an outside JSON Lines file of labelled messages.

``python -m nlu.realcheck PATH [--model-dir DIR] [--json]`` prints how often ``none``
messages would have raised a ticket, how many complaint and repair messages are recognised,
and the full Rasa-style report. Only figures are printed, never the messages.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from nlu.evaluate import report
from nlu.pipeline import NONE, IntentModel
from nlu.rasa_yaml import DataError, load_examples
from nlu.service import get_model

TICKET_INTENTS = ("complaint", "repair_request", "micro_wish", "dispute")


def check(model: IntentModel, path: Path) -> dict[str, Any]:
    """Figures for ``model`` on the labelled file at ``path``."""
    examples = load_examples(path)
    gold = [ex.intent for ex in examples]
    pred = model.predict(ex.text for ex in examples)
    none_rows = [p for g, p in zip(gold, pred, strict=True) if g == NONE]
    ticket_rows = [(g, p) for g, p in zip(gold, pred, strict=True)
                   if g in ("complaint", "repair_request")]
    false_tickets = sum(1 for p in none_rows if p in TICKET_INTENTS)
    exact = sum(1 for g, p in ticket_rows if g == p)
    any_ticket = sum(1 for _, p in ticket_rows if p in TICKET_INTENTS)
    confusion = Counter(f"{g}->{p}" for g, p in zip(gold, pred, strict=True))
    return {
        "rows": len(examples),
        "model": model.version,
        "none_rows": len(none_rows),
        "none_as_ticket": false_tickets,
        "none_as_ticket_share": false_tickets / len(none_rows) if none_rows else 0.0,
        "complaint_repair_rows": len(ticket_rows),
        "complaint_repair_recall": exact / len(ticket_rows) if ticket_rows else 0.0,
        "complaint_repair_ticketed": any_ticket / len(ticket_rows) if ticket_rows else 0.0,
        "confusion": dict(sorted(confusion.items())),
        "report": report(gold, pred),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu.realcheck", description=__doc__)
    parser.add_argument("path", type=Path, help="JSON Lines file of {text, intent}")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        result = check(get_model(args.model_dir), args.path)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"model {result['model']}, {result['rows']} rows")
    print(f"none predicted as a ticket intent: {result['none_as_ticket']}/{result['none_rows']}"
          f" = {result['none_as_ticket_share']:.1%}")
    print(f"complaint+repair_request recall (exact intent): "
          f"{result['complaint_repair_recall']:.1%} of {result['complaint_repair_rows']}")
    print(f"complaint+repair_request raised as any ticket: "
          f"{result['complaint_repair_ticketed']:.1%}")
    print(f"macro-F1 {result['report']['macro avg']['f1-score']:.3f}, "
          f"accuracy {result['report']['accuracy']:.3f}")
    for pair, n in result["confusion"].items():
        print(f"  {pair}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
