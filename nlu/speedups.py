"""The compiled inner loops of parsing (``nlu/_speedups.c``), when they were built.

``built`` is the extension module, or None when it was not built (no C compiler at install
time). Whether parsing uses it is the caller's choice: :func:`use_compiled` ``(False)`` asks
for the Python versions, which give the same answers more slowly, and :func:`active` is what
segmenters and scorers built from then on use. This module reads no configuration itself;
gridbot calls :func:`use_compiled` from its settings (``GRIDBOT_NLU_PURE_PYTHON``) before it
parses anything.
"""

from __future__ import annotations

from types import ModuleType

built: ModuleType | None
try:
    from nlu import _speedups as built
except ImportError:
    built = None

_allowed = True


def use_compiled(flag: bool) -> None:
    """Allow (True, the default) or forbid (False) the compiled speedups.

    Takes effect for segmenters and scorers built afterwards (the shared segmenter of
    :mod:`nlu.features` is built on the first parse), so call it before parsing.
    """
    global _allowed
    _allowed = bool(flag)


def active() -> ModuleType | None:
    """The extension module when it was built and is allowed, else None."""
    return built if _allowed else None


__all__ = ["active", "built", "use_compiled"]
