"""deploy/ holds together: the Compose file's services, images, ports and dependencies, the
proxy in front of every web process, Prometheus scraping every process, the image's
Dockerfile, and the systemd units (checked by `systemd-analyze verify` where it exists).
Docker itself cannot run here, so these read the files as Docker, Caddy, Prometheus and
systemd would."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
GRIDBOT_SERVICES = {"migrate", "web", "worker"}


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:?error} and ${NAME:-default}, from `values`."""

    def value(match: re.Match[str]) -> str:
        name, how, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if values.get(name):
            return values[name]
        assert how != ":?", f"{name} is required: {rest}"
        return rest if how == ":-" else ""

    return re.sub(r"\$\{([A-Z_]+)(:\?|:-)?([^}]*)\}", value, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The Compose file as `docker compose config` reads it with env.example filled in."""
    example = {name: value or f"example-{name.lower()}"
               for name, value in env_example(DEPLOY / "env.example").items()}
    return yaml.safe_load(interpolate((DEPLOY / "compose.yaml").read_text(), example))


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def env_example(path: Path) -> dict[str, str]:
    """The variables an example file sets (uncommented `NAME=value` lines)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if re.match(r"^[A-Z_]+=", line))
    return {name: value for name, value in pairs}


def test_gridbot_runs_from_one_image_in_three_roles(compose: dict[str, Any]):
    built = {name for name, s in services(compose).items()
             if (s.get("build") or {}).get("dockerfile") == "deploy/Dockerfile"}
    assert built == GRIDBOT_SERVICES
    assert {services(compose)[name]["image"] for name in built} == {"gridbot:latest"}
    assert services(compose)["migrate"]["command"] == ["migrate"]
    for role in ("web", "worker"):
        command = services(compose)[role]["command"]
        assert command[:2] == ["serve", "--no-migrate"]  # migrate runs once, alone
        assert command[command.index("--role") + 1] == role
        assert services(compose)[role]["deploy"]["replicas"] >= 1


def test_migrate_runs_once_before_everything_else(compose: dict[str, Any]):
    migrate = services(compose)["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "healthcheck" in services(compose)["postgres"]
    for role in ("web", "worker"):
        depends = services(compose)[role]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["redis"] == {"condition": "service_healthy"}


def test_only_the_proxy_is_published(compose: dict[str, Any]):
    published = {name: s["ports"] for name, s in services(compose).items() if s.get("ports")}
    assert set(published) <= {"proxy", "prometheus"}
    assert {str(p).split(":")[0] for p in published["proxy"]} == {"80", "443"}
    # Prometheus, when it runs, only on the machine itself.
    assert all(str(p).startswith("127.0.0.1:") for p in published.get("prometheus", []))
    for name in ("postgres", "redis", "migrate", "web", "worker"):
        assert "ports" not in services(compose)[name], name


def test_gridbot_reaches_postgres_and_redis_by_their_service_names(compose: dict[str, Any]):
    postgres = env_of(services(compose)["postgres"])
    for name in GRIDBOT_SERVICES:
        env = env_of(services(compose)[name])
        database = urlsplit(env["GRIDBOT_DATABASE_URL"])
        assert database.scheme == "postgresql+asyncpg"
        assert database.hostname == "postgres" and "postgres" in services(compose)
        assert database.username == postgres["POSTGRES_USER"]
        assert database.path == "/" + postgres["POSTGRES_DB"]
        assert database.password == "example-postgres_password"
        assert urlsplit(env["GRIDBOT_REDIS_URL"]).hostname == "redis"
        assert env["GRIDBOT_HOST"] == "0.0.0.0"  # reachable from the proxy and Prometheus
        assert env["GRIDBOT_PUBLIC_URL"].startswith("https://")


def test_every_web_process_is_behind_the_proxy(compose: dict[str, Any]):
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    port = env_of(services(compose)["web"])["GRIDBOT_PORT"]
    # Caddy asks Docker's DNS for every replica of the web service (so --scale web=N).
    [(name, upstream_port)] = re.findall(r"^\s*dynamic a (\S+) (\d+)", caddyfile, re.M)
    assert (name, upstream_port) == ("web", port)
    assert "web" in services(compose)["proxy"]["depends_on"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services(compose)["proxy"]["volumes"]
    assert "{$GRIDBOT_DOMAIN}" in caddyfile and "GRIDBOT_DOMAIN" in env_of(
        services(compose)["proxy"])
    # Metrics and probes stay inside.
    [internal] = re.findall(r"^\s*@internal path (.+)$", caddyfile, re.M)
    assert set(internal.split()) == {"/metrics", "/livez", "/readyz", "/healthz"}
    assert re.search(r"handle @internal \{\s*respond 404\s*\}", caddyfile)
    # gridbot trusts the proxy's X-Forwarded-For (sign-in throttling), and only its.
    proxy_address = services(compose)["proxy"]["networks"]["gridbot"]["ipv4_address"]
    for name in GRIDBOT_SERVICES:
        assert env_of(services(compose)[name])["GRIDBOT_TRUSTED_PROXIES"] == proxy_address
    [subnet] = [c["subnet"] for c in compose["networks"]["gridbot"]["ipam"]["config"]]
    import ipaddress

    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)


def test_prometheus_scrapes_every_process(compose: dict[str, Any]):
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    scraped = {}
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                scraped[name] = str(sd["port"])
    for role in ("web", "worker"):
        assert scraped[role] == env_of(services(compose)[role])["GRIDBOT_PORT"]
    prometheus = services(compose)["prometheus"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert prometheus["profiles"] == ["monitoring"]


def test_the_environment_files_set_what_gridbot_and_compose_read(compose: dict[str, Any]):
    text = (DEPLOY / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = env_example(DEPLOY / "env.example")
    assert required <= set(example), required - set(example)
    config = (ROOT / "bot" / "config.py").read_text()
    known = set(re.findall(r'get\("([A-Z_]+)"', config))
    named = set(re.findall(r"\bGRIDBOT_([A-Z_]+)", text + "\n".join(
        p.read_text() for p in (DEPLOY / "env.example", DEPLOY / "systemd" /
                                "gridbot.env.example"))))
    named -= {"DOMAIN"}  # the compose file's own, for the proxy
    assert named <= known, named - known  # no variable gridbot would ignore


def test_the_dockerfile_builds_the_project_with_its_extension(compose: dict[str, Any]):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["python:3.11-slim-bookworm"] * 2
    copied = [src for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M)
              for src in line.split()[:-1]]
    for source in copied:
        assert (ROOT / source).exists(), source
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]
                ["include"]}
    assert packages <= set(copied)  # every package of the project is in the image
    assert "gcc" in dockerfile and 'import nlu._speedups' in dockerfile
    assert re.search(r'^ENTRYPOINT \["gridbot"\]', dockerfile, re.M)
    [exposed] = re.findall(r"^EXPOSE (\d+)", dockerfile, re.M)
    assert exposed == env_of(services(compose)["web"])["GRIDBOT_PORT"]
    assert "/readyz" in dockerfile  # the health check the proxy waits for
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".git", "var", ".env"} <= set(ignore)


UNITS = ("gridbot-migrate.service", "gridbot-web@.service", "gridbot-worker@.service")


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def test_the_systemd_units_run_each_role():
    migrate = unit("gridbot-migrate.service")["Service"]
    assert migrate["Type"] == "oneshot" and migrate["ExecStart"].endswith("gridbot migrate")
    for role in ("web", "worker"):
        service = unit(f"gridbot-{role}@.service")
        assert service["Service"]["ExecStart"].endswith(
            f"gridbot serve --no-migrate --role {role}")
        assert service["Unit"]["Requires"] == "gridbot-migrate.service"
        assert "gridbot-migrate.service" in service["Unit"]["After"]
        assert service["Service"]["Restart"] == "always"
        assert service["Install"]["WantedBy"] == "multi-user.target"
    example = env_example(DEPLOY / "systemd" / "gridbot.env.example")
    assert {"GRIDBOT_DATABASE_URL", "GRIDBOT_REDIS_URL", "GRIDBOT_ADMIN_TOKEN",
            "GRIDBOT_SESSION_SECRET"} <= set(example)
    for name in UNITS:
        assert unit(name)["Service"]["EnvironmentFile"] == "/etc/gridbot/gridbot.env"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_units(tmp_path: Path):
    # The units name /opt/gridbot/bin/gridbot; verify checks that it exists, so the copies
    # name this tree's gridbot instead.
    gridbot = Path(sys.executable).parent / "gridbot"
    assert gridbot.exists()
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace("/opt/gridbot/bin/gridbot", str(gridbot)))
    for instance in ("gridbot-migrate.service", "gridbot-web@8081.service",
                     "gridbot-worker@9101.service"):
        result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / instance)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "gridbot" not in result.stderr, result.stderr  # no warning about our units


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed here")
def test_caddy_reads_the_caddyfile(compose: dict[str, Any]):
    result = subprocess.run(
        ["caddy", "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True, text=True, timeout=60,
        env={"GRIDBOT_DOMAIN": "gridbot.example.org", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    upstreams = re.findall(r'"dynamic_upstreams":\{[^}]*\}', result.stdout)
    assert upstreams and '"name":"web"' in upstreams[0]
    assert f'"port":"{env_of(services(compose)["web"])["GRIDBOT_PORT"]}"' in upstreams[0]
