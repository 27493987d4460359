"""Whether a task is running on a Dask worker, and the cluster's client for the work it fans out."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client


def on_dask_worker() -> bool:
    if "distributed" not in sys.modules:  # a worker has it loaded; a run on threads need not pay for it
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


@contextmanager
def cluster_client() -> Iterator[Client | None]:
    """The cluster's client while the task hands work to the other workers (its own slot is freed meanwhile),
    or None when the task runs in the flow's process."""
    if not on_dask_worker():
        yield None
        return
    from distributed import worker_client

    with worker_client() as client:
        yield client


def worker_count(client: Client) -> int:
    return len(client.scheduler_info().get("workers", {})) or 1


def make_workers_private(address: str) -> None:
    """Every worker of the cluster (and any that joins later) creates files readable by its own user only, as
    the flow's process does: the files the workers write into the run folder hold personal data."""
    from distributed import Client
    from distributed.diagnostics.plugin import WorkerPlugin

    class PrivateFiles(WorkerPlugin):
        idempotent = True

        def setup(self, worker) -> None:
            os.umask(0o077)

    with Client(address, timeout="30s") as client:
        client.register_plugin(PrivateFiles(), name="sfmatch-private-files")
