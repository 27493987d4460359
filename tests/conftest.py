from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import flows  # noqa: F401, I001  (sets Prefect's environment before Prefect is imported)
from data.synth import generate
from prefect.testing.utilities import prefect_test_harness


# The flow tests run on fresh folders with no trained model: as an operator may, they let each run train its
# own (tests of that rule itself remove this).
os.environ.setdefault("SFMATCH_LINKAGE__TRAIN_IN_RUN", "true")


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory) -> Path:
    """A small synthetic population's extracts and truth, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("synth")
    generate(households=400, seed=7, out=out)
    return out


@pytest.fixture(scope="session")
def submission_config(tmp_path_factory) -> Path:
    """Keys made for the test session and a settings file naming them, as a council's config would."""
    from pseudonymise.keys import new_key, new_recipient_pair, write_key_file

    folder = tmp_path_factory.mktemp("keys")
    write_key_file(new_key("council"), folder / "council.key")
    write_key_file(new_key("evaluation"), folder / "evaluation.key")
    new_recipient_pair(folder / "recipient_private.pem", folder / "recipient_public.pem")
    new_recipient_pair(folder / "aggregates_private.pem", folder / "aggregates_public.pem")
    config = folder / "sfmatch.yaml"
    config.write_text(
        f"council_key_file: {folder / 'council.key'}\n"
        f"evaluation_key_file: {folder / 'evaluation.key'}\n"
        f"recipient_public_key: {folder / 'recipient_public.pem'}\n"
        f"aggregates_recipient_public_key: {folder / 'aggregates_public.pem'}\n",
        encoding="utf-8",
    )
    return config



@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server (its own SQLite database) for every flow test in the session."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def text(self) -> str:
        lines = []
        for record in self.records:
            lines.append(record.getMessage())
            if record.exc_info and record.exc_info[0] is not None:
                lines.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(lines)


@pytest.fixture
def prefect_logs():
    """Every record Prefect's loggers emit during a test, as the console and the API receive them."""
    handler = _Collect()
    logger = logging.getLogger("prefect")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real local `prefect server`, for deployments, Dask and runs in other processes. Yields its API URL."""
    from flows.local_server import local_prefect_server

    home = tmp_path_factory.mktemp("prefect-home")
    with local_prefect_server(home) as url:
        yield {"url": url, "home": home}


def sfmatch_command(*args: str) -> list[str]:
    import sys

    return [str(Path(sys.executable).with_name("sfmatch")), *args]


WHOLE_FLOW_FIXTURES = {"prefect_harness", "prefect_server"}


def pytest_collection_modifyitems(config, items):
    """A test that needs a Prefect server runs whole flows: it is `slow`, so `pytest -m "not slow"` is a fast loop."""
    for item in items:
        if WHOLE_FLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
