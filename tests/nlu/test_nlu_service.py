from __future__ import annotations

import json
from pathlib import Path

from nlu.pipeline import IntentModel
from nlu.service import ACTIVE, PACKAGED, get_model, train_and_save


def test_get_model_loads_saved_model(model_dir: Path, fresh_cache: None) -> None:
    saved = IntentModel.load(model_dir / ACTIVE)
    model = get_model(model_dir)
    assert model.version == saved.version
    assert model.source == PACKAGED
    assert get_model(model_dir) is model


def test_get_model_retrains_over_junk(tmp_path: Path, model_dir: Path, fresh_cache: None) -> None:
    (tmp_path / ACTIVE).write_bytes(b"not a pickle")
    model = get_model(tmp_path)
    assert model.version == IntentModel.load(model_dir / ACTIVE).version
    assert IntentModel.load(tmp_path / ACTIVE).version == model.version


def test_train_and_save_custom_data(tmp_path: Path, fresh_cache: None) -> None:
    data = tmp_path / "small.jsonl"
    rows = [("电梯坏了", "repair_request"), ("楼道灯不亮", "repair_request"),
            ("早上好", "none"), ("谢谢", "none"), ("半夜装修太吵", "complaint"),
            ("狗屎没人捡", "complaint")]
    data.write_text("\n".join(json.dumps({"text": t, "intent": i}, ensure_ascii=False)
                              for t, i in rows), encoding="utf-8")
    model, result = train_and_save(data, tmp_path / "models", folds=0)
    assert result["examples"] == 6
    assert result["version"] == model.version
    assert "macro_f1" not in result
    assert (tmp_path / "models" / ACTIVE).exists()
    # a model trained from an admin's own data stays active
    assert get_model(tmp_path / "models") is model
    from nlu.service import reset_cache

    reset_cache()
    assert get_model(tmp_path / "models").version == model.version


def test_the_counts_of_a_training_report_add_up(tmp_path: Path, fresh_cache: None) -> None:
    """Examples read, examples trained on, and the count per intent tell one story: an
    example with no words once normalised is read but not trained on."""
    data = tmp_path / "small.jsonl"
    rows = [("电梯坏了", "repair_request"), ("楼道灯不亮", "repair_request"),
            ("早上好", "none"), ("👍", "none"), ("半夜装修太吵", "complaint")]
    data.write_text("\n".join(json.dumps({"text": t, "intent": i}, ensure_ascii=False)
                              for t, i in rows), encoding="utf-8")
    _, result = train_and_save(data, tmp_path / "models", folds=0)
    assert result["examples"] == sum(result["intents"].values()) == 5
    assert result["used"] == 4
