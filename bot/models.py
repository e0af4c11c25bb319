"""The language model a process serves, following the active version in the database.

An admin activates or rolls back a version with one database write; every running process
notices within `check_every` seconds, loads that version off the event loop and swaps it in
between two messages. No restart, and no process keeps answering with a model nobody chose.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from storage.db import SessionFactory
from storage.nlu_store import active_version, model_blob

log = logging.getLogger(__name__)


def _load(blob: bytes, version: str) -> Any:
    from nlu import IntentModel

    return IntentModel.from_bytes(blob, f"model {version}").warm()  # off the event loop


class ModelHolder:
    def __init__(self, sessions: SessionFactory, packaged: Callable[[], Any],
                 check_every: float = 5.0) -> None:
        self._sessions = sessions
        self._packaged = packaged
        self._check_every = check_every
        self._model: Any = None
        self._from_database = False
        self._next_check = 0.0
        self._lock = asyncio.Lock()

    def current(self) -> Any:
        """The model to parse with now (the packaged one until the database names another)."""
        if self._model is None:
            self._model = self._packaged()
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether a model is in memory: a worker is ready to handle messages only then."""
        return self._model is not None

    @property
    def version(self) -> str | None:
        return getattr(self._model, "version", None)

    async def refresh(self, force: bool = False) -> bool:
        """Follow the active version; True when the model changed."""
        if not force and time.monotonic() < self._next_check:
            return False
        if not hasattr(self.current(), "to_bytes"):
            return False  # another backend (Rasa, embeddings) is configured: it has its own models
        async with self._lock:
            self._next_check = time.monotonic() + self._check_every
            async with self._sessions() as session:
                wanted = await active_version(session)
                if wanted is None:
                    return await self._back_to_packaged()
                if wanted == self.version:
                    return False
                blob = await model_blob(session, wanted)
            if blob is None:
                log.error("the active NLU model %s is not in the database", wanted)
                return False
            try:
                model = await asyncio.to_thread(_load, blob, wanted)
            except Exception as exc:
                log.error("cannot load NLU model %s: %s; keeping %s", wanted, exc, self.version)
                return False
            previous, self._model, self._from_database = self.version, model, True
            log.info("NLU model %s active (was %s)", wanted, previous)
            return True

    async def _back_to_packaged(self) -> bool:
        if not self._from_database:
            return False
        model = await asyncio.to_thread(self._packaged)
        previous, self._model, self._from_database = self.version, model, False
        log.info("NLU model %s (packaged) active again (was %s)", self.version, previous)
        return True
