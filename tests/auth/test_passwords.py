"""Passwords, the guard against guessing, session cookies' flags and signatures, and the
`gridbot user` commands."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.auth import passwords
from bot.auth.sessions import COOKIE, Signer, set_session_cookie
from bot.cli import main
from bot.config import Settings
from storage.db import create_engine, session_factory
from storage.models import LoginLink, StaffLogin
from tests.e2e.conftest import load_org


def test_a_password_is_kept_as_a_salted_scrypt_hash() -> None:
    first, second = passwords.hash_password("网格-passw0rd"), passwords.hash_password("网格-passw0rd")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert "网格" not in first and "passw0rd" not in first
    assert passwords.check_password("网格-passw0rd", first)
    assert not passwords.check_password("网格-passw0rd ", first)
    assert not passwords.check_password("anything", None)
    assert not passwords.check_password("anything", "md5$abc")
    assert passwords.password_problem("short") and passwords.password_problem(" padded-pass ")
    assert passwords.password_problem("long enough") is None


def test_an_address_that_keeps_guessing_waits() -> None:
    now = [1000.0]
    guard = passwords.AddressGuard(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert guard.wait("10.0.0.1") == 0
        guard.failed("10.0.0.1")
    assert 59 <= guard.wait("10.0.0.1") <= 60 and guard.wait("10.0.0.2") == 0
    now[0] += 61
    assert guard.wait("10.0.0.1") == 0


def test_the_cookie_is_secure_over_https_and_its_signature_covers_it() -> None:
    signer = Signer(b"s" * 32, 3600)
    value, session = signer.issue(7, "wecom", 1_000_000)
    assert signer.read(value, 1_000_100) == session
    assert signer.read(value, 1_000_000 + 3600) is None  # expired
    assert Signer(b"t" * 32, 3600).read(value, 1_000_100) is None  # another secret
    # the same signature spelt otherwise (the last character's two bits base64 drops) is
    # not the cookie gridbot gave
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(value[-1])
    respelt = value[:-1] + alphabet[last ^ 1]  # 43 characters hold 32 bytes: 2 bits spare
    assert respelt != value and signer.read(respelt, 1_000_100) is None
    for settings, secure in ((Settings(public_url="https://grid.example.cn"), True),
                             (Settings(public_url="http://127.0.0.1:8080"), False)):
        response = web.Response()
        set_session_cookie(response, value, session, settings)
        cookie = response.cookies[COOKIE]
        assert bool(cookie["secure"]) is secure and cookie["httponly"]
        assert cookie["samesite"] == "Lax" and cookie["max-age"] == "3600"
    with pytest.raises(ValueError):
        Settings.from_env({"GRIDBOT_SESSION_HOURS": "forever"})
    assert Settings.from_env({"GRIDBOT_SESSION_HOURS": "8"}).session_hours == 8.0


def test_the_session_secret_is_kept_under_var_when_not_given(tmp_path) -> None:
    from bot.auth.sessions import secret_path, session_secret

    settings = Settings(var_dir=tmp_path)
    made = session_secret(settings)
    assert session_secret(settings) == made and len(made) >= 32
    assert secret_path(settings).stat().st_mode & 0o777 == 0o600
    assert session_secret(Settings(var_dir=tmp_path, session_secret="x" * 40)) == b"x" * 40


def test_gridbot_user_sets_a_password_and_prints_a_link(db_url: str, tmp_path, monkeypatch,
                                                        capsys) -> None:
    asyncio.run(load_org(db_url))
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("GRIDBOT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDBOT_PUBLIC_URL", "https://grid.example.cn")
    monkeypatch.setattr("sys.stdin", io.StringIO("网格-passw0rd\n"))
    assert main(["user", "password", "zhangwg", "--stdin"]) == 0
    assert "password set for zhangwg" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "password", "zhangwg", "--stdin"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("网格-passw0rd\n"))
    assert main(["user", "password", "wxid_nobody", "--stdin"]) == 2
    assert "nobody in the org file" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal, no --stdin
    assert main(["user", "password", "zhangwg"]) == 1
    assert "--stdin" in capsys.readouterr().err
    for hours in ("0", "337"):  # as the API: whole hours, up to 14 days
        assert main(["user", "link", "wxid_wang", "--hours", hours]) == 2
        assert "--hours must be a whole number from 1 to 336" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["user", "link", "wxid_wang", "--hours", "1.5"])
    assert refused.value.code == 2 and "invalid int value: '1.5'" in capsys.readouterr().err
    assert main(["user", "link", "wxid_wang", "--hours", "48"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("https://grid.example.cn/login#link=") and "works once" in out.err

    async def stored() -> tuple[StaffLogin, LoginLink]:
        engine = create_engine(db_url)
        try:
            async with session_factory(engine)() as session:
                login = (await session.execute(select(StaffLogin))).scalar_one()
                link = (await session.execute(select(LoginLink))).scalar_one()
                return login, link
        finally:
            await engine.dispose()

    login, link = asyncio.run(stored())
    assert passwords.check_password("网格-passw0rd", login.password_hash)
    assert login.password_set_by == "command line"
    hours = (link.expires_at - link.created_at).total_seconds() / 3600
    assert round(hours) == 48 and link.expires_at > datetime.now(UTC)


def test_a_local_try_out_prints_a_link_that_signs_in_the_street_admin(db_url: str) -> None:
    from bot.cli_users import demo_sign_in_line
    from tests.e2e.streets import STREET_A

    asyncio.run(load_org(db_url, STREET_A))
    local = Settings(database_url=db_url, simulator=True)
    line = demo_sign_in_line(local, [])
    assert line is not None and "王建国" in line
    assert "http://127.0.0.1:8080/login#link=" in line
    assert demo_sign_in_line(local, ["bridge"]) is None
    assert demo_sign_in_line(Settings(database_url=db_url, simulator=True, host="0.0.0.0"),
                             []) is None
    assert demo_sign_in_line(Settings(database_url=db_url, simulator=False), []) is None
