from __future__ import annotations

import logging
from pathlib import Path

import pytest

import flows  # noqa: F401, I001  (sets Prefect's environment before Prefect is imported)
from data.synth import generate
from prefect.testing.utilities import prefect_test_harness


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
    config = folder / "sfmatch.yaml"
    config.write_text(
        f"council_key_file: {folder / 'council.key'}\n"
        f"evaluation_key_file: {folder / 'evaluation.key'}\n"
        f"recipient_public_key: {folder / 'recipient_public.pem'}\n",
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


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real local `prefect server`, for deployments, Dask and runs in other processes. Yields its API URL."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    log = (home / "server.log").open("w")
    server = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(180):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"prefect server did not start; see {home / 'server.log'}")
        yield {"url": url, "home": home}
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


def sfmatch_command(*args: str) -> list[str]:
    import sys

    return [str(Path(sys.executable).with_name("sfmatch")), *args]
