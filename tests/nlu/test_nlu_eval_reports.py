from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from nlu.cli import main
from nlu.compare import Candidate, builtin_candidates, compare, format_table
from nlu.evaluate import (
    CONFUSION_FILE,
    ERRORS_FILE,
    REPORT_FILE,
    EvalResult,
    confusion_matrix,
    cross_validate,
    cross_validate_detailed,
    errors,
    evaluate_detailed,
    report,
    stratified_folds,
    write_reports,
)
from nlu.pipeline import INTENTS
from nlu.rasa_yaml import Example, TrainingData, dump_rasa
from nlu.service import packaged_examples

REPORT_ROW = {"precision", "recall", "f1-score", "support"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def subset() -> list[Example]:
    """A stratified slice of the packaged data: about 40 examples per intent."""
    by_intent: dict[str, list[Example]] = {}
    for ex in packaged_examples():
        by_intent.setdefault(ex.intent, []).append(ex)
    out: list[Example] = []
    for items in by_intent.values():
        step = max(1, len(items) // 40)
        out.extend(items[::step][:40])
    return out


@pytest.fixture()
def small_yml(tmp_path: Path, subset: list[Example]) -> Path:
    path = tmp_path / "small.yml"
    dump_rasa(TrainingData(examples=subset), path)
    return path


def test_report_is_keyed_like_rasa() -> None:
    rep = report(["none", "complaint", "none"], ["none", "none", "none"])
    assert set(rep) == {"none", "complaint", "accuracy", "macro avg", "weighted avg"}
    for key in ("none", "complaint", "macro avg", "weighted avg"):
        assert set(rep[key]) == REPORT_ROW
    assert rep["accuracy"] == pytest.approx(2 / 3)
    assert rep["complaint"]["recall"] == 0.0
    assert rep["none"]["precision"] == pytest.approx(2 / 3)
    assert rep["macro avg"]["support"] == 3


def test_confusion_matrix_counts_gold_by_row() -> None:
    labels, matrix = confusion_matrix(["none", "none", "dispute"], ["none", "dispute", "dispute"])
    assert labels == ["dispute", "none"]  # in INTENTS order
    assert matrix == [[1, 0], [1, 1]]


def test_errors_have_rasa_shape() -> None:
    examples = [Example("电梯坏了", "repair_request"), Example("早上好", "none")]
    found = errors(examples, [("none", 0.61234), ("none", 0.9)])
    assert found == [{"text": "电梯坏了", "intent": "repair_request",
                      "intent_prediction": {"name": "none", "confidence": 0.6123}}]


def test_stratified_folds_are_a_fixed_stratified_partition(subset: list[Example]) -> None:
    labels = [ex.intent for ex in subset]
    folds = stratified_folds(labels, 4, seed=0)
    assert folds == stratified_folds(labels, 4, seed=0)
    assert folds != stratified_folds(labels, 4, seed=1)
    held_out = sorted(i for _, test in folds for i in test)
    assert held_out == list(range(len(subset)))
    totals = Counter(labels)
    for train_idx, test_idx in folds:
        assert not set(train_idx) & set(test_idx)
        counts = Counter(labels[i] for i in test_idx)
        for intent, total in totals.items():
            assert abs(counts[intent] - total / 4) <= 1
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_folds(labels, 1)
    with pytest.raises(ValueError, match="examples per intent"):
        stratified_folds(["none", "none", "dispute"], 2)


def test_cross_validation_pools_held_out_predictions(subset: list[Example]) -> None:
    detailed = cross_validate_detailed(subset, folds=3)
    assert len(detailed.predictions) == len(subset)
    assert all(name in INTENTS and 0.0 <= conf <= 1.0 for name, conf in detailed.predictions)
    assert len(detailed.meta["train_seconds"]) == 3
    assert cross_validate(subset, folds=3) == detailed.report
    assert detailed.report["macro avg"]["f1-score"] > 0.6


def test_write_reports(tmp_path: Path, model, subset: list[Example]) -> None:
    result = evaluate_detailed(model, subset[:60], title="a test")
    paths = write_reports(result, tmp_path / "out")
    assert paths["report"].name == REPORT_FILE
    assert json.loads(paths["report"].read_text(encoding="utf-8")) == result.report
    assert json.loads(paths["errors"].read_text(encoding="utf-8")) == result.errors
    png = paths["confusion_matrix"].read_bytes()
    assert paths["confusion_matrix"].name == CONFUSION_FILE
    assert png.startswith(PNG_MAGIC) and len(png) > 5000


def test_write_reports_with_mistakes_and_unknown_labels(tmp_path: Path) -> None:
    examples = [Example("a", "none"), Example("b", "chitchat"), Example("c", "dispute")]
    result = EvalResult(examples, [("none", 0.9), ("none", 0.5), ("complaint", 0.4)])
    paths = write_reports(result, tmp_path)
    written = json.loads(paths["errors"].read_text(encoding="utf-8"))
    assert [e["text"] for e in written] == ["b", "c"]
    assert paths["confusion_matrix"].read_bytes().startswith(PNG_MAGIC)


def test_eval_json_stdout_is_exactly_the_report(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "eval.jsonl"
    rows = [{"text": "楼道灯坏了 麻烦换一下", "intent": "repair_request"},
            {"text": "早上好", "intent": "none"},
            {"text": "晚上十二点还在装修", "intent": "complaint"},
            {"text": "谢谢大家", "intent": "dispute"}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out_dir = tmp_path / "reports"
    code, out, err = run(capsys, "eval", str(data), "--json", "--out", str(out_dir),
                         "--model-dir", str(model_dir))
    assert code == 0
    rep = json.loads(out)
    assert rep == json.loads((out_dir / REPORT_FILE).read_text(encoding="utf-8"))
    assert set(rep["macro avg"]) == REPORT_ROW
    for name in (REPORT_FILE, CONFUSION_FILE, ERRORS_FILE):
        assert str(out_dir / name) in err
    errs = json.loads((out_dir / ERRORS_FILE).read_text(encoding="utf-8"))
    assert any(e["text"] == "谢谢大家" and e["intent"] == "dispute" for e in errs)
    for e in errs:
        assert set(e) == {"text", "intent", "intent_prediction"}
        assert set(e["intent_prediction"]) == {"name", "confidence"}


def test_eval_human_prints_paths_on_stdout(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text('{"text": "早上好", "intent": "none"}\n', encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(data), "--out", str(tmp_path / "o"),
                       "--model-dir", str(model_dir))
    assert code == 0
    assert "macro avg" in out and str(tmp_path / "o" / CONFUSION_FILE) in out


def test_eval_default_out_dir_is_timestamped(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text('{"text": "早上好", "intent": "none"}\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code, _, _ = run(capsys, "eval", str(data), "--json", "--model-dir", str(model_dir))
        assert code == 0
    runs = sorted((tmp_path / "var" / "nlu" / "eval").iterdir())
    assert len(runs) == 2
    for directory in runs:
        assert (directory / REPORT_FILE).is_file() and (directory / CONFUSION_FILE).is_file()


def test_eval_folds_writes_cross_validated_reports(
    small_yml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "cv"
    code, out, err = run(capsys, "eval", str(small_yml), "--folds", "2", "--json",
                         "--out", str(out_dir))
    assert code == 0
    rep = json.loads(out)
    assert rep["macro avg"]["support"] == sum(
        rep[name]["support"] for name in INTENTS if name in rep)
    assert (out_dir / CONFUSION_FILE).read_bytes().startswith(PNG_MAGIC)
    assert "report:" in err

    code, out, err = run(capsys, "eval", str(small_yml), "--folds", "1000", "--json",
                         "--out", str(out_dir))
    assert code == 2 and out == "" and "examples per intent" in err


def test_compare_runs_every_pipeline_on_the_same_folds(subset: list[Example]) -> None:
    seen: dict[str, list[list[str]]] = {}

    class Recorder:
        name = "recorder"
        version = "r"

        def __init__(self, label: str) -> None:
            self.label = label

        def train(self, examples: list[Example]) -> dict[str, object]:
            seen.setdefault(self.label, []).append(sorted(ex.text for ex in examples))
            return {}

        def parse(self, text: str) -> dict[str, object]:
            return {"intent": {"name": "none", "confidence": 1.0}}

        def close(self) -> None:
            return None

    candidates = [Candidate(n, n, lambda n=n: Recorder(n)) for n in ("a", "b")]
    result = compare(subset, candidates, folds=3, seed=0)
    assert seen["a"] == seen["b"] and len(seen["a"]) == 3
    rows = {row["name"]: row for row in result["pipelines"]}
    assert rows["a"]["accuracy"] == rows["b"]["accuracy"]
    assert set(rows["a"]["report"]["macro avg"]) == REPORT_ROW


def test_compare_builtin_pipelines(subset: list[Example]) -> None:
    known = builtin_candidates()
    assert {"logreg", "svm", "words", "chars"} <= set(known)
    result = compare(subset, [known["logreg"], known["chars"]], folds=2)
    assert [row["name"] for row in result["pipelines"]] == ["logreg", "chars"]
    for row in result["pipelines"]:
        assert 0.5 < row["macro_f1"] <= 1.0
        assert row["parse_ms_p99"] >= row["parse_ms_p50"] > 0
        assert row["train_seconds_mean"] > 0
    text = format_table(result)
    assert "logreg" in text and "chars" in text and "macro-F1" in text


def test_compare_cli(small_yml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compare", "--data", str(small_yml), "--folds", "2",
                       "--pipelines", "words,logreg", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["folds"] == 2 and result["examples"] > 100
    assert [r["name"] for r in result["pipelines"]] == ["words", "logreg"]
    for row in result["pipelines"]:
        assert {"macro_f1", "accuracy", "train_seconds_mean", "parse_ms_p50",
                "parse_ms_p99", "report"} <= set(row)

    code, out, err = run(capsys, "compare", "--data", str(small_yml), "--folds", "2",
                         "--pipelines", "chars")
    assert code == 0 and "chars" in out and "macro-F1" in out and "chars: 2 folds" in err

    code, out, err = run(capsys, "compare", "--data", str(small_yml), "--pipelines", "rasa,nope")
    assert code == 2 and out == ""
    assert "--rasa-url" in err and "nope" in err

    code, _, err = run(capsys, "compare", "--data", "/nonexistent.yml")
    assert code == 2 and "no such file" in err


def test_bootstrap_macro_f1_brackets_the_figure() -> None:
    import random

    from nlu.evaluate import bootstrap_macro_f1

    rng = random.Random(5)
    gold = [rng.choice(INTENTS) for _ in range(400)]
    pred = [g if rng.random() < 0.85 else rng.choice(INTENTS) for g in gold]
    figure = report(gold, pred)["macro avg"]["f1-score"]
    se, low, high = bootstrap_macro_f1(gold, pred, rounds=300)
    assert low < figure < high and 0.005 < se < 0.05
    assert bootstrap_macro_f1(gold, gold, rounds=50) == (0.0, 1.0, 1.0)
    assert bootstrap_macro_f1([], []) == (0.0, 0.0, 0.0)
