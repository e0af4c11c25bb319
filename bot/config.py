"""Settings read from the environment (and a `.env` file in the working directory).

`Settings.from_env()` is gridbot's one reader of configuration: every variable the README
lists is read here, and the rest of gridbot (the NLU backends and speedups included) takes
its values from a `Settings`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/gridbot.db"


def _env(values: dict[str, str | None], name: str, default: str | None = None) -> str | None:
    value = values.get(name)
    if value is None or value == "":
        return default
    return value


def _flag(value: str | None) -> bool:
    """A yes/no variable that is off unless set to 1, true or yes."""
    return (value or "").strip().lower() in ("1", "true", "yes")


def _nlu_backend(value: str | None) -> str:
    name = (value or "").strip().lower() or "default"
    if name != "default":  # the backends' package loads scikit-learn: only when it matters
        from nlu.backends import BACKENDS

        if name not in BACKENDS:
            raise ValueError(f"GRIDBOT_NLU_BACKEND must be one of {', '.join(BACKENDS)}, "
                             f"got {value!r}")
    return name


LOG_FORMATS = ("text", "json")


def _log_format(value: str | None) -> str:
    name = (value or "").strip().lower() or "text"
    if name not in LOG_FORMATS:
        raise ValueError(f"GRIDBOT_LOG_FORMAT must be text or json, got {value!r}")
    return name


DEFAULT_DIGEST_AT = time(8, 30)
_CLOCK_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _digest_at(value: str | None) -> time:
    """GRIDBOT_DIGEST_AT: a Beijing time of day, HH:MM (24-hour clock)."""
    if value is None:
        return DEFAULT_DIGEST_AT
    match = _CLOCK_TIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"GRIDBOT_DIGEST_AT must be a time of day HH:MM (Asia/Shanghai), "
                         f"got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _trusted_proxies(value: str | None) -> tuple[str, ...]:
    """GRIDBOT_TRUSTED_PROXIES: addresses or networks (comma-separated) of reverse proxies
    whose X-Forwarded-For names the client."""
    networks = []
    for item in (value or "").split(","):
        if item.strip():
            try:
                networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise ValueError("GRIDBOT_TRUSTED_PROXIES must be IP addresses or networks, "
                                 f"comma-separated, got {item.strip()!r}") from None
    return tuple(networks)


def _simulator(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None

    wechat_token: str | None = None
    wechat_aes_key: str | None = None
    wechat_appid: str | None = None
    wechat_secret: str | None = None

    wecom_corp_id: str | None = None
    wecom_agent_id: str | None = None
    wecom_secret: str | None = None
    wecom_token: str | None = None
    wecom_aes_key: str | None = None

    wecom_bot_token: str | None = None
    wecom_bot_aes_key: str | None = None

    bridge_secret: str | None = None
    bridge_outbound_url: str | None = None

    #: Keys that may POST reports to /open311/v2/requests (GRIDBOT_OPEN311_KEYS, comma-separated).
    open311_keys: tuple[str, ...] = ()

    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    wechat_api_base: str = "https://api.weixin.qq.com"

    public_url: str = "http://127.0.0.1:8080"
    var_dir: Path = field(default_factory=lambda: Path("var"))
    simulator: bool | None = True

    nlu_backend: str = "default"
    rasa_url: str | None = None
    rasa_token: str | None = None
    nlu_pure_python: bool = False

    # Staff sign-in: the key that signs session cookies (unset: one generated and kept
    # under var_dir) and how long a session lasts.
    session_secret: str | None = None
    session_hours: float = 12.0

    # Operating it: log lines as readable text or one JSON object each, and the bearer token
    # /metrics asks for (unset: none; keep /metrics off the internet at the proxy instead).
    log_format: str = "text"
    metrics_token: str | None = None
    #: Reverse proxies (not on this machine) whose X-Forwarded-For names the client.
    trusted_proxies: tuple[str, ...] = ()

    # When grid workers, leaders and admins get the morning digest (Asia/Shanghai).
    digest_at: time = DEFAULT_DIGEST_AT

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Environment variables win over the `.env` file."""
        values: dict[str, str | None] = {}
        env_file = dotenv if dotenv is not None else Path(".env")
        if env_file.is_file():
            values.update(dotenv_values(env_file))
        values.update(os.environ if environ is None else environ)

        def get(name: str, default: str | None = None) -> str | None:
            return _env(values, "GRIDBOT_" + name, default)

        port_text = get("PORT", "8080") or "8080"
        hours_text = get("SESSION_HOURS", "12") or "12"
        try:
            session_hours = float(hours_text)
        except ValueError:
            session_hours = -1.0
        if not 0 < session_hours <= 24 * 90:
            raise ValueError(
                f"GRIDBOT_SESSION_HOURS must be a number of hours up to 2160, got {hours_text!r}")
        try:
            port = int(port_text)
        except ValueError as exc:
            raise ValueError(f"GRIDBOT_PORT must be a number, got {port_text!r}") from exc
        settings = cls(
            database_url=get("DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL,
            redis_url=get("REDIS_URL"),
            host=get("HOST", "127.0.0.1") or "127.0.0.1",
            port=port,
            admin_token=get("ADMIN_TOKEN"),
            wechat_token=get("WECHAT_TOKEN"),
            wechat_aes_key=get("WECHAT_AES_KEY"),
            wechat_appid=get("WECHAT_APPID"),
            wechat_secret=get("WECHAT_SECRET"),
            wecom_corp_id=get("WECOM_CORP_ID"),
            wecom_agent_id=get("WECOM_AGENT_ID"),
            wecom_secret=get("WECOM_SECRET"),
            wecom_token=get("WECOM_TOKEN"),
            wecom_aes_key=get("WECOM_AES_KEY"),
            wecom_bot_token=get("WECOM_BOT_TOKEN"),
            wecom_bot_aes_key=get("WECOM_BOT_AES_KEY"),
            bridge_secret=get("BRIDGE_SECRET"),
            bridge_outbound_url=get("BRIDGE_OUTBOUND_URL"),
            open311_keys=tuple(k.strip() for k in (get("OPEN311_KEYS") or "").split(",")
                               if k.strip()),
            wecom_api_base=(get("WECOM_API_BASE") or "https://qyapi.weixin.qq.com").rstrip("/"),
            wechat_api_base=(get("WECHAT_API_BASE") or "https://api.weixin.qq.com").rstrip("/"),
            public_url=(get("PUBLIC_URL") or f"http://{get('HOST', '127.0.0.1')}:{port}").rstrip("/"),
            var_dir=Path(get("VAR_DIR", "var") or "var"),
            simulator=_simulator(get("SIMULATOR")),
            nlu_backend=_nlu_backend(get("NLU_BACKEND")),
            rasa_url=get("RASA_URL"),
            rasa_token=get("RASA_TOKEN"),
            nlu_pure_python=_flag(get("NLU_PURE_PYTHON")),
            session_secret=get("SESSION_SECRET"),
            session_hours=session_hours,
            digest_at=_digest_at(get("DIGEST_AT")),
            log_format=_log_format(get("LOG_FORMAT")),
            metrics_token=get("METRICS_TOKEN"),
            trusted_proxies=_trusted_proxies(get("TRUSTED_PROXIES")),
        )
        if settings.simulator is None:
            # Off by default once any real channel is connected.
            channels_on = (settings.wechat_enabled or settings.wecom_app_enabled
                           or settings.wecom_bot_enabled or settings.bridge_enabled)
            settings = replace(settings, simulator=not channels_on)
        return settings

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token and self.wechat_appid)

    @property
    def wecom_app_enabled(self) -> bool:
        return bool(self.wecom_corp_id and self.wecom_token and self.wecom_aes_key)

    @property
    def wecom_push_enabled(self) -> bool:
        return bool(self.wecom_corp_id and self.wecom_secret and self.wecom_agent_id)

    @property
    def wecom_bot_enabled(self) -> bool:
        return bool(self.wecom_bot_token and self.wecom_bot_aes_key)

    @property
    def bridge_enabled(self) -> bool:
        return bool(self.bridge_secret)
