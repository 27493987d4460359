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
from flows.configuration import load_run_configuration
from flows.locks import shared_lock
from flows.manifest import StageTimes
from flows.process_guard import claim_flow_run
from flows.settings import load_settings
from flows.linkage_tasks import ModelSummary, block_records, standardise_records, train_linkage_model
from flows.tasks import prepare_run


@dataclass(frozen=True)
class TrainSummary:
    run_dir: Path
    model: ModelSummary
    records: int
    candidate_pairs: int
    stages: dict[str, float]


@flow(name="sfmatch-train", log_prints=False, validate_parameters=True)
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
            prepared = prepare_run(Path(extracts_dir), config, None, kind="training")
    except SfmatchError as error:
        logger.error("%s", error)
        return Failed(message=str(error))
    folder, manifest = prepared.folder, prepared.manifest
    _, errors = ingest_all(prepared, config, times)
    if errors:
        return fail_run(folder, manifest, times, errors)
    with times.measure("standardise"):
        standardised = standardise_records(folder.root, config, date.fromisoformat(manifest.reference_date))
    with times.measure("block"):
        blocking = block_records(folder.root, config)
    with times.measure("train"):
        data_hash = "".join(sorted(entry["sha256"] for entry in manifest.inputs.values()))
        with shared_lock(config.settings.model_path):
            model = train_linkage_model(folder.root, config, data_hash)
    manifest.linkage = {"model": {"path": str(model.path), "model_id": model.model_id, "trained_in_run": True,
                                  "trained_at": model.trained_at}, "candidate_pairs": blocking.pairs}
    manifest.finish("completed", times)
    manifest.write(folder.manifest)
    restrict(folder.root)
    return TrainSummary(folder.root, model, standardised.records, blocking.pairs, dict(times.seconds))
