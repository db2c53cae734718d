"""Every test generates data into its own session's folder, never into the user's cache directory, and wandb's
"auto" mode is off (a test that wants wandb names its mode)."""
from __future__ import annotations

import os

import pytest

from crossmodal.data.kinds import DATA_DIR_ENV


@pytest.fixture(autouse=True, scope="session")
def session_environment(tmp_path_factory: pytest.TempPathFactory):
    """$CROSSMODAL_DATA for the session and WANDB_MODE=disabled (a test may change either with monkeypatch.setenv)."""
    previous = {name: os.environ.get(name) for name in (DATA_DIR_ENV, "WANDB_MODE")}
    os.environ[DATA_DIR_ENV] = str(tmp_path_factory.mktemp("crossmodal-data"))
    os.environ["WANDB_MODE"] = "disabled"
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
