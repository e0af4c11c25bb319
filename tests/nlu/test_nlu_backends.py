from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml
from aiohttp import web

from nlu.backends import (
    Backend,
    BackendError,
    backend_from_config,
    load_backend,
)
from nlu.backends import embedding as embedding_mod
from nlu.backends.default import DefaultBackend
from nlu.backends.embedding import EmbeddingBackend
from nlu.backends.rasa import RasaBackend, RasaError, training_payload
from nlu.pipeline import INTENTS, IntentModel
from nlu.rasa_yaml import Example, loads_rasa
from nlu.service import packaged_examples

KEYS = ["text", "intent", "intent_ranking", "entities", "urgency", "tier", "danger", "model"]
HOSTILE = [
    "",
    "   \n\t ",
    "楼道灯坏了，" * 1666 + "电梯",
    "😀😂👍🏻🙏❤️🔥" * 20,
    "[捂脸][强]",
    "3号楼 elevator 坏了 Лифт сломан エレベーター 고장 ١٢٣",
    "电梯\x00坏\x07了\u200b\u202e\ufeff\x1b[31m",
    "电梯\ud800坏了",
    None,
    12345,
]
EMBEDDING_MISSING = "the optional embedding extra is not installed (pip install -e '.[embedding]')"


def check_shape(result: dict[str, Any]) -> None:
    assert list(result) == KEYS
    assert result["intent"]["name"] in INTENTS
    assert 0.0 <= result["intent"]["confidence"] <= 1.0
    assert sorted(r["name"] for r in result["intent_ranking"]) == sorted(INTENTS)
    confidences = [r["confidence"] for r in result["intent_ranking"]]
    assert confidences == sorted(confidences, reverse=True)
    assert result["urgency"] in (None, "normal", "emergency")
    assert result["tier"] in (None, "micro", "small", "medium", "big")
    json.dumps(result, ensure_ascii=False)


def stratified_slice(per_intent: int) -> list[Example]:
    """About ``per_intent`` examples of each intent, spread over the packaged data."""
    by_intent: dict[str, list[Example]] = {}
    for ex in packaged_examples():
        by_intent.setdefault(ex.intent, []).append(ex)
    out: list[Example] = []
    for items in by_intent.values():
        step = max(1, len(items) // per_intent)
        out.extend(items[::step][:per_intent])
    return out


@pytest.fixture(scope="module")
def subset() -> list[Example]:
    return stratified_slice(30)


# --- configuration ------------------------------------------------------------------------


def test_default_backend_wraps_the_active_model(model_dir: Path, model: IntentModel) -> None:
    backend = backend_from_config("default", {"model_dir": model_dir})
    assert isinstance(backend, DefaultBackend) and isinstance(backend, Backend)
    assert backend.warm() is backend
    text = "5号楼电梯里有人被困住了"
    assert backend.parse(text) == model.parse(text)
    assert asyncio.run(backend.aparse(text)) == model.parse(text)
    assert backend.version == model.version


def test_backend_chosen_by_configuration_alone(monkeypatch: pytest.MonkeyPatch,
                                               model_dir: Path) -> None:
    # nlu never reads the environment: variables set there change nothing
    monkeypatch.setenv("GRIDBOT_NLU_BACKEND", "rasa")
    monkeypatch.setenv("GRIDBOT_RASA_URL", "http://127.0.0.1:5005")
    monkeypatch.setenv("GRIDBOT_RASA_TOKEN", "from-the-environment")
    assert isinstance(backend_from_config(options={"model_dir": model_dir}), DefaultBackend)
    with pytest.raises(BackendError, match="GRIDBOT_RASA_URL"):  # the message names it
        backend_from_config("rasa", {"model_dir": model_dir})
    backend = backend_from_config("rasa", {"rasa_url": "http://127.0.0.1:5005/",
                                           "model_dir": model_dir})
    assert isinstance(backend, RasaBackend)
    assert backend.url == "http://127.0.0.1:5005"
    assert backend.token is None
    assert isinstance(backend.fallback, DefaultBackend)
    assert backend.fallback.model_dir == model_dir
    assert isinstance(backend_from_config("Default ", {"model_dir": model_dir}), DefaultBackend)
    with pytest.raises(BackendError, match="GRIDBOT_NLU_BACKEND must be one of "
                                           "default, embedding, rasa"):
        backend_from_config("spacy")
    with pytest.raises(BackendError, match="http://"):
        backend_from_config("rasa", {"rasa_url": "127.0.0.1:5005"})


def test_load_backend_from_settings_like(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRIDBOT_NLU_BACKEND", "rasa")  # never read by nlu
    monkeypatch.setenv("GRIDBOT_RASA_URL", "http://127.0.0.1:7")
    settings = SimpleNamespace(var_dir=tmp_path / "var")
    backend = load_backend(settings)
    assert isinstance(backend, DefaultBackend)
    assert backend.model_dir == tmp_path / "var" / "models"

    backend = load_backend(SimpleNamespace(var_dir=tmp_path, nlu_backend="rasa",
                                           rasa_url="http://127.0.0.1:9", rasa_token="t"))
    assert isinstance(backend, RasaBackend) and backend.url == "http://127.0.0.1:9"
    assert backend.token == "t"
    assert backend.fallback.model_dir == tmp_path / "models"
    with pytest.raises(BackendError, match="GRIDBOT_RASA_URL"):
        load_backend(SimpleNamespace(var_dir=tmp_path, nlu_backend="rasa"))
    assert isinstance(load_backend(None), DefaultBackend)  # nothing given: the default

    backend = load_backend({"GRIDBOT_NLU_BACKEND": "rasa", "GRIDBOT_RASA_URL": "http://h:1",
                            "model_dir": str(tmp_path)})
    assert isinstance(backend, RasaBackend) and backend.url == "http://h:1"
    backend = load_backend({"nlu_backend": "rasa", "rasa_url": "http://h:2",
                            "var_dir": str(tmp_path / "v")})
    assert backend.url == "http://h:2" and backend.fallback.model_dir == tmp_path / "v" / "models"
    assert isinstance(load_backend({}), DefaultBackend)  # a mapping is the whole configuration


def test_embedding_backend_needs_a_model_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding_mod, "available", lambda: True)
    with pytest.raises(BackendError, match="model directory"):
        backend_from_config("embedding")


def test_embedding_backend_needs_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding_mod, "available", lambda: False)
    with pytest.raises(BackendError, match=r"pip install -e '\.\[embedding\]'"):
        backend_from_config("embedding")


# --- the default backend -------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_default_backend_survives_hostile_input(model_dir: Path, text: Any) -> None:
    backend = DefaultBackend(model_dir=model_dir)
    check_shape(backend.parse(text))


def test_default_backend_feature_variants(subset: list[Example]) -> None:
    for features in ("words", "chars", "both"):
        backend = DefaultBackend(features=features)
        figures = backend.train(subset)
        assert figures["examples"] == len(subset)
        result = backend.parse("3号楼电梯坏了，快来修")
        check_shape(result)
        assert result["intent"]["name"] == "repair_request"
        assert result["entities"][0]["entity"] == "building"
    with pytest.raises(BackendError):
        DefaultBackend(features="nope")
    with pytest.raises(ValueError, match="two intents"):
        DefaultBackend(features="words").train([Example("电梯坏了", "repair_request")])


# --- the embedding backend, with a stand-in encoder (always runs) ---------------------------


def fake_encoder(texts: list[str]) -> np.ndarray:
    """Bag of hashed characters, L2-normalised: enough to separate simple intents."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for ch in text:
            out[row, int(hashlib.md5(ch.encode()).hexdigest(), 16) % 64] += 1.0
        norm = np.linalg.norm(out[row])
        if norm:
            out[row] /= norm
    return out


def test_embedding_logic_with_a_stand_in_encoder(subset: list[Example], tmp_path: Path) -> None:
    backend = EmbeddingBackend(encoder=fake_encoder, C=10.0)
    with pytest.raises(BackendError, match="not been trained"):
        backend.parse("电梯坏了")
    backend.train(subset)
    for text in HOSTILE:
        check_shape(backend.parse(text))
    assert backend.parse("")["intent"] == {"name": "none", "confidence": 1.0}
    result = backend.parse("5号楼电梯里有人被困住了")
    assert result["model"] == f"embedding-{backend.version}"
    assert result["entities"][0]["value"] == "5"
    path = tmp_path / "emb.pkl"
    backend.save(path)
    again = EmbeddingBackend.load(path, encoder=fake_encoder)
    assert again.parse("楼上天天吵")["intent_ranking"] == backend.parse("楼上天天吵")["intent_ranking"]
    path.write_bytes(b"not a model")
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        EmbeddingBackend.load(path, encoder=fake_encoder)


# --- the embedding backend with the real encoder (optional extra) ---------------------------


@pytest.fixture(scope="module")
def real_embedding() -> EmbeddingBackend:
    if not embedding_mod.available():
        pytest.skip(EMBEDDING_MISSING)
    backend = EmbeddingBackend()
    backend.train(stratified_slice(80))
    return backend


def test_real_encoder_gives_512_normalised_dimensions(real_embedding: EmbeddingBackend) -> None:
    vectors = real_embedding.encoder(["电梯坏了", "今天天气不错"])
    assert vectors.shape == (2, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    same = real_embedding.encoder(["电梯坏了", "电梯出故障了", "谢谢大家"])
    assert float(same[0] @ same[1]) > float(same[0] @ same[2])


def test_real_embedding_backend_classifies(real_embedding: EmbeddingBackend) -> None:
    cases = {"3号楼电梯坏了，快来修一下": "repair_request",
             "楼上装修从早上七点吵到晚上十点": "complaint",
             "谢谢大家": "none"}
    for text, intent in cases.items():
        result = real_embedding.parse(text)
        check_shape(result)
        assert result["intent"]["name"] == intent, text
    for text in HOSTILE:
        check_shape(real_embedding.parse(text))


def test_real_embedding_backend_from_config_caches_its_model(
    tmp_path: Path, subset: list[Example], real_embedding: EmbeddingBackend
) -> None:
    first = backend_from_config("embedding", {"model_dir": tmp_path, "examples": subset})
    assert isinstance(first, EmbeddingBackend)
    assert (tmp_path / embedding_mod.MODEL_FILE).is_file()
    second = backend_from_config("embedding", {"model_dir": tmp_path, "examples": subset})
    assert second.version == first.version
    assert second.train_seconds == first.train_seconds  # loaded, not trained again
    third = backend_from_config("embedding", {"model_dir": tmp_path,
                                              "examples": subset[: len(subset) // 2]})
    assert third.version != first.version
    assert third.parse("电梯坏了")["model"] == f"embedding-{third.version}"


# --- the Rasa backend against a fake Rasa server ---------------------------------------------


class FakeRasa:
    """A Rasa HTTP API stand-in on 127.0.0.1, in a thread of its own, recording every call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_parse = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _parse(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append({"path": "/model/parse", "json": body, "query": dict(request.query)})
        if self.fail_parse:
            return web.json_response({"status": "failure"}, status=500)
        text = body["text"]
        if "电梯" in text:
            name, conf = "repair_request", 0.91
        elif "吵架" in text:
            name, conf = "dispute", 0.88
        else:
            name, conf = "nlu_fallback", 0.3
        ranking = [{"name": name, "confidence": conf}, {"name": "complaint", "confidence": 0.05},
                   {"name": "none", "confidence": 0.04}]
        entities = []
        if "王阿姨" in text:
            start = text.index("王阿姨")
            entities.append({"entity": "person", "value": "王阿姨", "start": start,
                             "end": start + 3, "extractor": "DIETClassifier"})
        return web.json_response({"text": text, "intent": {"name": name, "confidence": conf},
                                  "entities": entities, "intent_ranking": ranking,
                                  "text_tokens": []})

    async def _train(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.calls.append({"path": "/model/train", "body": body, "query": dict(request.query),
                           "content_type": request.headers.get("Content-Type")})
        name = "20261122-101010-brave-rasa.tar.gz"
        return web.Response(body=b"model-bytes", headers={"filename": name},
                            content_type="application/gzip")

    async def _load(self, request: web.Request) -> web.Response:
        self.calls.append({"path": "PUT /model", "json": await request.json(),
                           "query": dict(request.query)})
        return web.Response(status=204)

    async def _status(self, request: web.Request) -> web.Response:
        self.calls.append({"path": "/status", "query": dict(request.query)})
        return web.json_response({"model_file": "models/initial.tar.gz", "num_active_training_jobs": 0})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/model/parse", self._parse)
        app.router.add_post("/model/train", self._train)
        app.router.add_put("/model", self._load)
        app.router.add_get("/status", self._status)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [c["path"] for c in self.calls]


@pytest.fixture()
def fake_rasa() -> Iterator[FakeRasa]:
    server = FakeRasa()
    server.start()
    yield server
    server.stop()


async def test_rasa_parse_maps_the_answer(fake_rasa: FakeRasa) -> None:
    backend = RasaBackend(fake_rasa.url)
    try:
        result = await backend.aparse("王阿姨说5号楼电梯里有人被困住了")
        check_shape(result)
        assert result["intent"] == {"name": "repair_request", "confidence": 0.91}
        assert result["urgency"] == "emergency" and result["tier"] is None
        extractors = {e["entity"]: e["extractor"] for e in result["entities"]}
        assert extractors["person"] == "DIETClassifier"
        assert extractors["building"] == "gridbot.regex"
        assert result["model"] == "rasa"
        assert fake_rasa.calls[-1]["json"] == {"text": "王阿姨说5号楼电梯里有人被困住了"}

        dispute = await backend.aparse("两家为了车位吵架，还动手打人了，报警了")
        assert dispute["intent"]["name"] == "dispute" and dispute["tier"] == "big"

        # traditional characters reach Rasa as the simplified ones it learnt; the text and
        # the offsets of its entities stay as written
        written = "王阿姨說5號樓電梯壞了"
        traditional = await backend.aparse(written)
        assert fake_rasa.calls[-1]["json"] == {"text": "王阿姨说5号楼电梯坏了"}
        assert traditional["intent"] == {"name": "repair_request", "confidence": 0.91}
        assert traditional["text"] == written
        [person] = [e for e in traditional["entities"] if e["entity"] == "person"]
        assert written[person["start"]:person["end"]] == "王阿姨"

        fallback = await backend.aparse("今天天气不错")
        assert fallback["intent"]["name"] == "none"  # nlu_fallback is not a gridbot intent
        check_shape(fallback)

        sent = len(fake_rasa.calls)
        for text in ("", "  \n", None, "😀😀[捂脸]"):
            result = await backend.aparse(text)
            check_shape(result)
            assert result["intent"] == {"name": "none", "confidence": 1.0}
        assert len(fake_rasa.calls) == sent  # nothing to classify: Rasa is not asked

        await backend.aparse("电梯" + "很" * 20_000)
        assert len(fake_rasa.calls[-1]["json"]["text"]) == 2000
    finally:
        await backend.aclose()


def test_rasa_sync_parse_and_train(fake_rasa: FakeRasa, subset: list[Example]) -> None:
    backend = RasaBackend(fake_rasa.url, token="s3cret")
    try:
        assert backend.parse("电梯坏了")["intent"]["name"] == "repair_request"
        figures = backend.train(subset)
        assert figures["model_file"] == "models/20261122-101010-brave-rasa.tar.gz"
        assert figures["bytes"] == len(b"model-bytes")
        assert backend.version == "rasa:20261122-101010-brave-rasa"
        assert backend.parse("电梯坏了")["model"] == backend.version
        assert backend.warm() is backend
    finally:
        backend.close()
    assert fake_rasa.paths() == ["/model/parse", "/model/train", "PUT /model", "/model/parse",
                                 "/status"]
    assert all(c["query"].get("token") == "s3cret" for c in fake_rasa.calls)
    train_call = fake_rasa.calls[1]
    assert train_call["content_type"] == "application/x-yaml"
    assert train_call["query"]["save_to_default_model_directory"] == "true"
    assert train_call["query"]["force_training"] == "true"
    doc = yaml.safe_load(train_call["body"])
    assert doc["language"] == "zh"
    assert [c["name"] for c in doc["pipeline"]] == [
        "JiebaTokenizer", "CountVectorsFeaturizer", "CountVectorsFeaturizer", "DIETClassifier"]
    assert doc["pipeline"][2] == {"name": "CountVectorsFeaturizer", "analyzer": "char_wb",
                                  "min_ngram": 1, "max_ngram": 4}
    assert sorted(doc["intents"]) == sorted({ex.intent for ex in subset})
    assert len(loads_rasa(train_call["body"]).examples) == len(subset)
    assert fake_rasa.calls[2]["json"] == {"model_file": figures["model_file"]}


def test_rasa_sync_parse_from_inside_a_running_loop(fake_rasa: FakeRasa) -> None:
    backend = RasaBackend(fake_rasa.url)

    async def caller() -> dict[str, Any]:
        return backend.parse("电梯坏了")  # gridbot's processor calls parse() like this

    try:
        assert asyncio.run(caller())["intent"]["name"] == "repair_request"
    finally:
        backend.close()


async def test_rasa_errors_and_fallback(fake_rasa: FakeRasa, model_dir: Path,
                                        model: IntentModel) -> None:
    fake_rasa.fail_parse = True
    backend = RasaBackend(fake_rasa.url)
    with pytest.raises(RasaError, match="HTTP 500"):
        await backend.aparse("电梯坏了")
    await backend.aclose()

    with_fallback = RasaBackend(fake_rasa.url, fallback=DefaultBackend(model_dir=model_dir))
    result = await with_fallback.aparse("电梯坏了")
    assert result == model.parse("电梯坏了")
    await with_fallback.aclose()

    unreachable = RasaBackend("http://127.0.0.1:9", timeout=2)
    with pytest.raises(RasaError):
        await unreachable.aparse("电梯坏了")
    await unreachable.aclose()


def test_training_payload_round_trips() -> None:
    examples = [Example("3号楼电梯坏了", "repair_request",
                        [{"entity": "building", "value": "3", "start": 0, "end": 3}]),
                Example("早上好: 大家好 - 今天 #1", "none")]
    payload = training_payload(examples, {"language": "zh", "pipeline": [{"name": "X"}]})
    doc = yaml.safe_load(payload)
    assert doc["version"] == "3.1" and doc["intents"] == ["repair_request", "none"]
    parsed = loads_rasa(payload)
    assert [(e.text, e.intent) for e in parsed.examples] == [(e.text, e.intent) for e in examples]
    assert parsed.examples[0].entities[0]["value"] == "3"
