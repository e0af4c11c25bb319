"""Retraining from the console, with its progress: `POST /api/v1/nlu/retrain` starts
`bot.retrain.retrain` in the background of the server process that was asked, and
`GET /api/v1/nlu/retrain` says how far it is (street admins and the token).

One retrain at a time, across processes: the job's state is a row of `settings`
(`nlu_retrain`), claimed when it starts and written every second while it runs (its
progress: fold after fold of the cross-validation, then the final model), so any process
answers the poll. A job whose process died stops counting as running after a minute
without a heartbeat. The new model is saved but not made active: the models tab compares
it with the active one and activates it. When the server stops, the job stops after the
fold it is in, and says so.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import params
from bot.api import RUNTIME, iso
from bot.auth.viewer import require_admin, require_viewer
from bot.retrain import retrain
from bot.runtime import Runtime
from nlu.service import PACKAGED_DATA
from storage.errors import short_reason
from storage.models import Setting

log = logging.getLogger(__name__)

STATE_KEY = "nlu_retrain"
HEARTBEAT = 1.0
#: A running job not heard from for this long is taken for dead.
STALE_AFTER = timedelta(seconds=60)
MAX_NOTE_CHARS = 200


class RetrainStopped(Exception):
    """The server is stopping: the job ends after the fold it is in."""


class RetrainBusy(Exception):
    def __init__(self, state: dict[str, Any]) -> None:
        super().__init__("a retrain is running")
        self.state = state


def _macro_f1(report: dict[str, Any] | None) -> float | None:
    value = (report or {}).get("macro avg", {}).get("f1-score")
    return float(value) if isinstance(value, int | float) else None


def _running(state: dict[str, Any] | None, now: datetime) -> bool:
    if not state or state.get("state") != "running":
        return False
    beat = state.get("heartbeat_at")
    try:
        heard = datetime.fromisoformat(str(beat).replace("Z", "+00:00"))
    except ValueError:
        return False
    return now - heard < STALE_AFTER


class Retrainer:
    """The process's retrain job. `data` and `folds` are what it trains on (the packaged
    data, 5 folds; tests give a small data set)."""

    def __init__(self, data: Path = PACKAGED_DATA, folds: int = 5) -> None:
        self.data = data
        self.folds = folds
        self._task: asyncio.Task[None] | None = None
        self._state: dict[str, Any] = {}
        self._guard = threading.Lock()  # the training thread writes the progress
        self._stopping = False
        self._starting = asyncio.Lock()

    # -- what the routes call -------------------------------------------------------------

    async def start(self, runtime: Runtime, by: str, note: str | None) -> dict[str, Any]:
        """Claim the job and start it; RetrainBusy when one is running anywhere."""
        async with self._starting:
            now = datetime.now(UTC)
            if self._task is not None and not self._task.done():
                raise RetrainBusy(self._snapshot())
            state = {"state": "running", "done": 0, "total": self.folds + 1,
                     "step": "starting", "by": by, "note": note, "started_at": iso(now),
                     "heartbeat_at": iso(now), "finished_at": None, "error": None,
                     "version": None, "macro_f1": None, "active_version": None,
                     "active_macro_f1": None, "examples": None, "reviewed": None}
            async with runtime.sessions() as session, session.begin():
                row = await session.get(Setting, STATE_KEY, with_for_update=True)
                if row is not None and _running(row.value, now):
                    raise RetrainBusy(dict(row.value))
                if row is None:
                    session.add(Setting(key=STATE_KEY, value=state))
                else:
                    row.value = state
            with self._guard:
                self._state = state
            self._stopping = False
            self._task = asyncio.create_task(self._run(runtime, note), name="gridbot-retrain")
            return dict(state)

    async def status(self, runtime: Runtime) -> dict[str, Any]:
        """The latest job's state as the database has it ("idle" when there was none); a
        running one whose process stopped answering is "failed"."""
        async with runtime.sessions() as session:
            row = await session.get(Setting, STATE_KEY)
        state = dict(row.value) if row is not None else {"state": "idle"}
        if state.get("state") == "running" and not _running(state, datetime.now(UTC)):
            state |= {"state": "failed", "error": "训练所在的进程已停止，请重新开始。"}
        return state

    async def stop(self) -> None:
        """Stop the job after the fold it is in (the server is stopping)."""
        self._stopping = True
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), 120)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("the retrain did not stop in time")

    # -- the job --------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        with self._guard:
            return dict(self._state)

    def _update(self, **values: Any) -> None:
        with self._guard:
            self._state.update(values)

    def _tick(self, done: int, total: int, what: str) -> None:
        """Progress from the training thread."""
        if self._stopping:
            raise RetrainStopped()
        self._update(done=done, total=total, step=what)

    async def _save(self, runtime: Runtime) -> None:
        self._update(heartbeat_at=iso(datetime.now(UTC)))
        state = self._snapshot()
        async with runtime.sessions() as session, session.begin():
            row = await session.get(Setting, STATE_KEY)
            if row is None:
                session.add(Setting(key=STATE_KEY, value=state))
            else:
                row.value = state

    async def _beat(self, runtime: Runtime) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._save(runtime)
            except Exception as exc:
                log.warning("saving the retrain's progress failed: %s", short_reason(exc))

    async def _run(self, runtime: Runtime, note: str | None) -> None:
        beat = asyncio.create_task(self._beat(runtime))
        try:
            result = await retrain(runtime.sessions, Path(runtime.settings.var_dir),
                                   data=self.data, folds=self.folds, progress=self._tick,
                                   note=note)
            final: dict[str, Any] = {
                "state": "done", "step": "done", "version": result.model.version,
                "macro_f1": _macro_f1(result.report), "active_version": result.active_version,
                "active_macro_f1": _macro_f1(result.active_report),
                "examples": result.examples, "reviewed": result.reviewed}
        except RetrainStopped:
            final = {"state": "failed", "error": "服务停止，训练已中断。"}
        except Exception as exc:
            log.exception("retraining failed")
            final = {"state": "failed", "error": short_reason(exc)}
        finally:
            beat.cancel()
        self._update(finished_at=iso(datetime.now(UTC)), **final)
        try:
            await self._save(runtime)
        except Exception as exc:
            log.error("saving the retrain's outcome failed: %s", short_reason(exc))


RETRAINER = web.AppKey("retrainer", Retrainer)


async def start_retrain(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    require_admin(viewer)
    body = await params.json_object(request) if request.body_exists else {}
    params.only_fields(body, ("note",))
    note = (params.json_text(body, "note", max_chars=MAX_NOTE_CHARS) or "").strip() or None
    try:
        state = await request.app[RETRAINER].start(runtime, viewer.name, note)
    except RetrainBusy as busy:
        return web.json_response({
            "error": "已有一次重新训练在进行，请等它结束。A retrain is already running.",
            "running": busy.state}, status=409)
    return web.json_response(state, status=202)


async def retrain_status(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    require_admin(await require_viewer(request))
    return web.json_response(await request.app[RETRAINER].status(runtime))


async def _stop_retrain(app: web.Application) -> None:
    await app[RETRAINER].stop()


def retrain_routes(app: web.Application) -> None:
    app[RETRAINER] = Retrainer()
    app.on_shutdown.append(_stop_retrain)
    app.router.add_post("/api/v1/nlu/retrain", start_retrain)
    app.router.add_get("/api/v1/nlu/retrain", retrain_status)
