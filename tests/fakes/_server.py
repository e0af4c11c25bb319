"""A real aiohttp server on 127.0.0.1 (random port) that records every request and can be
told to misbehave: answer an HTTP error, hang, and (in subclasses) answer errcodes — for the
next few requests (`fail_next`, `hang_next`) or for every request until `clear_faults`
(`fail_all`, `hang_all`)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class Fault:
    kind: str  # "status", "hang" or "errcode"
    remaining: int
    path: str | None = None
    status: int = 500
    seconds: float = 0.0
    errcode: int = 0
    errmsg: str = ""
    body: Any = None
    until_cleared: bool = False  # every request until clear_faults(), `remaining` unused

    def matches(self, path: str) -> bool:
        return (self.until_cleared or self.remaining > 0) and (
            self.path is None or self.path == path)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class FakeServer:
    """Base class: subclasses add routes in `routes()` and may consume "errcode" faults;
    one with an `ssl_context` speaks HTTPS."""

    ssl_context: ssl.SSLContext | None = None

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._faults: list[Fault] = []
        # Requests answered with an injected fault (an error status, a hang or an errcode).
        self.injected = 0
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self.port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.port = int(port)

    async def close(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- fault injection ---------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = 500, *, path: str | None = None, body: Any = None
    ) -> None:
        """The next `n` requests (to `path`, or to any path) answer HTTP `status`."""
        self._faults.append(Fault("status", n, path, status=status, body=body))

    def hang_next(self, n: int = 1, seconds: float = 10.0, *, path: str | None = None) -> None:
        """The next `n` requests (to `path`, or to any path) wait `seconds` before answering."""
        self._faults.append(Fault("hang", n, path, seconds=seconds))

    def fail_all(self, status: int = 500, *, path: str | None = None, body: Any = None) -> None:
        """Every request (to `path`, or to any path) answers HTTP `status` until
        `clear_faults()`."""
        self._faults.append(Fault("status", 0, path, status=status, body=body,
                                  until_cleared=True))

    def hang_all(self, seconds: float = 10.0, *, path: str | None = None) -> None:
        """Every request (to `path`, or to any path) waits `seconds` before it is handled,
        until `clear_faults()`. A request that arrived before the clear still waits out its
        time, then is handled as usual (it was delivered; the client may have given up)."""
        self._faults.append(Fault("hang", 0, path, seconds=seconds, until_cleared=True))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, path: str, kinds: tuple[str, ...]) -> Fault | None:
        for fault in self._faults:
            if fault.kind in kinds and fault.matches(path):
                self.injected += 1
                if fault.until_cleared:
                    return fault
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- queries -----------------------------------------------------------------------

    def count(self, path: str, method: str | None = None) -> int:
        """How many requests reached `path` (faulty answers included)."""
        return sum(
            1 for r in self.requests if r.path == path and (method is None or r.method == method)
        )

    # -- request handling --------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                body,
            )
        )
        fault = self._take_fault(request.path, ("status", "hang"))
        if fault is not None and fault.kind == "hang":
            assert self._closing is not None
            try:
                await asyncio.wait_for(self._closing.wait(), fault.seconds)
            except TimeoutError:
                pass
        elif fault is not None and fault.kind == "status":
            if fault.body is not None:
                return web.json_response(fault.body, status=fault.status)
            return web.Response(status=fault.status, text=f"injected HTTP {fault.status}")
        return await handler(request)
