"""Training the linkage model as a deliberate act, outside the monthly run.

The extracts are ingested and blocked exactly as a monthly run would, into a
folder of their own under `<out>/training/`, and the trained model replaces
the one at the model path (the previous model is kept beside it under its id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.states import Failed, State

from data.errors import SfmatchError
from data.private_files import private_umask, restrict
from flows.cohort import fail_run, ingest_all
from flows.configuration import RunConfiguration, load_run_configuration
from flows.locks import shared_lock
from flows.manifest import StageTimes
from flows.process_guard import claim_flow_run
from flows.settings import DEFAULT_RUN_TIMEOUT, load_settings
from flows.linkage_tasks import ModelSummary, block_records, standardise_records, train_linkage_model
from flows.tasks import PreparedRun, bounded, os_error_message, prepare_run


@dataclass(frozen=True)
class TrainSummary:
    run_dir: Path
    model: ModelSummary
    records: int
    candidate_pairs: int
    stages: dict[str, float]


@flow(name="sfmatch-train", log_prints=False, validate_parameters=True, timeout_seconds=DEFAULT_RUN_TIMEOUT)
def train_flow(
    extracts_dir: Path,
    out_dir: Path | None = None,
    config_file: Path | None = None,
    model_file: Path | None = None,
    reference_date: date | None = None,
) -> TrainSummary | State:
    """Ingest, standardise and block the extracts, then train and save the linkage model."""
    claim_flow_run()
    with private_umask():  # the training folder holds the ingested extracts
        return _train(extracts_dir, out_dir, config_file, model_file, reference_date)


def _train(extracts_dir: Path, out_dir: Path | None, config_file: Path | None, model_file: Path | None,
           reference_date: date | None) -> TrainSummary | State:
    logger = get_run_logger()
    times = StageTimes()
    try:
        config = load_run_configuration(load_settings(config_file, out_dir=out_dir, reference_date=reference_date,
                                                      model_file=model_file))
        with times.measure("prepare"):
            prepared = bounded(prepare_run, config.settings)(Path(extracts_dir), config, None, kind="training")
    except SfmatchError as error:
        logger.error("%s", error)
        return Failed(message=str(error))
    except OSError as error:  # a path that cannot be made or written: the same on every try
        message = f"cannot prepare the training: {os_error_message(error)}"
        logger.error("%s", message)
        return Failed(message=message)
    try:
        return _train_stages(prepared, config, times)
    except TimeoutError:
        raise  # a stage or the training timed out: Prefect marks the run TimedOut and says which
    except OSError as error:
        message = f"a file could not be written or read: {os_error_message(error)}"
    logger.error("%s", message)
    return fail_run(prepared.folder, prepared.manifest, times, [message])


def _train_stages(prepared: PreparedRun, config: RunConfiguration, times: StageTimes) -> TrainSummary | State:
    folder, manifest, settings = prepared.folder, prepared.manifest, config.settings
    _, errors = ingest_all(prepared, config, times)
    if errors:
        return fail_run(folder, manifest, times, errors)
    with times.measure("standardise"):
        standardised = bounded(standardise_records, settings)(folder.root, config,
                                                              date.fromisoformat(manifest.reference_date))
    with times.measure("block"):
        blocking = bounded(block_records, settings)(folder.root, config)
    with times.measure("train"):
        data_hash = "".join(sorted(entry["sha256"] for entry in manifest.inputs.values()))
        with shared_lock(settings.model_path):
            model = bounded(train_linkage_model, settings)(folder.root, config, data_hash)
    manifest.linkage = {"model": {"path": str(model.path), "model_id": model.model_id, "trained_in_run": True,
                                  "trained_at": model.trained_at}, "candidate_pairs": blocking.pairs}
    manifest.finish("completed", times)
    manifest.write(folder.manifest)
    restrict(folder.root)
    return TrainSummary(folder.root, model, standardised.records, blocking.pairs, dict(times.seconds))
