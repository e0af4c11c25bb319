"""JSON columns keep Chinese text as UTF-8 (three bytes a character, not the six of an
escape), read back what was written, and refuse what JSON cannot hold, on both databases."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from storage.db import create_engine, session_factory
from storage.models import Setting


async def test_chinese_text_is_stored_as_written_and_read_back(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            session.add(Setting(key="probe", value={
                "text": "3号楼电梯又坏了", 7: "a number as key",
                "score": np.float64(0.5), "nowhere": float("nan")}))
        async with sessions() as session:
            value = await session.scalar(select(Setting.value).where(Setting.key == "probe"))
            stored = await session.scalar(
                text("SELECT CAST(value AS TEXT) FROM settings WHERE key = 'probe'"))
        assert value == {"text": "3号楼电梯又坏了", "7": "a number as key", "score": 0.5,
                         "nowhere": None}
        assert "3号楼电梯又坏了" in stored and "\\u" not in stored, stored
    finally:
        await engine.dispose()


async def test_a_value_json_cannot_hold_is_refused_and_nothing_is_written(
        db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        sessions = session_factory(engine)
        with pytest.raises(StatementError, match="not JSON serializable"):
            async with sessions() as session, session.begin():
                session.add(Setting(key="probe", value={"buildings": {1, 2}}))
        async with sessions() as session:
            assert await session.scalar(select(Setting.value)) is None
    finally:
        await engine.dispose()
