"""Every test generates data into its own session's folder, never into the user's cache directory."""
from __future__ import annotations

import os

import pytest

from crossmodal.data.kinds import DATA_DIR_ENV


@pytest.fixture(autouse=True, scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """$CROSSMODAL_DATA for the session (a test may point it elsewhere with monkeypatch.setenv)."""
    previous = os.environ.get(DATA_DIR_ENV)
    os.environ[DATA_DIR_ENV] = str(tmp_path_factory.mktemp("crossmodal-data"))
    yield
    if previous is None:
        os.environ.pop(DATA_DIR_ENV, None)
    else:
        os.environ[DATA_DIR_ENV] = previous
