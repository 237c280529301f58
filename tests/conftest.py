"""Shared fixtures: generated data goes to a per-session temporary folder, never into the repository."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_dir(tmp_path_factory):
    """Point EMKIT_DATA at a session-wide temporary folder (worlds generated once per session)."""
    if "EMKIT_DATA" in os.environ and os.environ.get("EMKIT_TEST_KEEP_DATA"):
        yield
        return
    path = tmp_path_factory.mktemp("emkit-data")
    old = os.environ.get("EMKIT_DATA")
    os.environ["EMKIT_DATA"] = str(path)
    yield
    if old is None:
        os.environ.pop("EMKIT_DATA", None)
    else:
        os.environ["EMKIT_DATA"] = old
