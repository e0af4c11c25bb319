"""`gridbot serve` shows the admin token once, on the start that generates it; afterwards it
says where the token is kept, and a token from the environment is never printed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from bot.cli import startup_lines
from bot.config import Settings


def serve_output(tmp_path: Path, **env: str) -> str:
    """What `gridbot serve` prints up to the line about the admin token; then it is stopped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}
    environ.update({"GRIDBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}",
                    "GRIDBOT_VAR_DIR": str(tmp_path / "var"), "GRIDBOT_PORT": str(port), **env})
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path,
                               env=environ, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "admin token" in line:
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
    return "".join(lines)


def test_the_token_is_printed_once_when_generated(tmp_path: Path) -> None:
    first = serve_output(tmp_path)
    token = (tmp_path / "var" / "admin_token").read_text().strip()
    assert f"/admin#token={token}" in first
    assert f"admin token (generated, kept in {tmp_path / 'var' / 'admin_token'}): {token}" in first

    second = serve_output(tmp_path)
    assert token not in second
    assert f"admin token in {tmp_path / 'var' / 'admin_token'}" in second

    from_env = serve_output(tmp_path, GRIDBOT_ADMIN_TOKEN="token-from-the-environment")
    assert "token-from-the-environment" not in from_env
    assert "admin token in GRIDBOT_ADMIN_TOKEN" in from_env


def test_the_simulator_line_says_it_needs_the_token_when_channels_are_on() -> None:
    settings = Settings(simulator=True, bridge_secret="s", admin_token="t0ken")
    lines = "\n".join(startup_lines(settings, ["bridge"], "t0ken", False))
    assert "t0ken" not in lines
    assert "/simulator  (needs the admin token)" in lines and "channel bridge: on" in lines
    demo = "\n".join(startup_lines(Settings(simulator=True), [], "generated", True))
    assert "/simulator\n" in demo and "needs" not in demo
