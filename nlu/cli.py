"""``gridbot nlu ...``: train, parse, evaluate and compare intent models.

``register(subparsers)`` adds the ``nlu`` command group to gridbot's argparse parser; every
sub-command's ``func`` takes the parsed namespace and returns an exit code (0 success,
2 bad input). ``python -m nlu.cli ...`` runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from nlu.backends import BackendError
from nlu.compare import builtin_candidates, compare, format_table, rasa_candidate
from nlu.evaluate import cross_validate_detailed, evaluate_detailed, write_reports
from nlu.rasa_yaml import DataError, Example, load_examples
from nlu.service import DEFAULT_MODEL_DIR, PACKAGED_DATA, get_model, train_and_save

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _examples(path: Path) -> list[Example]:
    """The labelled examples in ``path``; DataError saying what is wrong with it."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return load_examples(path)


def _error(message: str) -> int:
    print(f"gridbot nlu: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2)


def cmd_train(args: argparse.Namespace) -> int:
    """Train on ``--data`` (default: the packaged data) and make the result active."""
    data = Path(args.data) if args.data else None
    if data is not None and not data.is_file():
        return _error(f"{data}: no such file")
    try:
        model, result = train_and_save(data, Path(args.out), folds=args.folds)
    except DataError as exc:
        return _error(str(exc))
    except ValueError as exc:
        return _error(f"cannot train: {exc}")
    if args.json:
        print(_dump(result))
        return EXIT_OK
    print(f"model {result['version']} saved to {result['path']}")
    counts = ", ".join(f"{k} {v}" for k, v in result["intents"].items())
    print(f"examples: {result['examples']} ({counts})")
    print(f"training time: {result['train_seconds']:.2f}s")
    if "macro_f1" in result:
        print(f"cross-validated macro-F1 ({args.folds} folds): {result['macro_f1']:.4f}"
              f" in {result['cv_seconds']:.1f}s")
    return EXIT_OK


def cmd_parse(args: argparse.Namespace) -> int:
    """Classify one message."""
    model = get_model(Path(args.model_dir))
    result = model.parse(args.text)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return EXIT_OK
    intent = result["intent"]
    print(f"intent: {intent['name']} ({intent['confidence']:.2f})")
    ranking = ", ".join(f"{r['name']} {r['confidence']:.2f}" for r in result["intent_ranking"])
    print(f"ranking: {ranking}")
    if result["entities"]:
        ents = ", ".join(f"{e['entity']}={e['value']}" for e in result["entities"])
        print(f"entities: {ents}")
    if result["urgency"]:
        print(f"urgency: {result['urgency']}")
    if result["tier"]:
        print(f"tier: {result['tier']}")
    why = model.explain(args.text)
    if why and why["terms"]:
        terms = ", ".join(f"{t['term']} +{t['weight']:.2f}" for t in why["terms"])
        print(f"why {why['intent']} over {why['rival']}: {terms}")
    print(f"model: {result['model']}")
    return EXIT_OK


def _default_eval_dir() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    base = Path("var") / "nlu" / "eval"
    candidate = base / stamp
    n = 1
    while candidate.exists():
        n += 1
        candidate = base / f"{stamp}-{n}"
    return candidate


def _print_report(title: str, result: dict[str, Any]) -> None:
    print(title)
    print(f"{'intent':<16}{'precision':>10}{'recall':>10}{'f1-score':>10}{'support':>9}")
    for name, row in result.items():
        if name == "accuracy":
            continue
        print(f"{name:<16}{row['precision']:>10.3f}{row['recall']:>10.3f}"
              f"{row['f1-score']:>10.3f}{row['support']:>9d}")
    print(f"accuracy {result['accuracy']:.3f}")


def cmd_eval(args: argparse.Namespace) -> int:
    """Score the active model on FILE, or cross-validate on FILE with ``--folds``.

    The report goes to stdout; ``intent_report.json``, ``intent_confusion_matrix.png`` and
    ``intent_errors.json`` are written under ``--out`` and their paths printed (on stderr
    with ``--json``, so that stdout is exactly the report).
    """
    path = Path(args.file)
    try:
        examples = _examples(path)
    except DataError as exc:
        return _error(str(exc))
    if not examples:
        return _error(f"{path}: no labelled examples")
    if args.folds is not None:
        try:
            result = cross_validate_detailed(
                examples, folds=args.folds,
                title=f"{args.folds}-fold cross-validation on {path.name}")
        except ValueError as exc:
            return _error(str(exc))
        title = f"{args.folds}-fold cross-validation on {path}"
    else:
        if path.resolve() == PACKAGED_DATA:
            print("gridbot nlu: warning: evaluating on the training data itself; "
                  "use --folds K for a fair figure", file=sys.stderr)
        model = get_model(Path(args.model_dir))
        result = evaluate_detailed(model, examples,
                                   title=f"model {model.version} on {path.name}")
        title = f"model {model.version} on {path}"
    report = result.report
    out_dir = Path(args.out) if args.out else _default_eval_dir()
    try:
        paths = write_reports(result, out_dir)
    except OSError as exc:
        return _error(f"cannot write the reports to {out_dir}: {exc}")
    if args.json:
        print(_dump(report))
    else:
        _print_report(title, report)
    where = sys.stderr if args.json else sys.stdout
    for label, file in (("report", paths["report"]),
                        ("confusion matrix", paths["confusion_matrix"]),
                        (f"errors ({len(result.errors)})", paths["errors"])):
        print(f"{label}: {file}", file=where)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """Cross-validate several pipelines on the same folds and print them side by side."""
    data = Path(args.data) if args.data else PACKAGED_DATA
    try:
        examples = _examples(data)
    except DataError as exc:
        return _error(str(exc))
    known = builtin_candidates(seed=args.seed)
    if args.rasa_url:
        known["rasa"] = rasa_candidate(args.rasa_url, token=args.rasa_token,
                                       config=Path(args.rasa_config) if args.rasa_config
                                       else None)
    if args.pipelines:
        names = [n.strip() for n in args.pipelines.split(",") if n.strip()]
    else:
        names = [n for n in ("logreg", "svm", "words", "chars", "embedding", "rasa")
                 if n in known]
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = {"embedding": "install the extra: pip install -e '.[embedding]'",
                 "rasa": "give --rasa-url"}
        detail = "; ".join(f"{n}: {hints.get(n, 'unknown pipeline')}" for n in unknown)
        return _error(f"cannot run {', '.join(unknown)} ({detail}); "
                      f"available: {', '.join(known)}")
    progress = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        result = compare(examples, [known[n] for n in names], folds=args.folds,
                         seed=args.seed, progress=progress)
    except (BackendError, ValueError) as exc:
        return _error(str(exc))
    if args.json:
        print(_dump(result))
    else:
        print(f"data: {data}")
        print(format_table(result))
    return EXIT_OK


def _usage(parser: argparse.ArgumentParser) -> Any:
    def show(_: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT

    return show


def register(subparsers: Any) -> Any:
    """Add the ``nlu`` command group to an ``argparse`` sub-parsers object; the group's own
    sub-parsers are returned, for commands that need more than the ``nlu`` package."""
    nlu = subparsers.add_parser("nlu", help="train, test and evaluate the intent model")
    nlu.set_defaults(func=_usage(nlu))
    commands = nlu.add_subparsers(dest="nlu_command", metavar="COMMAND")

    train = commands.add_parser("train", help="train on nlu.yml and make the model active")
    train.add_argument("--data", default=None,
                       help="Rasa nlu.yml or JSON Lines file (default: the packaged data)")
    train.add_argument("--out", default=str(DEFAULT_MODEL_DIR),
                       help=f"model directory (default: {DEFAULT_MODEL_DIR})")
    train.add_argument("--folds", type=int, default=5,
                       help="cross-validation folds to report, 0 to skip (default: 5)")
    train.add_argument("--json", action="store_true", help="print the training report as JSON")
    train.set_defaults(func=cmd_train)

    parse = commands.add_parser("parse", help="classify one message")
    parse.add_argument("text", help="the message")
    parse.add_argument("--json", action="store_true", help="print the /api/v1/nlu/parse JSON")
    parse.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR),
                       help=f"model directory (default: {DEFAULT_MODEL_DIR})")
    parse.set_defaults(func=cmd_parse)

    ev = commands.add_parser("eval", help="evaluate on labelled messages")
    ev.add_argument("file", help="JSON Lines of {text, intent} or a Rasa nlu.yml")
    ev.add_argument("--json", action="store_true",
                    help="print only the report (keyed like Rasa's intent_report.json)")
    ev.add_argument("--folds", type=int, default=None,
                    help="cross-validate on FILE with K folds instead of using the active model")
    ev.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR),
                    help=f"model directory (default: {DEFAULT_MODEL_DIR})")
    ev.add_argument("--out", default=None,
                    help="directory for intent_report.json, intent_confusion_matrix.png and "
                         "intent_errors.json (default: var/nlu/eval/<timestamp>/)")
    ev.set_defaults(func=cmd_eval)

    cmp = commands.add_parser(
        "compare", help="cross-validate several pipelines on the same folds, side by side")
    cmp.add_argument("--data", default=None,
                     help="Rasa nlu.yml or JSON Lines file (default: the packaged data)")
    cmp.add_argument("--folds", type=int, default=5, help="stratified folds (default: 5)")
    cmp.add_argument("--seed", type=int, default=0, help="seed of the folds (default: 0)")
    cmp.add_argument("--pipelines", default=None,
                     help="comma-separated: logreg, svm, words, chars, embedding (with the "
                          "embedding extra), rasa (with --rasa-url); default: all available")
    cmp.add_argument("--rasa-url", default=None,
                     help="a Rasa server started with --enable-api, e.g. http://127.0.0.1:5005")
    cmp.add_argument("--rasa-token", default=None, help="the Rasa server's --auth-token")
    cmp.add_argument("--rasa-config", default=None,
                     help="Rasa pipeline config YAML (default: jieba, char_wb 1-4 counts, DIET)")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cmp.set_defaults(func=cmd_compare)
    return commands


def main(argv: list[str] | None = None) -> int:
    """Run ``nlu`` commands without the rest of gridbot: ``python -m nlu.cli parse TEXT``."""
    parser = argparse.ArgumentParser(prog="gridbot")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["nlu", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
