"""`Settings.from_env()` is gridbot's one reader of configuration: what a `.env` file says
reaches the settings, the NLU backend, the runtime's model and every `gridbot` command, and the
environment wins over it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser, main
from bot.config import Settings
from nlu import speedups
from nlu.backends import load_backend
from nlu.backends.default import DefaultBackend
from nlu.backends.rasa import RasaBackend
from nlu.service import ACTIVE

RASA_URL = "http://127.0.0.1:9"  # nothing listens there: the fallback answers


def write_env(directory: Path, **values: str) -> Path:
    path = directory / ".env"
    path.write_text("".join(f"GRIDBOT_{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def clean_environ(**overrides: str) -> dict[str, str]:
    """This process's environment without the caller's GRIDBOT_ settings."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}
    environ.update(overrides)
    return environ


@pytest.fixture()
def nlu_env(tmp_path: Path) -> Path:
    return write_env(tmp_path, NLU_BACKEND="rasa", RASA_URL=RASA_URL, RASA_TOKEN="sesame",
                     VAR_DIR=str(tmp_path / "state"), NLU_PURE_PYTHON="1")


@pytest.fixture()
def no_gridbot_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("GRIDBOT_")]:
        monkeypatch.delenv(name)


# --- Settings ---------------------------------------------------------------------------------


def test_dotenv_reaches_the_nlu_settings(nlu_env: Path, tmp_path: Path) -> None:
    settings = Settings.from_env(environ={}, dotenv=nlu_env)
    assert settings.nlu_backend == "rasa"
    assert settings.rasa_url == RASA_URL
    assert settings.rasa_token == "sesame"
    assert settings.var_dir == tmp_path / "state"
    assert settings.nlu_pure_python is True


def test_the_environment_wins_over_dotenv(nlu_env: Path, tmp_path: Path) -> None:
    settings = Settings.from_env(
        environ={"GRIDBOT_NLU_BACKEND": "default", "GRIDBOT_NLU_PURE_PYTHON": "0",
                 "GRIDBOT_RASA_URL": "http://127.0.0.1:5005", "GRIDBOT_VAR_DIR": "elsewhere"},
        dotenv=nlu_env)
    assert settings.nlu_backend == "default"
    assert settings.nlu_pure_python is False
    assert settings.rasa_url == "http://127.0.0.1:5005"
    assert settings.rasa_token == "sesame"  # not overridden: from .env
    assert settings.var_dir == Path("elsewhere")


def test_nlu_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={}, dotenv=tmp_path / "absent.env")
    assert (settings.nlu_backend, settings.rasa_url, settings.rasa_token) == ("default", None, None)
    assert settings.nlu_pure_python is False
    assert settings.var_dir == Settings().var_dir
    assert Settings.from_env(environ={"GRIDBOT_NLU_BACKEND": " "},
                             dotenv=tmp_path / "absent.env").nlu_backend == "default"


@pytest.mark.parametrize("value,expected", [
    ("1", True), ("true", True), ("YES", True), (" yes ", True),
    ("0", False), ("false", False), ("no", False), ("", False), ("2", False),
])
def test_pure_python_flag(tmp_path: Path, value: str, expected: bool) -> None:
    settings = Settings.from_env(environ={"GRIDBOT_NLU_PURE_PYTHON": value},
                                 dotenv=tmp_path / "absent.env")
    assert settings.nlu_pure_python is expected


def test_backend_name_is_checked(tmp_path: Path) -> None:
    absent = tmp_path / "absent.env"
    assert Settings.from_env(environ={"GRIDBOT_NLU_BACKEND": " Rasa "},
                             dotenv=absent).nlu_backend == "rasa"
    with pytest.raises(ValueError, match="GRIDBOT_NLU_BACKEND must be one of default, "
                                         "embedding, rasa, got 'spacy'"):
        Settings.from_env(environ={"GRIDBOT_NLU_BACKEND": "spacy"}, dotenv=absent)
    with pytest.raises(ValueError, match="GRIDBOT_NLU_BACKEND"):
        Settings.from_env(environ={}, dotenv=write_env(tmp_path, NLU_BACKEND="bogus"))


# --- what takes its values from Settings ------------------------------------------------------


def test_dotenv_reaches_the_backend(nlu_env: Path, tmp_path: Path) -> None:
    backend = load_backend(Settings.from_env(environ={}, dotenv=nlu_env))
    assert isinstance(backend, RasaBackend)
    assert backend.url == RASA_URL
    assert backend.token == "sesame"
    assert isinstance(backend.fallback, DefaultBackend)
    assert backend.fallback.model_dir == tmp_path / "state" / "models"


def test_the_runtime_serves_the_configured_backend(nlu_env: Path, tmp_path: Path) -> None:
    from bot.runtime import Runtime

    settings = Settings.from_env(
        environ={"GRIDBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}"},
        dotenv=nlu_env)
    runtime = Runtime(settings)
    try:
        backend = runtime.nlu()  # warmed: the fallback's model is trained under the var dir
        assert isinstance(backend, RasaBackend) and backend.url == RASA_URL
        assert (tmp_path / "state" / "models" / ACTIVE).is_file()
        backend.close()
    finally:
        asyncio.run(runtime.engine.dispose())

    default = Runtime(Settings(database_url=settings.database_url, var_dir=tmp_path / "state"))
    try:
        model = default.nlu()
        assert model.version == backend.fallback.version
        assert hasattr(model, "to_bytes")  # gridbot's own model, followed in the database
    finally:
        asyncio.run(default.engine.dispose())


def test_command_line_defaults_come_from_the_var_dir(tmp_path: Path) -> None:
    parser = build_parser(Settings(var_dir=tmp_path / "state"))
    models = str(tmp_path / "state" / "models")
    assert parser.parse_args(["nlu", "parse", "你好"]).model_dir == models
    assert parser.parse_args(["nlu", "train"]).out == models
    evaluation = parser.parse_args(["nlu", "eval", "x.yml"])
    assert evaluation.model_dir == models
    assert evaluation.eval_base == str(tmp_path / "state" / "nlu" / "eval")
    assert parser.parse_args(["migrate"]).settings.var_dir == tmp_path / "state"


# --- the gridbot command ----------------------------------------------------------------------


PROBE = """
import json, runpy, sys
sys.argv = ["gridbot", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("bot.cli", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
from nlu import features
built = features._segmenter
print(json.dumps({"segmenter_compiled": None if built is None else built.compiled is not None}),
      file=sys.stderr)
sys.exit(code)
"""


def probe(cwd: Path, *argv: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """`python -m bot.cli ARGV` in ``cwd``, telling afterwards (on stderr's last line) whether
    the segmenter the command built uses the compiled speedups."""
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=clean_environ(**env), check=False)
    return done, json.loads(done.stderr.strip().splitlines()[-1])


def test_gridbot_command_honours_dotenv(tmp_path: Path) -> None:
    write_env(tmp_path, NLU_BACKEND="rasa", RASA_URL=RASA_URL, VAR_DIR="state",
              NLU_PURE_PYTHON="1")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "nlu", "parse", "你好", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_environ(), check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == "你好"
    assert (tmp_path / "state" / "models" / ACTIVE).is_file()  # trained under the var dir
    assert not (tmp_path / "var").exists()

    done, seen = probe(tmp_path, "nlu", "parse", "你好", "--json")
    assert done.returncode == 0, done.stderr
    assert seen == {"segmenter_compiled": False}  # GRIDBOT_NLU_PURE_PYTHON=1 from .env
    if speedups.built is None:
        pytest.skip("the compiled speedups were not built: nothing to switch off")
    done, seen = probe(tmp_path, "nlu", "parse", "你好", "--json", GRIDBOT_NLU_PURE_PYTHON="0")
    assert done.returncode == 0, done.stderr
    assert seen == {"segmenter_compiled": True}  # the environment wins over .env


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple]:
    """Every command and sub-command of ``parser``, as argv prefixes."""
    found: list[tuple] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found += _commands(sub, (*prefix, name))
    return found


def test_a_bad_backend_in_dotenv_stops_every_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_gridbot_environ: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    write_env(tmp_path, NLU_BACKEND="bogus")
    monkeypatch.chdir(tmp_path)
    commands = _commands(build_parser())
    assert ("serve",) in commands and ("nlu", "parse") in commands
    for argv in [*commands, ("--help",)]:
        with pytest.raises(SystemExit) as stopped:
            main(list(argv))
        assert "GRIDBOT_NLU_BACKEND" in str(stopped.value.code), argv
    assert capsys.readouterr().out == ""  # stopped before any command ran

    done = subprocess.run([sys.executable, "-m", "bot.cli", "migrate"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=clean_environ(),
                          check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "gridbot: GRIDBOT_NLU_BACKEND must be one of default, embedding, rasa, got 'bogus'")
    assert not (tmp_path / "var").exists()
