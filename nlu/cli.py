"""``gridbot nlu ...``: train, parse, evaluate and compare intent models.

``register(subparsers, var_dir)`` adds the ``nlu`` command group to gridbot's argparse
parser, its default model directory ``<var_dir>/models`` and evaluation reports under
``<var_dir>/nlu/eval``; every sub-command's ``func`` takes the parsed namespace and returns an
exit code (0 success, 2 bad input). ``python -m nlu.cli ...`` runs the same commands on their
own, with the library's defaults (:data:`nlu.service.DEFAULT_MODEL_DIR`).
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
from nlu.evaluate import (
    EvalResult,
    bootstrap_macro_f1,
    cross_validate_detailed,
    evaluate_detailed,
    heldout_detailed,
    write_reports,
)
from nlu.normalize import normalize
from nlu.rasa_yaml import DataError, Example, load_examples
from nlu.service import (
    DEFAULT_MODEL_DIR,
    PACKAGED_DATA,
    get_model,
    packaged_heldout,
    train_and_save,
    training_examples,
)

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _examples(path: Path, training: bool = False) -> list[Example]:
    """The labelled examples in ``path``; DataError saying what is wrong with it, or that
    it is kept for evaluation only when ``training``."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return training_examples(path) if training else load_examples(path)


def _heldout_path(args: argparse.Namespace) -> Path | None:
    """The held-out file to report: ``--heldout``, else the packaged one; None with
    ``--no-heldout`` or when there is none."""
    if getattr(args, "no_heldout", False):
        return None
    if getattr(args, "heldout", None):
        return Path(args.heldout)
    return packaged_heldout()


def _heldout_examples(path: Path, train: list[Example]) -> tuple[list[Example], int]:
    """The held-out examples and how many of them also appear (normalised) in ``train``."""
    held = _examples(path)
    if not held:
        raise DataError(f"{path}: no labelled examples")
    seen = {normalize(ex.text) for ex in train}
    return held, sum(1 for ex in held if normalize(ex.text) in seen)


def _notice_sets(args: argparse.Namespace) -> list[Path]:
    """The labelled sets of questions about notices to report: ``--notices``, else the
    packaged ones that are present; none with ``--no-notices``."""
    if getattr(args, "no_notices", False):
        return []
    if getattr(args, "notices", None):
        return [Path(args.notices)]
    from nlu.notice_eval import PACKAGED_NOTICE_SETS

    return [path for path in PACKAGED_NOTICE_SETS if path.is_file()]


def _report_notices(paths: list[Path], out_dir: Path, json_mode: bool) -> int:
    """Answers from notices: precision and recall at thresholds on each labelled set,
    printed (on stdout unless ``--json``) and written to ``<out>/<set>.json``."""
    from nlu.notice_eval import format_report, report

    where = sys.stderr if json_mode else sys.stdout
    for path in paths:
        try:
            figures = report(path)
        except DataError as exc:
            return _error(str(exc))
        file = out_dir / f"{path.stem}.json"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            file.write_text(_dump(figures), encoding="utf-8")
        except OSError as exc:
            return _error(f"cannot write {file}: {exc}")
        if not json_mode:
            print()
            print(format_report(figures))
        print(f"answers from notices, figures and errors: {file}", file=where)
    return EXIT_OK


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
    unused = result["examples"] - result["used"]
    print(f"examples: {result['examples']} ({counts})"
          + (f"; trained on {result['used']} ({unused} with no words once normalised)"
             if unused else ""))
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


def _default_eval_dir(base: Path) -> Path:
    """A new directory under ``base`` named after the time."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
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


def _print_side_by_side(cv_title: str, cv: dict[str, Any], held_title: str,
                        held: dict[str, Any],
                        spread: tuple[float, float, float] | None = None) -> None:
    print(f"A: {cv_title}")
    print(f"B: {held_title}")
    header = f"{'':<16}{'A prec':>8}{'A rec':>7}{'A F1':>7}{'n':>6}  "
    header += f"{'B prec':>8}{'B rec':>7}{'B F1':>7}{'n':>6}{'F1 B-A':>8}"
    print(header)
    for name in [k for k in cv if k != "accuracy"] + [
            k for k in held if k not in cv and k != "accuracy"]:
        a, b = cv.get(name), held.get(name)
        left = (f"{a['precision']:>8.3f}{a['recall']:>7.3f}{a['f1-score']:>7.3f}"
                f"{a['support']:>6d}" if a else f"{'':>28}")
        right = (f"{b['precision']:>8.3f}{b['recall']:>7.3f}{b['f1-score']:>7.3f}"
                 f"{b['support']:>6d}" if b else f"{'':>28}")
        gap = f"{b['f1-score'] - a['f1-score']:>+8.3f}" if a and b else ""
        print(f"{name:<16}{left}  {right}{gap}")
    print(f"{'accuracy':<16}{cv['accuracy']:>22.3f}{'':>6}  {held['accuracy']:>22.3f}{'':>6}"
          f"{held['accuracy'] - cv['accuracy']:>+8.3f}")
    print(f"macro-F1: cross-validation {cv['macro avg']['f1-score']:.3f}, held-out "
          f"{held['macro avg']['f1-score']:.3f}, gap "
          f"{held['macro avg']['f1-score'] - cv['macro avg']['f1-score']:+.3f}")
    if spread is not None:
        print(f"held-out macro-F1 over 1,000 bootstrap resamples: standard error {spread[0]:.3f}, "
              f"95% interval {spread[1]:.3f}-{spread[2]:.3f}")


def _print_paths(label: str, paths: dict[str, Path], result: EvalResult, where: Any) -> None:
    for name, file in ((f"{label}report", paths["report"]),
                       (f"{label}confusion matrix", paths["confusion_matrix"]),
                       (f"{label}errors ({len(result.errors)})", paths["errors"])):
        print(f"{name}: {file}", file=where)


def _unknown_intents(examples: list[Example], known: list[str]) -> str:
    """What is wrong with labels the model cannot answer (a misspelt or retired intent,
    which would score as a miss), or "" when every label is one of ``known``."""
    unknown: dict[str, list[str]] = {}
    for example in examples:
        if example.intent not in known:
            unknown.setdefault(example.intent, []).append(example.text)
    if not unknown:
        return ""
    named = "; ".join(f"{intent!r} ({len(texts)} example{'s' * (len(texts) > 1)}, "
                      f"such as {texts[0][:20]!r})" for intent, texts in sorted(unknown.items()))
    return f"labels the model does not know: {named}; its intents are {', '.join(known)}"


def cmd_eval(args: argparse.Namespace) -> int:
    """Score the active model on FILE, or cross-validate on FILE with ``--folds``.

    With ``--folds`` the held-out set (``--heldout``, by default the packaged
    ``nlu/data/heldout.yml``) is reported beside cross-validation: a model trained on all of
    FILE predicts every held-out message. The report goes to stdout (with ``--json`` exactly
    FILE's report, keyed like Rasa's); ``intent_report.json``, ``intent_confusion_matrix.png``
    and ``intent_errors.json`` are written under ``--out``, the held-out ones under
    ``--out``/heldout, and their paths printed (on stderr with ``--json``).

    Answers from notices are reported after it: precision and recall at thresholds on the
    labelled questions about notices (``--notices FILE``, by default the packaged
    ``nlu/data/notice_questions.yml`` and its held-out companion), written to
    ``--out``/<set>.json with the errors at gridbot's threshold (``--no-notices``: none).
    """
    path = Path(args.file)
    try:
        examples = _examples(path, training=args.folds is not None)
    except DataError as exc:
        return _error(str(exc))
    if not examples:
        return _error(f"{path}: no labelled examples")
    held_result: EvalResult | None = None
    if args.folds is not None:
        held_path = _heldout_path(args)
        try:
            result = cross_validate_detailed(
                examples, folds=args.folds,
                title=f"{args.folds}-fold cross-validation on {path.name}")
            if held_path is not None:
                held, overlap = _heldout_examples(held_path, examples)
                if overlap:
                    print(f"gridbot nlu: warning: {overlap} of {len(held)} held-out messages "
                          f"also appear in {path.name}", file=sys.stderr)
                held_result = heldout_detailed(
                    examples, held, title=f"trained on {path.name}, scored on {held_path.name}")
                held_result.meta["path"] = str(held_path)
        except DataError as exc:
            return _error(str(exc))
        except ValueError as exc:
            return _error(str(exc))
        title = f"{args.folds}-fold cross-validation on {path}"
    else:
        if path.resolve() == PACKAGED_DATA:
            print("gridbot nlu: warning: evaluating on the training data itself; "
                  "use --folds K for a fair figure", file=sys.stderr)
        model = get_model(Path(args.model_dir))
        unknown = _unknown_intents(examples, model.classes)
        if unknown:
            return _error(f"{path}: {unknown}")
        result = evaluate_detailed(model, examples,
                                   title=f"model {model.version} on {path.name}")
        title = f"model {model.version} on {path}"
    report = result.report
    out_dir = Path(args.out) if args.out else _default_eval_dir(Path(args.eval_base))
    try:
        paths = write_reports(result, out_dir)
        held_paths = (write_reports(held_result, out_dir / "heldout")
                      if held_result is not None else None)
    except OSError as exc:
        return _error(f"cannot write the reports to {out_dir}: {exc}")
    if args.json:
        print(_dump(report))
    elif held_result is not None:
        _print_side_by_side(title, report,
                            f"trained on all of {path}, scored on {held_result.meta['path']}",
                            held_result.report,
                            bootstrap_macro_f1(held_result.y_true, held_result.y_pred))
    else:
        _print_report(title, report)
    where = sys.stderr if args.json else sys.stdout
    _print_paths("", paths, result, where)
    if held_result is not None and held_paths is not None:
        _print_paths("held-out ", held_paths, held_result, where)
    return _report_notices(_notice_sets(args), out_dir, args.json)


def cmd_compare(args: argparse.Namespace) -> int:
    """Cross-validate several pipelines on the same folds and print them side by side."""
    data = Path(args.data) if args.data else PACKAGED_DATA
    held_path = _heldout_path(args)
    heldout: list[Example] | None = None
    try:
        examples = _examples(data, training=True)
        if held_path is not None:
            heldout, overlap = _heldout_examples(held_path, examples)
            if overlap:
                print(f"gridbot nlu: warning: {overlap} of {len(heldout)} held-out messages "
                      f"also appear in {data.name}", file=sys.stderr)
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
                         seed=args.seed, progress=progress, heldout=heldout)
    except (BackendError, ValueError) as exc:
        return _error(str(exc))
    if args.json:
        print(_dump(result))
    else:
        print(f"data: {data}" + (f", held-out: {held_path}" if heldout is not None else ""))
        print(format_table(result))
    return EXIT_OK


def _usage(parser: argparse.ArgumentParser) -> Any:
    def show(_: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT

    return show


def register(subparsers: Any, var_dir: str | Path | None = None) -> Any:
    """Add the ``nlu`` command group to an ``argparse`` sub-parsers object; the group's own
    sub-parsers are returned, for commands that need more than the ``nlu`` package.

    ``var_dir`` is where models (``<var_dir>/models``) and evaluation reports
    (``<var_dir>/nlu/eval``) go unless a command is told otherwise; without it, the
    library's default model directory and the directory above it."""
    model_dir = Path(var_dir) / "models" if var_dir is not None else DEFAULT_MODEL_DIR
    eval_base = (Path(var_dir) if var_dir is not None else DEFAULT_MODEL_DIR.parent) / "nlu" / "eval"
    nlu = subparsers.add_parser("nlu", help="train, test and evaluate the intent model")
    nlu.set_defaults(func=_usage(nlu))
    commands = nlu.add_subparsers(dest="nlu_command", metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train a model file from a data file, for parse and eval here "
                      "(the server's model: retrain and activate)")
    train.add_argument("--data", default=None,
                       help="Rasa nlu.yml or JSON Lines file (default: the packaged data)")
    train.add_argument("--out", default=str(model_dir),
                       help=f"model directory (default: {model_dir})")
    train.add_argument("--folds", type=int, default=5,
                       help="cross-validation folds to report, 0 to skip (default: 5)")
    train.add_argument("--json", action="store_true", help="print the training report as JSON")
    train.set_defaults(func=cmd_train)

    parse = commands.add_parser("parse", help="classify one message")
    parse.add_argument("text", help="the message")
    parse.add_argument("--json", action="store_true", help="print the /api/v1/nlu/parse JSON")
    parse.add_argument("--model-dir", default=str(model_dir),
                       help=f"model directory (default: {model_dir})")
    parse.set_defaults(func=cmd_parse)

    ev = commands.add_parser("eval", help="evaluate on labelled messages")
    ev.add_argument("file", help="JSON Lines of {text, intent} or a Rasa nlu.yml")
    ev.add_argument("--json", action="store_true",
                    help="print only the report (keyed like Rasa's intent_report.json)")
    ev.add_argument("--folds", type=int, default=None,
                    help="cross-validate on FILE with K folds instead of using the active model")
    ev.add_argument("--model-dir", default=str(model_dir),
                    help=f"model directory (default: {model_dir})")
    ev.add_argument("--out", default=None,
                    help="directory for intent_report.json, intent_confusion_matrix.png and "
                         f"intent_errors.json (default: {eval_base}/<timestamp>/)")
    ev.add_argument("--heldout", default=None, metavar="FILE",
                    help="with --folds, also train on all of FILE and score this held-out set "
                         "(default: the packaged nlu/data/heldout.yml, when present)")
    ev.add_argument("--no-heldout", action="store_true", help="do not report a held-out set")
    ev.add_argument("--notices", default=None, metavar="FILE",
                    help="also report answers from notices on this labelled set of questions "
                         "(default: the packaged nlu/data/notice_questions*.yml)")
    ev.add_argument("--no-notices", action="store_true",
                    help="do not report answers from notices")
    ev.set_defaults(func=cmd_eval, eval_base=str(eval_base))

    cmp = commands.add_parser(
        "compare", help="cross-validate several pipelines on the same folds, side by side")
    cmp.add_argument("--data", default=None,
                     help="Rasa nlu.yml or JSON Lines file (default: the packaged data)")
    cmp.add_argument("--folds", type=int, default=5, help="stratified folds (default: 5)")
    cmp.add_argument("--seed", type=int, default=0, help="seed of the folds (default: 0)")
    cmp.add_argument("--pipelines", default=None,
                     help="comma-separated: logreg, char4, char4-text, words-half, chars-half, "
                          "balanced, svm, words, chars, embedding and ensemble (with the "
                          "embedding extra), rasa (with --rasa-url); default: logreg, svm, "
                          "words, chars, embedding, rasa when available")
    cmp.add_argument("--rasa-url", default=None,
                     help="a Rasa server started with --enable-api, e.g. http://127.0.0.1:5005")
    cmp.add_argument("--rasa-token", default=None, help="the Rasa server's --auth-token")
    cmp.add_argument("--rasa-config", default=None,
                     help="Rasa pipeline config YAML (default: jieba, char_wb 1-4 counts, DIET)")
    cmp.add_argument("--heldout", default=None, metavar="FILE",
                     help="also train every pipeline on all the data and score this held-out "
                          "set (default: the packaged nlu/data/heldout.yml, when present)")
    cmp.add_argument("--no-heldout", action="store_true", help="do not report a held-out set")
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
