"""Real services for the fault tests, each private to the test run and restartable:
a PostgreSQL cluster, a Redis server and gridbot itself as `gridbot serve` processes.

Nothing here touches the machine's shared PostgreSQL (5432) or Redis (6379).
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class ServiceMissing(RuntimeError):
    """A program a fault test needs is not installed on this machine."""


# ---------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries installed (Debian layout)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise ServiceMissing("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    if shutil.which("runuser") is None:
        raise ServiceMissing("runuser is needed to run PostgreSQL as the postgres user")
    return Path(candidates[-1]).parent


class PrivatePostgres:
    """A PostgreSQL cluster of our own: initdb on a free port in a directory of its own,
    run as the `postgres` user (PostgreSQL refuses root), trust authentication on loopback.

    The directory is made under /tmp rather than pytest's temporary directory because
    pytest's (`/tmp/pytest-of-root`) is closed to other users.
    """

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="gridbot-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.running = False

    def _as_postgres(self, *args: str, check: bool = True,
                     timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(command, check=check, capture_output=True, text=True,
                              timeout=timeout, cwd=self.root)

    def init(self) -> None:
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# gridbot fault tests\n"
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "max_connections = 200\n"
                # Durability against an OS crash is not under test; a gridbot crash is.
                "fsync = off\n"
                "full_page_writes = off\n"
            )

    def start(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                          "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` disconnects clients and shuts down cleanly,
        `immediate` is as abrupt as a crash."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                          "-t", "60", "stop", check=False)
        self.running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def execute(self, sql: str) -> None:
        connection = await asyncpg.connect(self.dsn(), timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def cleanup(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------- Redis


class PrivateRedis:
    """`redis-server` on a free port, keeping nothing on disk: a restart empties it."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceMissing("redis-server is not installed")
        self.binary = binary
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self._pong():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer in {timeout}s: {self.tail()}")
            time.sleep(0.05)

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def freeze(self) -> None:
        """Stop the server without closing anything (SIGSTOP): connections are taken and
        commands sent, but nothing answers — a hung host, not a refused connection."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a frozen server cannot hear terminate
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, lines: int = 20) -> str:
        path = self.root / "redis.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


# ---------------------------------------------------------------- gridbot


def gridbot_command(*args: str) -> list[str]:
    """`gridbot ARGS` with the interpreter running the tests (the project's .venv)."""
    return [sys.executable, "-m", "bot.cli", *args]


def clean_environ() -> dict[str, str]:
    """The test's environment without any GRIDBOT_ variable (each process gets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}


def code_environ() -> dict[str, str]:
    """PYTHONPATH naming the tree these tests belong to, so that processes run its gridbot
    (not whatever copy is installed)."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def run_cli(env: Mapping[str, str], *args: str, cwd: Path | None = None) -> str:
    """Run a `gridbot` command to completion; its stdout, or an error with its output."""
    result = subprocess.run(gridbot_command(*args),
                            env={**clean_environ(), **code_environ(), **env},
                            capture_output=True, text=True, timeout=120,
                            cwd=cwd or ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"gridbot {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stdout}\n{result.stderr}")
    return result.stdout


class GridbotProcess:
    """One `gridbot serve` process with an environment of its own, its output kept in
    `<log_dir>/<name>.log` across restarts."""

    def __init__(self, name: str, env: Mapping[str, str], workdir: Path, log_dir: Path,
                 role: str = "all") -> None:
        self.name = name
        self.role = role
        self.port = int(env["GRIDBOT_PORT"])
        self.env = {**clean_environ(), **code_environ(), "PYTHONUNBUFFERED": "1", **env}
        self.workdir = workdir
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _note(self, text: str) -> None:
        with open(self.log_path, "a") as log:
            log.write(f"---- gridbot-faults: {text} at {time.strftime('%H:%M:%S')}\n")

    def spawn(self) -> None:
        self.starts += 1
        self._note(f"start #{self.starts}")
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(gridbot_command("serve", "--role", self.role),
                                        env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()

    async def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if not self.alive():
                    raise RuntimeError(f"gridbot {self.name} exited:\n{self.tail()}")
                try:
                    async with session.get(self.url + "/healthz",
                                           timeout=aiohttp.ClientTimeout(total=2)) as answer:
                        if answer.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gridbot {self.name} not healthy in {timeout}s:\n"
                                       f"{self.tail()}")
                await asyncio.sleep(0.1)

    async def start(self, timeout: float = 60.0) -> None:
        self.spawn()
        await self.wait_healthy(timeout)

    async def _wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.process is not None and self.process.poll() is None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def kill9(self) -> None:
        if self.alive():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            await self._wait_exit(10)
            self._note("killed with SIGKILL")

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (aiohttp shuts down cleanly), then SIGKILL if it does not exit in time."""
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            if not await self._wait_exit(timeout):
                await self.kill9()
            self._note("stopped")

    async def restart(self, timeout: float = 60.0) -> None:
        await self.stop()
        await self.start(timeout)

    def close(self) -> None:
        """Synchronous last resort for fixtures: kill whatever is still running."""
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])
