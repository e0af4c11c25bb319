"""Fixtures every test directory may use: databases of both kinds, and Redis.

Services follow one rule: when PostgreSQL or Redis cannot be reached, a test that needs it
fails under CI=true and is skipped, with the reason, elsewhere.

`make test` runs the suite on two pytest-xdist workers (`--dist loadgroup`). Tests that must
not run beside each other share a group and so one worker: the fault tests (each starts
gridbot processes and private database servers, and bounds how long recovery takes), and the
tests that clear shared keys of the test Redis; the browser tests share one Chromium.
"""

from pathlib import Path

import pytest

from tests.storage.conftest import db_url, pg_template, sessions  # noqa: F401

_HERE = Path(__file__).parent
_GROUPS = {
    "faults": [_HERE / "faults"],
    # One Chromium and one gridbot serve the whole folder.
    "browser": [_HERE / "browser"],
    "shared-redis": [_HERE / "e2e" / "test_runtime.py", _HERE / "outbound" / "test_tokens.py",
                     _HERE / "outbound" / "test_rate_limit.py"],
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        for group, places in _GROUPS.items():
            if any(path == place or place in path.parents for place in places):
                item.add_marker(pytest.mark.xdist_group(group))
