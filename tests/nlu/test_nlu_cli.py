from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nlu.cli import main, register
from nlu.service import PACKAGED_DATA

REPORT_ROW = {"precision", "recall", "f1-score", "support"}



@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """Reports go under ./var/nlu/eval: keep them out of the checkout."""
    monkeypatch.chdir(tmp_path)

def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_register_with_a_parent_parser(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="gridbot")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["nlu", "parse", "电梯坏了", "--json", "--model-dir", str(model_dir)])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["intent"]["name"] == "repair_request"
    args = parser.parse_args(["nlu"])
    assert args.func(args) == 2


def test_parse_json(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "parse", "5号楼电梯里有人被困住了", "--json", "--model-dir", str(model_dir))
    assert code == 0
    result = json.loads(out)
    assert list(result) == ["text", "intent", "intent_ranking", "entities", "urgency", "tier",
                            "danger", "model"]
    assert result["intent"]["name"] == "repair_request"
    assert result["urgency"] == "emergency"
    assert result["entities"][0]["value"] == "5"


def test_parse_human(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "parse", "3号楼电梯坏了", "--model-dir", str(model_dir))
    assert code == 0
    assert "intent: repair_request" in out
    assert "building=3" in out
    assert "why repair_request over " in out


def test_eval_json_on_jsonl(model_dir: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "eval.jsonl"
    rows = [{"text": "楼道灯坏了 麻烦换一下", "intent": "repair_request"},
            {"text": "早上好", "intent": "none"},
            {"text": "晚上十二点还在装修", "intent": "complaint"}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(data), "--json", "--model-dir", str(model_dir))
    assert code == 0
    result = json.loads(out)
    assert isinstance(result["accuracy"], float)
    for key in ("macro avg", "weighted avg", "repair_request", "none", "complaint"):
        assert set(result[key]) == REPORT_ROW
    assert result["weighted avg"]["support"] == 3


def test_eval_human(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text('{"text": "早上好", "intent": "none"}\n', encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(data), "--model-dir", str(model_dir))
    assert code == 0
    assert "accuracy" in out and "macro avg" in out


def test_eval_training_data_warns(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "eval", str(PACKAGED_DATA), "--json", "--model-dir", str(model_dir))
    assert code == 0
    assert "training data" in err
    assert json.loads(out)["accuracy"] > 0.95


def test_eval_folds_cross_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "small.yml"
    data.write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: repair_request\n  examples: |\n"
        "    - 电梯坏了\n    - 楼道灯不亮\n    - 水管爆了\n    - 门禁坏了\n"
        "- intent: none\n  examples: |\n"
        "    - 早上好\n    - 谢谢\n    - 收到\n    - 晚安\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "eval", str(data), "--json", "--folds", "2")
    assert code == 0
    assert set(json.loads(out)["macro avg"]) == REPORT_ROW


def test_eval_bad_input(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "eval", str(tmp_path / "missing.jsonl"), "--json")
    assert code == 2 and out == "" and "no such file" in err

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "早", "intent": "none"}\nnot json\n', encoding="utf-8")
    code, out, err = run(capsys, "eval", str(bad), "--json", "--model-dir", str(model_dir))
    assert code == 2 and out == "" and "bad.jsonl:2" in err

    yml = tmp_path / "bad.yml"
    yml.write_text("nlu:\n- intent: none\n  examples: |\n    - ok\n  - broken\n", encoding="utf-8")
    code, out, err = run(capsys, "eval", str(yml), "--json", "--model-dir", str(model_dir))
    assert code == 2 and out == "" and "bad.yml:" in err

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    code, out, err = run(capsys, "eval", str(empty), "--json", "--model-dir", str(model_dir))
    assert code == 2 and "no labelled examples" in err

    # A label the model cannot answer would score as a miss: refused, named, nothing written.
    misnamed = tmp_path / "misnamed.jsonl"
    misnamed.write_text('{"text": "楼道灯坏了", "intent": "repair"}\n'
                        '{"text": "早上好", "intent": "none"}\n', encoding="utf-8")
    out_dir = tmp_path / "reports"
    code, out, err = run(capsys, "eval", str(misnamed), "--json", "--model-dir", str(model_dir),
                         "--out", str(out_dir))
    assert code == 2 and out == "" and not out_dir.exists()
    assert "'repair' (1 example, such as '楼道灯坏了')" in err and "repair_request" in err


def test_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "small.yml"
    data.write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: repair_request\n  examples: |\n    - 电梯坏了\n    - 楼道灯不亮\n"
        "- intent: none\n  examples: |\n    - 早上好\n    - 谢谢\n",
        encoding="utf-8",
    )
    out_dir = tmp_path / "models"
    code, out, _ = run(capsys, "train", "--data", str(data), "--out", str(out_dir), "--folds", "2")
    assert code == 0
    assert "examples: 4" in out and "training time" in out and "macro-F1" in out
    assert (out_dir / "active.pkl").exists()

    code, out, err = run(capsys, "train", "--data", str(tmp_path / "nope.yml"), "--out", str(out_dir))
    assert code == 2 and "no such file" in err

    bad = tmp_path / "unknown.yml"
    bad.write_text("nlu:\n- intent: chitchat\n  examples: |\n    - hi\n- intent: none\n"
                   "  examples: |\n    - ok\n", encoding="utf-8")
    code, out, err = run(capsys, "train", "--data", str(bad), "--out", str(out_dir), "--folds", "0")
    assert code == 2 and "chitchat" in err
