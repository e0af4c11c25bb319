"""The held-out set: packaged, reported beside cross-validation, never trained on."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import pytest

from nlu.cli import main
from nlu.compare import builtin_candidates, compare, format_table
from nlu.normalize import normalize
from nlu.rasa_yaml import DataError, Example, TrainingData, dump_rasa, load_rasa
from nlu.service import (
    PACKAGED_DATA,
    PACKAGED_HELDOUT,
    evaluation_only,
    packaged_examples,
    packaged_heldout,
    training_examples,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def small(tmp_path: Path) -> tuple[Path, Path]:
    """A small training file and a small held-out file (named like the packaged one)."""
    train = tmp_path / "small.yml"
    train.write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: repair_request\n  examples: |\n"
        "    - 电梯坏了\n    - 楼道灯不亮\n    - 水管爆了\n    - 门禁坏了\n"
        "- intent: none\n  examples: |\n"
        "    - 早上好\n    - 谢谢\n    - 收到\n    - 晚安\n",
        encoding="utf-8",
    )
    held = tmp_path / "elsewhere" / "heldout.yml"
    held.parent.mkdir()
    dump_rasa(TrainingData(examples=[Example("单元门的灯坏了", "repair_request"),
                                     Example("大家晚上好", "none")]), held)
    return train, held


def test_the_heldout_file_is_packaged_like_the_training_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["nlu"]
    relative = PACKAGED_HELDOUT.relative_to(PACKAGED_DATA.parent.parent).as_posix()
    assert any(fnmatch.fnmatch(relative, p) for p in patterns)
    if PACKAGED_HELDOUT.exists():
        assert packaged_heldout() == PACKAGED_HELDOUT
        assert len(load_rasa(PACKAGED_HELDOUT).examples) >= 600


def test_the_training_loader_refuses_evaluation_files(small: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    _, held = small
    real = tmp_path / "real_eval.jsonl"
    real.write_text('{"text": "早", "intent": "none"}\n', encoding="utf-8")
    for path in (PACKAGED_HELDOUT, held, real):
        assert evaluation_only(path)
        with pytest.raises(DataError, match="evaluation only"):
            training_examples(path)
    assert not evaluation_only(PACKAGED_DATA)
    assert [ex.text for ex in training_examples()] == [ex.text for ex in packaged_examples()]


def test_packaged_training_data_is_nlu_yml_alone() -> None:
    """Nothing of the held-out set reaches training, except short chatter both may hold."""
    examples = packaged_examples()
    assert len(examples) == len(load_rasa(PACKAGED_DATA).examples)
    if not PACKAGED_HELDOUT.exists():
        pytest.skip("no held-out set in this copy")
    seen = {normalize(ex.text) for ex in examples}
    shared = [ex.text for ex in load_rasa(PACKAGED_HELDOUT).examples
              if normalize(ex.text) in seen and len(normalize(ex.text)) > 8]
    assert shared == []


def test_no_command_trains_on_a_heldout_file(small: tuple[Path, Path],
                                             capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    _, held = small
    code, out, err = run(capsys, "train", "--data", str(held), "--out", str(tmp_path / "m"))
    assert code == 2 and "evaluation only" in err
    assert not (tmp_path / "m").exists()
    code, out, err = run(capsys, "eval", str(held), "--folds", "2")
    assert code == 2 and "evaluation only" in err
    code, out, err = run(capsys, "compare", "--data", str(held), "--folds", "2")
    assert code == 2 and "evaluation only" in err


def test_eval_reports_heldout_beside_cross_validation(small: tuple[Path, Path],
                                                      capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    train, held = small
    out_dir = tmp_path / "reports"
    code, out, _ = run(capsys, "eval", str(train), "--folds", "2", "--heldout", str(held),
                       "--out", str(out_dir))
    assert code == 0
    assert "2-fold cross-validation" in out and "scored on" in out
    assert "macro-F1: cross-validation" in out and "held-out" in out and "gap" in out
    assert (out_dir / "heldout" / "intent_report.json").exists()
    held_report = json.loads((out_dir / "heldout" / "intent_report.json").read_text())
    assert held_report["macro avg"]["support"] == 2

    # --json keeps stdout the cross-validation report alone, keyed like Rasa's
    code, out, err = run(capsys, "eval", str(train), "--folds", "2", "--heldout", str(held),
                         "--json", "--out", str(tmp_path / "r2"))
    assert code == 0 and json.loads(out)["macro avg"]["support"] == 8
    assert "held-out report" in err

    code, out, _ = run(capsys, "eval", str(train), "--folds", "2", "--no-heldout",
                       "--out", str(tmp_path / "r3"))
    assert code == 0 and "held-out" not in out and not (tmp_path / "r3" / "heldout").exists()


def test_eval_uses_the_packaged_heldout_set_by_default(small: tuple[Path, Path],
                                                      capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    if not PACKAGED_HELDOUT.exists():
        pytest.skip("no held-out set in this copy")
    train, _ = small
    code, out, _ = run(capsys, "eval", str(train), "--folds", "2", "--out", str(tmp_path / "r"))
    assert code == 0 and str(PACKAGED_HELDOUT) in out


def test_compare_scores_every_pipeline_on_the_heldout_set(capsys: pytest.CaptureFixture[str],
                                                          small: tuple[Path, Path]) -> None:
    by_intent: dict[str, list[Example]] = {}
    for ex in packaged_examples():
        by_intent.setdefault(ex.intent, []).append(ex)
    subset = [ex for items in by_intent.values() for ex in items[::12]]
    heldout = [ex for items in by_intent.values() for ex in items[5::40]]
    known = builtin_candidates()
    result = compare(subset, [known["chars"]], folds=2, heldout=heldout)
    row = result["pipelines"][0]
    assert result["heldout_examples"] == len(heldout)
    assert 0.0 < row["heldout_macro_f1"] <= 1.0
    assert row["gap"] == pytest.approx(row["heldout_macro_f1"] - row["macro_f1"])
    assert "held-out" in format_table(result)

    train, held = small
    code, out, _ = run(capsys, "compare", "--data", str(train), "--folds", "2",
                       "--pipelines", "chars", "--heldout", str(held), "--json")
    assert code == 0 and json.loads(out)["pipelines"][0]["heldout_report"]["macro avg"]
