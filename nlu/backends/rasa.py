"""The Rasa backend: intents from a Rasa server's HTTP API, the rest from gridbot's rules.

* Parsing: ``POST {url}/model/parse`` with ``{"text": ...}``. Rasa's intent and ranking are
  mapped onto gridbot's five intents (anything else, such as ``nlu_fallback``, is ``none``),
  Rasa's entities are kept and gridbot's regex entities added, and ``urgency``/``tier`` are
  computed by :mod:`nlu.attributes` for the intent Rasa chose.
* Training: ``POST {url}/model/train`` with one YAML document holding the pipeline
  configuration and the training data (Rasa 3.1 ``nlu.yml`` format); Rasa answers with the
  model file and keeps a copy in its models directory. ``PUT {url}/model`` with
  ``{"model_file": path}`` then makes the server use it.

The server must run with ``--enable-api`` (and ``--auth-token`` if ``token`` is set).
``aparse`` is for coroutines; ``parse`` may be called from any thread, including one whose
event loop is running: it sends the request on a private event loop thread of its own.
When a ``fallback`` backend is given, a parse that Rasa cannot answer is answered by it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml

from nlu.backends.base import (
    BackendError,
    answer,
    as_text,
    empty_ranking,
    ranking_from,
)
from nlu.normalize import normalize
from nlu.pipeline import INTENTS, NONE
from nlu.rasa_yaml import RASA_VERSION, Example, TrainingData, dumps_rasa
from nlu.traditional import to_simplified

log = logging.getLogger(__name__)

YAML_CONTENT_TYPE = "application/x-yaml"
# Rasa 3's default NLU pipeline settings for Chinese, as in scripts/rasa_config.yml.
DEFAULT_CONFIG: dict[str, Any] = {
    "recipe": "default.v1",
    "language": "zh",
    "assistant_id": "gridbot",
    "pipeline": [
        {"name": "JiebaTokenizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1,
         "max_ngram": 4},
        {"name": "DIETClassifier", "epochs": 100, "entity_recognition": False,
         "constrain_similarities": True},
    ],
    "policies": [],
}
# Characters sent to Rasa: far longer than any real message, and bounded.
MAX_SEND_CHARS = 2000

T = TypeVar("T")


class RasaError(BackendError):
    """Rasa answered with an error, an answer we cannot read, or not at all."""


class _LoopThread:
    """An event loop running in a daemon thread, for calls made from synchronous code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever,
                                        name="gridbot-rasa-client", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise RasaError(f"no answer from Rasa within {timeout:.0f}s") from None

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()


def config_yaml(config: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """A Rasa configuration as a mapping: given, read from a YAML file or text, or the default."""
    if config is None:
        return dict(DEFAULT_CONFIG)
    if isinstance(config, Mapping):
        return dict(config)
    text = Path(config).read_text(encoding="utf-8") if isinstance(config, Path) else config
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise BackendError("a Rasa configuration must be a YAML mapping")
    return loaded


def training_payload(examples: Sequence[Example], config: Mapping[str, Any]) -> str:
    """One YAML document with the configuration, the intents (as a domain) and the NLU data."""
    nlu_yaml = dumps_rasa(TrainingData(examples=list(examples)))
    intents: list[str] = []
    for ex in examples:
        if ex.intent not in intents:
            intents.append(ex.intent)
    head = {key: value for key, value in config.items() if key not in ("nlu", "version")}
    head.setdefault("intents", intents)
    doc = {"version": RASA_VERSION, **head}
    # The nlu block is appended as written by rasa_yaml, so its "- text" lines stay literal.
    return (yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
            + nlu_yaml.split("\n", 1)[1].lstrip("\n"))


class RasaBackend:
    """A client of one Rasa server."""

    name = "rasa"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        train_timeout: float = 3600.0,
        config: Mapping[str, Any] | str | Path | None = None,
        fallback: Any = None,
    ) -> None:
        if not url or not url.startswith(("http://", "https://")):
            raise BackendError(f"the Rasa URL must start with http:// or https://; got {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = float(timeout)
        self.train_timeout = float(train_timeout)
        self.config = config_yaml(config)
        self.fallback = fallback
        self.model_file: str | None = None
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._lock = threading.Lock()
        self._loop_thread: _LoopThread | None = None

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def version(self) -> str:
        if self.model_file:
            return "rasa:" + Path(self.model_file).name.removesuffix(".tar.gz")
        return "rasa"

    def _params(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        params = dict(extra or {})
        if self.token:
            params["token"] = self.token
        return params

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        with self._lock:
            for old in [lp for lp in self._sessions if lp.is_closed()]:
                del self._sessions[old]
            session = self._sessions.get(loop)
            if session is None or session.closed:
                session = aiohttp.ClientSession()
                self._sessions[loop] = session
            return session

    def _runner(self) -> _LoopThread:
        with self._lock:
            if self._loop_thread is None:
                self._loop_thread = _LoopThread()
            return self._loop_thread

    async def _request(self, method: str, path: str, timeout: float, **kwargs: Any) -> Any:
        url = f"{self.url}{path}"
        try:
            async with self._session().request(
                method, url, timeout=aiohttp.ClientTimeout(total=timeout), **kwargs
            ) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    snippet = body[:300].decode("utf-8", "replace")
                    raise RasaError(f"{method} {path}: HTTP {resp.status}: {snippet}")
                return resp, body
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RasaError(f"{method} {path}: {type(exc).__name__}: {exc}") from None

    # -- parsing -----------------------------------------------------------------------------

    async def araw_parse(self, text: str) -> dict[str, Any]:
        """Rasa's own ``/model/parse`` answer for ``text``."""
        _, body = await self._request("POST", "/model/parse", self.timeout,
                                      json={"text": text}, params=self._params())
        try:
            result = json.loads(body)
        except ValueError:
            raise RasaError("/model/parse: the answer is not JSON") from None
        if not isinstance(result, dict):
            raise RasaError("/model/parse: the answer is not a JSON object")
        return result

    def from_rasa(self, text: str, result: Mapping[str, Any]) -> dict[str, Any]:
        """gridbot's answer for ``text`` from Rasa's ``result``."""
        intent_raw = result.get("intent") or {}
        name = intent_raw.get("name") if isinstance(intent_raw, Mapping) else None
        intent = name if name in INTENTS else NONE
        try:
            confidence = float(intent_raw.get("confidence") or 0.0)
        except (TypeError, ValueError, AttributeError):
            confidence = 0.0
        scores: dict[str, float] = {}
        for item in result.get("intent_ranking") or []:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                try:
                    scores[item["name"]] = max(scores.get(item["name"], 0.0),
                                               float(item.get("confidence") or 0.0))
                except (TypeError, ValueError):
                    continue
        scores[intent] = max(scores.get(intent, 0.0), confidence)
        ranking = ranking_from(scores)
        rasa_entities = [
            e for e in result.get("entities") or []
            if isinstance(e, Mapping) and {"entity", "start", "end"} <= set(e)
        ]
        return answer(text, intent, confidence, ranking, model=self.version,
                      extra_entities=rasa_entities)

    async def aparse(self, text: Any) -> dict[str, Any]:
        raw = as_text(text)
        if not normalize(raw):
            return answer(raw, NONE, 1.0, empty_ranking(), model=self.version)
        try:
            # Rasa learnt from simplified characters: it reads 電梯壞了 as 电梯坏了, one
            # character for one, so the offsets of its entities hold for the text as written.
            result = await self.araw_parse(to_simplified(raw[:MAX_SEND_CHARS]))
        except RasaError as exc:
            if self.fallback is None:
                raise
            log.warning("Rasa could not parse a message (%s); using the %s backend", exc,
                        getattr(self.fallback, "name", "fallback"))
            return self.fallback.parse(raw)
        return self.from_rasa(raw, result)

    def parse(self, text: Any) -> dict[str, Any]:
        return self._runner().run(self.aparse(text), timeout=self.timeout + 5)

    def warm(self) -> RasaBackend:
        """Check that the server answers (and load the fallback, if any)."""
        if self.fallback is not None and hasattr(self.fallback, "warm"):
            self.fallback.warm()
        try:
            self._runner().run(self.astatus(), timeout=self.timeout + 5)
        except RasaError as exc:
            log.warning("Rasa server %s: %s", self.url, exc)
        return self

    async def astatus(self) -> dict[str, Any]:
        """Rasa's ``GET /status`` (which model is loaded)."""
        _, body = await self._request("GET", "/status", self.timeout, params=self._params())
        try:
            status = json.loads(body)
        except ValueError:
            raise RasaError("/status: the answer is not JSON") from None
        if isinstance(status, dict) and status.get("model_file"):
            self.model_file = str(status["model_file"])
        return status if isinstance(status, dict) else {}

    # -- training ----------------------------------------------------------------------------

    async def atrain(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Train a model on the server and load it there; returns its file and timings."""
        if not examples:
            raise ValueError("no training examples")
        payload = training_payload(examples, self.config)
        started = time.perf_counter()
        resp, body = await self._request(
            "POST", "/model/train", self.train_timeout,
            data=payload.encode("utf-8"),
            headers={"Content-Type": YAML_CONTENT_TYPE},
            params=self._params({"save_to_default_model_directory": "true",
                                 "force_training": "true"}),
        )
        train_seconds = time.perf_counter() - started
        filename = resp.headers.get("filename")
        if not filename:
            raise RasaError("/model/train: the answer has no 'filename' header")
        model_file = f"models/{Path(filename).name}"
        started = time.perf_counter()
        await self._request("PUT", "/model", self.train_timeout,
                            json={"model_file": model_file}, params=self._params())
        load_seconds = time.perf_counter() - started
        self.model_file = model_file
        return {"version": self.version, "model_file": model_file, "bytes": len(body),
                "examples": len(examples), "train_seconds": train_seconds,
                "load_seconds": load_seconds}

    def train(self, examples: Sequence[Example]) -> dict[str, Any]:
        return self._runner().run(self.atrain(examples), timeout=self.train_timeout + 30)

    # -- closing -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP session of the running event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            session = self._sessions.pop(loop, None)
        if session is not None:
            await session.close()

    def close(self) -> None:
        """Close the private event loop thread and its session."""
        with self._lock:
            runner, self._loop_thread = self._loop_thread, None
        if runner is None:
            return
        session = self._sessions.pop(runner.loop, None)
        if session is not None and runner.loop.is_running():
            try:
                runner.run(session.close(), timeout=5)
            except RasaError:
                pass
        runner.stop()
