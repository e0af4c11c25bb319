"""`python -m nlu.fragmentcheck`: chatter read together, counted."""

from __future__ import annotations

import json
from pathlib import Path

from nlu.fragmentcheck import check
from nlu.pipeline import IntentModel


def test_joined_chatter_is_counted_and_a_split_report_is_found(model: IntentModel,
                                                               tmp_path: Path):
    rows = [("好的", "none"), ("谢谢", "none"), ("早上好", "none"), ("哈哈哈", "none"),
            ("好几天了", "none"), ("黑的", "none"), ("电梯坏了", "repair_request")]
    path = tmp_path / "some.jsonl"
    path.write_text("".join(json.dumps({"text": t, "intent": i}, ensure_ascii=False) + "\n"
                            for t, i in rows), encoding="utf-8")
    result = check(model, path, samples=50, seed=1)
    assert result["none_rows"] == 6 and result["fragments"] == 6
    neighbours = result["neighbours_2"]
    assert neighbours["joined"] == 5
    # 好几天了 黑的 is a report split in two, the only pair the model acts on.
    assert neighbours["acted_on"] == 1
    assert result["random_3"]["joined"] == 50
