"""Fixtures every test directory may use: databases of both kinds, and Redis.

Services follow one rule: when PostgreSQL or Redis cannot be reached, a test that needs it
fails under CI=true and is skipped, with the reason, elsewhere.
"""

from tests.storage.conftest import db_url, pg_template, sessions  # noqa: F401
