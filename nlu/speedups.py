"""The compiled inner loops of parsing (``nlu/_speedups.c``), when they were built.

``compiled`` is the extension module, or None when it was not built (no C compiler at
install time) or when ``GRIDBOT_NLU_PURE_PYTHON=1`` asks for the Python versions, which give
the same answers more slowly.
"""

from __future__ import annotations

import os
from types import ModuleType

compiled: ModuleType | None
if os.environ.get("GRIDBOT_NLU_PURE_PYTHON", "").lower() in ("1", "true", "yes"):
    compiled = None
else:
    try:
        from nlu import _speedups as compiled
    except ImportError:
        compiled = None
