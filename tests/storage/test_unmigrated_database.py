"""A command run on a database that was never migrated says to migrate it, on SQLite and
PostgreSQL, rather than printing the driver's "no such table"."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.storage.conftest import _admin, _sqlalchemy_url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without gridbot's tables."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}"
        return
    request.getfixturevalue("pg_template")  # the server is there (or the test fails in CI)
    database = f"gridbot_test_empty_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    try:
        yield _sqlalchemy_url(database)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.mark.parametrize("command", [["org", "export"], ["report", "--format", "json"]])
def test_a_command_on_a_database_never_migrated_says_to_migrate(
        empty_url: str, command: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", empty_url)
    monkeypatch.setenv("GRIDBOT_VAR_DIR", str(tmp_path / "var"))
    assert main(command) == 1
    said = capsys.readouterr().err
    assert "has no gridbot tables yet: run `gridbot migrate` first" in said
    assert "no such table" not in said and "does not exist" not in said
