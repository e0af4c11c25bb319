"""The shell's part of pictures: before the transaction, fetch a message's picture from its
channel (bot.media) and read the sender's recent tickets, so that the handler
(handlers.photos) decides from facts and the writer stores what was fetched."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.media import IMAGE
from bot.media import (
    MAX_BYTES,
    MEDIA_PATIENCE,
    MediaFetcher,
    MediaRefused,
    MediaUnavailable,
    Picture,
)
from domain.decisions import Context
from handlers.photos import PHOTO_WINDOW, PhotoFacts
from storage import attachments
from storage.db import SessionFactory

log = logging.getLogger(__name__)

#: How many pictures one worker fetches at the same time.
FETCHES_AT_ONCE = 8
#: The most bytes of pictures one batch holds at once, counting each fetch under way as the
#: largest picture (MAX_BYTES). Pictures beyond it wait for a following batch.
MAX_BATCH_BYTES = 64 * 1024 * 1024
#: Where residents open a staff member's picture: `{GRIDBOT_PUBLIC_URL}/p/{token}`.
SHARED_PATH = "/p/"
# What a batch fetched and never used (it failed before deciding) is forgotten after this
# many seconds; a batch uses what it fetched within moments.
_UNUSED_FOR = 120.0


class PicturesWait(Exception):
    """The batch holds as many pictures as it may: this message waits for the next one."""


class _Budget:
    """The bytes a batch's pictures hold, and those its fetches under way may yet hold."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held = 0
        self._under_way = 0
        self._changed = asyncio.Condition()

    async def reserve(self) -> bool:
        """Room for one more fetch: wait while fetches under way may free some; False when
        there is none (but a batch always has room for its first picture)."""
        async with self._changed:
            while self._held + MAX_BYTES > self._limit and self._under_way:
                await self._changed.wait()
            if self._held and self._held + MAX_BYTES > self._limit:
                return False
            self._held += MAX_BYTES
            self._under_way += 1
            return True

    async def settle(self, size: int) -> None:
        """A fetch is done: it holds `size` bytes, not the most it might have."""
        async with self._changed:
            self._held -= MAX_BYTES - size
            self._under_way -= 1
            self._changed.notify_all()


def _has_media(claim: Any) -> bool:
    return bool(claim.media) and claim.kind in (IMAGE, "text")


@dataclass(frozen=True, slots=True)
class PhotoPrep:
    """A message's picture as fetched, and the facts for a picture message's decision.
    `retry`: its source is down; the message is put back and tried again later."""

    picture: Picture | None = None
    facts: PhotoFacts | None = None
    retry: Exception | None = None
    # The sender's loose pictures, which a report made by this message would take, and
    # the links of those a staff member sent before 完成 (for the residents).
    loose: int = 0
    links: tuple[str, ...] = ()


class PhotoReader:
    def __init__(self, sessions: SessionFactory, fetcher: MediaFetcher, public_url: str,
                 clock: Callable[[], datetime], batch_bytes: int = MAX_BATCH_BYTES) -> None:
        self._sessions = sessions
        self._fetcher = fetcher
        self._public_url = public_url.rstrip("/")
        self._clock = clock
        self.batch_bytes = batch_bytes
        # By (message, claim): its picture or why there is none, and when it was fetched.
        self._fetched: dict[tuple[int, int], tuple[float, Picture | Exception]] = {}

    async def loose(self, session: AsyncSession, wanting: Sequence[tuple[Any, PhotoPrep | None]]
                    ) -> list[PhotoPrep | None]:
        """For each (claim, prepared) of messages that may make a report, or a 完成: `prepared`
        with the sender's loose pictures of the last PHOTO_WINDOW — how many, so that the task
        card can say that the ticket has pictures, and the links of a staff member's. One
        query for all of them, in the caller's session."""
        if not wanting:
            return []
        found = await attachments.loose_of(
            session, ((claim.channel, claim.sender_id) for claim, _ in wanting),
            self._clock() - PHOTO_WINDOW)
        out: list[PhotoPrep | None] = []
        for claim, prepared in wanting:
            loose = found.get((claim.channel, claim.sender_id))
            if not loose:
                out.append(prepared)
                continue
            links = tuple(f"{self._public_url}{SHARED_PATH}{token}"
                          for token, by_staff in loose if by_staff and token)
            out.append(replace(prepared or PhotoPrep(), loose=len(loose), links=links))
        return out

    async def prefetch(self, claims: Iterable[Any]) -> None:
        """Fetch the pictures of a batch at once (at most FETCHES_AT_ONCE together), so that
        a batch of pictures takes about as long as its slowest source, not as all of them.
        The batch holds at most `batch_bytes` of pictures: from the first picture that would
        go beyond, its pictures wait for a following batch (PicturesWait)."""
        now = time.monotonic()
        for key in [k for k, (at, _) in self._fetched.items() if now - at > _UNUSED_FOR]:
            del self._fetched[key]
        wanted = [c for c in claims if _has_media(c)]
        if len(wanted) < 2:
            return
        limit = asyncio.Semaphore(FETCHES_AT_ONCE)
        budget = _Budget(self.batch_bytes)

        async def one(claim: Any) -> None:
            size = 0
            try:
                async with limit:
                    fetched = await self._fetch(claim)
                size = fetched.size if isinstance(fetched, Picture) else 0
                self._fetched[(claim.id, claim.attempt)] = (time.monotonic(), fetched)
            finally:
                await budget.settle(size)

        fetches = []
        try:
            for index, claim in enumerate(wanted):
                if not await budget.reserve():
                    waiting = PicturesWait(
                        f"this batch holds {self.batch_bytes // (1024 * 1024)} MB of pictures; "
                        "the rest wait for the next")
                    for later in wanted[index:]:
                        self._fetched[(later.id, later.attempt)] = (time.monotonic(), waiting)
                    break
                fetches.append(asyncio.ensure_future(one(claim)))
        finally:
            await asyncio.gather(*fetches)

    async def _fetch(self, claim: Any) -> Picture | Exception:
        try:
            return await self._fetcher.fetch(claim.channel, claim.media)
        except (MediaUnavailable, MediaRefused) as exc:
            return exc

    async def prepare(self, claim: Any, ctx: Context) -> PhotoPrep | None:
        """None for a message without a picture."""
        if not _has_media(claim):
            return None
        now = self._clock()
        picture = None
        failure = None
        kept = self._fetched.pop((claim.id, claim.attempt), None)
        fetched = kept[1] if kept is not None else await self._fetch(claim)
        if isinstance(fetched, PicturesWait):
            log.info("picture of inbound message %s waits for the next batch", claim.id)
            return PhotoPrep(retry=fetched)
        try:
            if isinstance(fetched, Exception):
                raise fetched
            picture = fetched
        except MediaUnavailable as exc:
            waited = now - claim.received_at if claim.received_at is not None else None
            if waited is None or waited < MEDIA_PATIENCE:
                log.warning("picture of inbound message %s: its source is down, trying again "
                            "later: %s", claim.id, exc)
                return PhotoPrep(retry=exc)
            failure = "图片来源长时间无法访问"
            log.warning("picture of inbound message %s given up after %s: %s", claim.id,
                        MEDIA_PATIENCE, exc)
        except MediaRefused as exc:
            failure = str(exc)
            log.warning("picture of inbound message %s cannot be kept: %s", claim.id, exc)
        if claim.kind != IMAGE:
            return PhotoPrep(picture=picture)
        since = now - PHOTO_WINDOW
        async with self._sessions() as session:
            reports = await attachments.recent_reports(session, claim.channel, claim.sender_id,
                                                       since)
            resolved = (await attachments.recently_resolved_by(session, ctx.person_id, since)
                        if ctx.person_id is not None else [])
            earlier = await attachments.attached_count(session, claim.channel, claim.sender_id,
                                                       since) if reports else 0
        link = f"{self._public_url}{SHARED_PATH}{picture.link_token}" if picture else ""
        return PhotoPrep(picture=picture, facts=PhotoFacts(
            failure, tuple(reports), tuple(resolved), link, earlier))
