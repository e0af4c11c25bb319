"""GRIDBOT_DIGEST_AT: when the morning digest comes, a Beijing time of day, checked at start."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from bot.config import Settings


def test_the_digest_comes_at_half_past_eight_unless_configured(tmp_path: Path) -> None:
    none = tmp_path / "missing.env"
    assert Settings.from_env(environ={}, dotenv=none).digest_at == time(8, 30)
    assert Settings.from_env(environ={"GRIDBOT_DIGEST_AT": ""}, dotenv=none).digest_at == time(8, 30)
    assert Settings.from_env(environ={"GRIDBOT_DIGEST_AT": "07:05"},
                             dotenv=none).digest_at == time(7, 5)
    assert Settings.from_env(environ={"GRIDBOT_DIGEST_AT": " 9:00 "},
                             dotenv=none).digest_at == time(9, 0)
    env = tmp_path / ".env"
    env.write_text("GRIDBOT_DIGEST_AT=23:59\n", encoding="utf-8")
    assert Settings.from_env(environ={}, dotenv=env).digest_at == time(23, 59)


@pytest.mark.parametrize("value", ["24:00", "08:60", "0830", "8.30", "8:3", "早上八点", "08:30:00"])
def test_a_time_that_is_not_hh_mm_stops_gridbot_naming_the_variable(tmp_path: Path,
                                                                    value: str) -> None:
    with pytest.raises(ValueError, match="GRIDBOT_DIGEST_AT"):
        Settings.from_env(environ={"GRIDBOT_DIGEST_AT": value}, dotenv=tmp_path / "missing.env")
