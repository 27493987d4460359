"""One settings object for a run: a YAML file, overridden by SFMATCH_* environment variables.

Settings are read here and only here, validated on load, and passed down as
plain values: the library packages never read the environment themselves.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from criteria.framework import FRAMEWORKS_DIR
from data.contract import CONTRACTS_DIR
from data.documents import read_yaml, validation_problems
from data.errors import SfmatchError

# Nothing in a council's run may call out to the network, and a 2-core machine
# needs longer than Prefect's default to start its embedded server.
PREFECT_ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "GX_ANALYTICS_ENABLED": "false",
}
ENV_PREFIX = "SFMATCH_"
DEFAULT_SOURCES = ("la_cases", "dwp_benefits", "housing", "police", "education")


SECRET_FIELDS = {"council_key", "evaluation_key"}


class SettingsError(SfmatchError):
    """A configuration file or variable that cannot be used as written."""


def apply_prefect_environment() -> None:
    """Set the defaults above unless the operator has set them; must run before Prefect is imported."""
    for name, value in PREFECT_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


class Settings(BaseModel):
    """Everything a run can be told. Defaults suit the demo; a council sets its own in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    la_code: str = Field("E99999999", pattern=r"^[EWSN]\d{8}$", description="the council's ONS GSS code")
    reference_date: date | None = Field(None, description="the date the run looks back from; today when unset")
    period_months: int = Field(12, ge=1, le=36, description="how far back a record counts")
    sources: tuple[str, ...] = Field(DEFAULT_SOURCES, min_length=1)
    contracts_dir: Path = Field(CONTRACTS_DIR, description="folder of source contracts (YAML)")
    out_dir: Path = Field(Path("sfmatch-out"), description="runs are written under <out_dir>/runs/<run_id>/")

    # Linkage.
    model_file: Path | None = Field(None, description="the trained linkage model; default <out_dir>/models/linkage_model.json")
    accept_threshold: float | None = Field(None, gt=0, lt=1, description="overrides the model's accept probability")
    review_threshold: float | None = Field(None, gt=0, lt=1, description="overrides the model's review probability")
    block_size_cap: int = Field(250, ge=10, description="blocks above this many records are split or skipped")
    partition_pairs: int = Field(500_000, ge=1_000, description="candidate pairs scored per task")
    ambiguity_bits: float = Field(3.0, ge=0, description="how much stronger one of two clashing links must be to win")
    review_decisions: Path | None = Field(None, description="analysts' stored decisions; default <out_dir>/review/decisions.csv")

    # Criteria.
    framework: str = Field("sf-2022", description="the framework version to apply: a name in frameworks_dir, or a path")
    frameworks_dir: Path = Field(FRAMEWORKS_DIR, description="folder of framework versions (YAML)")

    # Orchestration.
    retention_days: int = Field(90, ge=1, description="run folders (which hold personal data) are deleted after this")
    dask_address: str | None = Field(None, description="a Dask scheduler (tcp://host:8786) to score partitions on")

    # Data quality.
    quality_thresholds: Path | None = Field(None, description="the council's thresholds (YAML) over expectations/thresholds.yaml")

    # Submission.
    submission: bool = Field(True, description="build, encrypt and stage the cohort file for the evaluation")
    council_key_file: Path | None = Field(None, description="the council's pseudonym key (sfmatch keys new)")
    council_key: SecretStr | None = Field(None, description="or the key itself, from SFMATCH_COUNCIL_KEY only")
    evaluation_key_file: Path | None = Field(None, description="the key shared with the evaluation, for match keys")
    evaluation_key: SecretStr | None = Field(None, description="or the key itself, from SFMATCH_EVALUATION_KEY only")
    recipient_public_key: Path | None = Field(None, description="the evaluation's X25519 public key (PEM)")
    opt_outs: Path | None = Field(None, description="people who objected to or restricted processing (CSV)")

    @field_validator("sources")
    @classmethod
    def _no_repeats(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(sources)) != len(sources):
            raise ValueError("a source is listed twice")
        return sources

    def resolved_reference_date(self) -> date:
        return self.reference_date or date.today()

    @property
    def model_path(self) -> Path:
        return self.model_file or self.out_dir / "models" / "linkage_model.json"

    @property
    def decisions_path(self) -> Path:
        return self.review_decisions or self.out_dir / "review" / "decisions.csv"

    def without_secrets(self) -> "Settings":
        """A copy with no key material, for tasks that may run on other machines (Dask workers)."""
        return self.model_copy(update=dict.fromkeys(SECRET_FIELDS))

    def public_dump(self) -> dict[str, object]:
        """What the manifest records: everything but key material, which is only said to be set or not."""
        document = self.model_dump(mode="json", exclude=SECRET_FIELDS)
        for name in SECRET_FIELDS:
            document[name] = "set" if getattr(self, name) is not None else None
        return document


def _environment_overrides() -> dict[str, object]:
    overrides: dict[str, object] = {}
    for name in Settings.model_fields:
        value = os.environ.get(ENV_PREFIX + name.upper())
        if value is not None:
            overrides[name] = yaml.safe_load(value) if name == "sources" else value
    return overrides


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Defaults, then the YAML file, then SFMATCH_* variables, then explicit overrides (CLI options)."""
    values: dict[str, object] = {}
    origin = "defaults"
    if config_file is not None:
        origin = str(config_file)
        document = read_yaml(Path(config_file), "config", SettingsError) or {}
        if not isinstance(document, dict):
            raise SettingsError(f"config {config_file}: expected a mapping of setting names to values")
        values.update(document)
    secrets_in_file = SECRET_FIELDS & set(values)
    if secrets_in_file:
        raise SettingsError(
            f"config {config_file}: {', '.join(sorted(secrets_in_file))} may only come from the environment "
            "(SFMATCH_COUNCIL_KEY, SFMATCH_EVALUATION_KEY); a config file names a key file instead"
        )
    values.update(_environment_overrides())
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError("\n".join([f"settings from {origin} (and {ENV_PREFIX}* variables) are not valid:",
                                       *(f"  - {p}" for p in validation_problems(exc))])) from None
