"""Does reading a sender's short messages together turn chatter into tickets?

``python -m nlu.fragmentcheck PATH [PATH ...] [--samples N] [--seed S] [--json]`` takes the
``none`` messages of labelled files (JSON Lines or Rasa YAML), keeps those gridbot would keep
as fragments (read as no matter alone, at most `FRAGMENT_MAX_CHARS` characters), and joins
them as one sender's consecutive messages would be joined (handlers.conversation): each file's
neighbours in order, and `--samples` random pairs and triples. It prints how often one message
alone makes a ticket, and how often the joined text would: a ticket intent at all, and one at
least `JOINED_AT_LEAST` sure (what gridbot acts on). Only figures are printed, never messages.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from handlers.conversation import FRAGMENT_MAX_CHARS, JOINED_AT_LEAST
from nlu.pipeline import NONE, IntentModel
from nlu.rasa_yaml import DataError, load_examples
from nlu.service import get_model

TICKET_INTENTS = ("complaint", "repair_request", "micro_wish", "dispute")


def _tickets(model: IntentModel, texts: list[str]) -> tuple[int, int]:
    """How many of `texts` read as a ticket intent, and how many at least JOINED_AT_LEAST."""
    any_ticket = sure = 0
    for text in texts:
        intent = model.parse(text)["intent"]
        if intent["name"] in TICKET_INTENTS:
            any_ticket += 1
            sure += intent["confidence"] >= JOINED_AT_LEAST
    return any_ticket, sure


def check(model: IntentModel, path: Path, samples: int = 2000, seed: int = 11) -> dict[str, Any]:
    texts = [ex.text for ex in load_examples(path) if ex.intent == NONE]
    predicted = model.predict(texts)
    alone = sum(1 for p in predicted if p in TICKET_INTENTS)
    fragments = [t for t, p in zip(texts, predicted, strict=True)
                 if p == NONE and len(t.strip()) <= FRAGMENT_MAX_CHARS]
    result: dict[str, Any] = {
        "file": path.name, "none_rows": len(texts), "alone_as_ticket": alone,
        "alone_share": alone / len(texts) if texts else 0.0, "fragments": len(fragments),
    }
    rng = random.Random(seed)
    for n in (2, 3):
        if len(fragments) < n:
            continue
        neighbours = [" ".join(fragments[i:i + n]) for i in range(len(fragments) - n + 1)]
        drawn = [" ".join(rng.sample(fragments, n)) for _ in range(samples)]
        for name, joined in ((f"neighbours_{n}", neighbours), (f"random_{n}", drawn)):
            any_ticket, sure = _tickets(model, joined)
            result[name] = {"joined": len(joined), "as_ticket": any_ticket, "acted_on": sure,
                            "acted_on_share": sure / len(joined) if joined else 0.0}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu.fragmentcheck", description=__doc__)
    parser.add_argument("paths", type=Path, nargs="+", help="labelled files (JSONL or YAML)")
    parser.add_argument("--samples", type=int, default=2000, help="random joins of each size")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    model = get_model(args.model_dir)
    try:
        results = [check(model, path, args.samples, args.seed) for path in args.paths]
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    print(f"model {model.version}; joined text acted on at confidence >= {JOINED_AT_LEAST}")
    for r in results:
        print(f"{r['file']}: {r['none_rows']} none messages, {r['alone_as_ticket']} a ticket alone"
              f" ({r['alone_share']:.1%}); {r['fragments']} kept as fragments")
        for name in ("neighbours_2", "neighbours_3", "random_2", "random_3"):
            if name in r:
                f = r[name]
                print(f"  {name}: {f['joined']} joined, {f['as_ticket']} read as a ticket intent,"
                      f" {f['acted_on']} acted on ({f['acted_on_share']:.2%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
