from __future__ import annotations

from pathlib import Path

import pytest

from nlu.pipeline import IntentModel
from nlu.service import ACTIVE, get_model, reset_cache


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory holding a model trained from the packaged data."""
    directory = tmp_path_factory.mktemp("models")
    get_model(directory)
    assert (directory / ACTIVE).exists()
    return directory


@pytest.fixture(scope="session")
def model(model_dir: Path) -> IntentModel:
    return get_model(model_dir)


@pytest.fixture()
def fresh_cache():
    reset_cache()
    yield
    reset_cache()
