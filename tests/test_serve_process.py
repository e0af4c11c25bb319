"""How `gridbot serve` sets up its process: the event loop it runs on and the heap it leaves
to the garbage collector."""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref

import pytest

from bot.cli import _freeze_what_start_up_loaded, _use_uvloop


@pytest.fixture
def default_policy():
    yield
    asyncio.set_event_loop_policy(None)


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_serve_runs_on_uvloop(default_policy: None) -> None:
    import uvloop

    _use_uvloop()
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


async def test_what_start_up_loaded_is_frozen_and_what_comes_after_is_still_collected() -> None:
    loaded = [_Node() for _ in range(1000)]
    try:
        await _freeze_what_start_up_loaded(None)  # type: ignore[arg-type]
        assert gc.get_freeze_count() >= len(loaded)
        # A cycle made while serving is garbage the collector still finds.
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
