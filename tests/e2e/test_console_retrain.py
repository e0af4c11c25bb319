"""Retraining from the console, through the real endpoints on SQLite and PostgreSQL: a street
admin starts it, it runs in the server's background one at a time, its progress is polled
fold by fold, and the model it makes waits in the models tab to be activated. A small
data set (the first examples of each intent) keeps it fast."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from bot.api_retrain import RETRAINER
from nlu.rasa_yaml import TrainingData, dump_rasa, load_rasa
from nlu.service import PACKAGED_DATA
from tests.e2e.browsers import Browser, signed_in
from tests.e2e.conftest import Spine
from tests.e2e.streets import with_two_streets

PER_INTENT = 12


def small_data(path: Path) -> Path:
    examples = load_rasa(PACKAGED_DATA).examples
    kept: dict[str, list[Any]] = {}
    for example in examples:
        if len(kept.setdefault(example.intent, [])) < PER_INTENT:
            kept[example.intent].append(example)
    dump_rasa(TrainingData(examples=[e for group in kept.values() for e in group]), path)
    return path


@pytest_asyncio.fixture
async def trainable(spine: Spine, db_url: str, tmp_path: Path) -> AsyncIterator[Spine]:
    await with_two_streets(spine, db_url)
    retrainer = spine.client.app[RETRAINER]
    retrainer.data, retrainer.folds = small_data(tmp_path / "small.yml"), 2
    yield spine


async def poll(browser: Browser, seen: list[dict[str, Any]]) -> dict[str, Any]:
    for _ in range(600):
        state = await browser.json("/api/v1/nlu/retrain")
        seen.append(state)
        if state["state"] != "running":
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"the retrain did not finish: {seen[-1]}")


async def test_an_admin_retrains_and_watches_it_to_the_end(trainable: Spine):
    spine = trainable
    browsers: list[Browser] = []
    try:
        admin = await signed_in(spine, "admin", browsers)
        assert (await admin.json("/api/v1/nlu/retrain"))["state"] == "idle"
        started = await admin.request("POST", "/api/v1/nlu/retrain", json={"note": "十一月标注"})
        assert started.status == 202, await started.text()
        state = await started.json()
        assert state["state"] == "running" and state["by"] == "王建国"
        assert state["total"] == 3 and state["done"] == 0
        busy = await admin.request("POST", "/api/v1/nlu/retrain")
        assert busy.status == 409 and "已有一次重新训练在进行" in (await busy.json())["error"]

        seen: list[dict[str, Any]] = []
        final = await poll(admin, seen)
        assert final["state"] == "done", final
        progress = [s["done"] for s in seen]
        assert progress == sorted(progress) and all(s["done"] <= s["total"] for s in seen)
        assert final["done"] == final["total"] == 3
        assert final["version"] and isinstance(final["macro_f1"], float)
        assert final["examples"] == 5 * PER_INTENT and final["note"] == "十一月标注"
        assert final["finished_at"] >= final["started_at"]

        models = await admin.json("/api/v1/nlu/models")
        [made] = [m for m in models["models"] if m["version"] == final["version"]]
        assert made["active"] is False and made["note"] == "十一月标注"
        activated = await admin.request(
            "POST", f"/api/v1/nlu/models/{final['version']}/activate")
        assert activated.status == 200

        # Finished: another may start.
        again = await admin.request("POST", "/api/v1/nlu/retrain")
        assert again.status == 202
        assert (await poll(admin, []))["state"] == "done"

        worker = await signed_in(spine, "zhangwg", browsers)
        assert (await worker.get("/api/v1/nlu/retrain")).status == 403
        assert (await worker.request("POST", "/api/v1/nlu/retrain")).status == 403
    finally:
        for browser in browsers:
            await browser.close()


async def test_a_failed_retrain_says_why(trainable: Spine, tmp_path: Path):
    spine = trainable
    spine.client.app[RETRAINER].data = tmp_path / "missing.yml"
    started = await spine.client.post("/api/v1/nlu/retrain", headers=spine.auth)
    assert started.status == 202 and (await started.json())["by"] == "admin"
    for _ in range(200):
        state = await spine.api("/api/v1/nlu/retrain")
        if state["state"] != "running":
            break
        await asyncio.sleep(0.05)
    assert state["state"] == "failed" and state["error"], state
