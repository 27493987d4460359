from __future__ import annotations

from pathlib import Path

import pytest

import flows  # noqa: F401  (sets Prefect's environment before any test imports Prefect)
from data.synth import generate


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory) -> Path:
    """A small synthetic population's extracts and truth, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("synth")
    generate(households=400, seed=7, out=out)
    return out
