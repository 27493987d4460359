from __future__ import annotations

import logging

import pytest
from prefect.testing.utilities import prefect_test_harness


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
