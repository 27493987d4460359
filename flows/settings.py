"""One settings object for a run, from defaults, a YAML file, SFMATCH_* variables and command-line options.

Settings are read here and only here (pydantic-settings), validated on load,
and passed down as plain values: the library packages never read the
environment themselves. Later sources win: defaults, then the YAML file, then
environment variables (`SFMATCH_LA_CODE`, `SFMATCH_LINKAGE__ACCEPT_THRESHOLD`
for a setting in a group), then options given on the command line.

Settings are grouped (linkage, criteria, quality, submission, orchestration).
A configuration file written before the groups existed, with every setting at
the top level, is still read: each such name is moved into its group.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
import yaml
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError as SourceError

from criteria.framework import FRAMEWORKS_DIR
from criteria.outcome_plan import PLANS_DIR
from data.contract import CONTRACTS_DIR
from data.documents import read_yaml, validation_problems
from data.errors import SfmatchError
from matching.pipeline import AMBIGUITY_BITS, BLOCK_SIZE_CAP, PARTITION_PAIRS

# Nothing in a council's run may call out to the network, and a 2-core machine
# needs longer than Prefect's default to start its embedded server.
PREFECT_ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "GX_ANALYTICS_ENABLED": "false",
}
ENV_PREFIX = "SFMATCH_"
NESTED = "__"
DEFAULT_SOURCES = ("la_cases", "dwp_benefits", "housing", "police", "education")
SECRET_FIELDS = {"council_key", "evaluation_key", "opt_out_key"}


class SettingsError(SfmatchError):
    """A configuration file or variable that cannot be used as written."""


def apply_prefect_environment() -> None:
    """Set the defaults above unless the operator has set them; must run before Prefect is imported."""
    for name, value in PREFECT_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkageSettings(_Group):
    model_file: Path | None = Field(None, description="the trained linkage model; default <out_dir>/models/linkage_model.json")
    train_in_run: bool = Field(False, description="where no model exists and model_file names none, train one on the "
                                                  "month's own data (the demo does); otherwise the run stops")
    accept_threshold: float | None = Field(None, gt=0, lt=1, description="overrides the model's accept probability")
    review_threshold: float | None = Field(None, gt=0, lt=1, description="overrides the model's review probability")
    block_size_cap: int = Field(BLOCK_SIZE_CAP, ge=10, description="blocks above this many records are split or skipped")
    blocking_threads: int = Field(2, ge=1, description="blocking rules worked on at once, one per core (each thread "
                                                       "holds one rule's pairs while it makes them)")
    partition_pairs: int = Field(PARTITION_PAIRS, ge=1_000, description="candidate pairs scored per task")
    ambiguity_bits: float = Field(AMBIGUITY_BITS, ge=0,
                                  description="how much stronger one of two clashing links must be to win")
    review_decisions: Path | None = Field(None, description="analysts' stored decisions; default <out_dir>/review/decisions.csv")

    @model_validator(mode="after")
    def _review_below_accept(self) -> LinkageSettings:
        if self.accept_threshold is not None and self.review_threshold is not None \
                and self.review_threshold >= self.accept_threshold:
            raise ValueError(f"review_threshold ({self.review_threshold}) must be below accept_threshold "
                             f"({self.accept_threshold})")
        return self


class CriteriaSettings(_Group):
    framework: str = Field("sf-2022", description="the framework version to apply: a name in frameworks_dir, or a path")
    frameworks_dir: Path = Field(FRAMEWORKS_DIR, description="folder of framework versions (YAML)")


class OutcomeSettings(_Group):
    enabled: bool = Field(True, description="track the outcomes of families taken on and prepare results claims")
    plan: str | None = Field(None, description="the outcome plan to apply: a name in plans_dir, or a path; default "
                                                "the plan named after the framework, where there is one (none for "
                                                "tf-2015, which is for re-running history)")
    plans_dir: Path = Field(PLANS_DIR, description="folder of outcome plans (YAML)")
    audit_pack: Literal["identifiable", "pseudonymised"] = Field(
        "identifiable", description="whether the claims' audit packs name people (they stay in the council) or show "
                                    "keyed pseudonyms (needs the council key)")
    claims_register: Path | None = Field(None, description="families already claimed; default "
                                                           "<out_dir>/claims/register.parquet")


class DwpSettings(_Group):
    recipient_public_key: Path | None = Field(None, description="DWP's X25519 public key (PEM): the confirm-back "
                                                                "request is sealed for it")


class QualitySettings(_Group):
    thresholds: Path | None = Field(None, description="the council's thresholds (YAML) over expectations/thresholds.yaml")


class SubmissionSettings(_Group):
    enabled: bool = Field(True, description="build, encrypt and stage the cohort file for the evaluation")
    council_key_file: Path | None = Field(None, description="the council's pseudonym key (sfmatch keys new)")
    evaluation_key_file: Path | None = Field(None, description="the key shared with the evaluation, for match keys")
    recipient_public_key: Path | None = Field(None, description="the evaluation's X25519 public key (PEM): the "
                                              "cohort package is encrypted for it")
    aggregates_recipient_public_key: Path | None = Field(None, description="the X25519 public key (PEM) of whoever "
                                                         "receives the aggregate return, a package of its own")
    opt_outs: Path | None = Field(None, description="people who objected to or restricted processing: a plain CSV, "
                                  "or a restriction register sealed by 'sfmatch optouts seal'")
    opt_out_key_file: Path | None = Field(None, description="the key the restriction register is sealed with "
                                          "(sfmatch keys new --kind opt-out)")


DEFAULT_RUN_TIMEOUT = 240 * 60
"""Seconds a run or a training may take: the flows' own limit, for deployments; the command line applies the
setting's."""


class OrchestrationSettings(_Group):
    retention_days: int = Field(90, ge=1, description="run folders (which hold personal data) are deleted after this")
    run_timeout_minutes: float = Field(DEFAULT_RUN_TIMEOUT / 60, gt=0, description=(
        "a run or a training the sfmatch command started that is still going after this is stopped and fails, "
        "publishing nothing (a deployment's runs keep the flows' own 240)"))
    stage_timeout_minutes: float = Field(60, gt=0, description="any one stage (a Prefect task) still going after "
                                                             "this fails the run")
    dask_address: str | None = Field(None, description="a Dask scheduler (tcp://host:8786) whose workers run the heavy stages")


GROUPS = {"linkage": LinkageSettings, "criteria": CriteriaSettings, "outcomes": OutcomeSettings,
          "quality": QualitySettings, "submission": SubmissionSettings, "dwp": DwpSettings,
          "orchestration": OrchestrationSettings}
FLAT_NAMES: dict[str, tuple[str, str]] = {
    **{name: ("linkage", name) for name in LinkageSettings.model_fields},
    **{name: ("criteria", name) for name in CriteriaSettings.model_fields},
    **{name: ("orchestration", name) for name in OrchestrationSettings.model_fields},
    **{name: ("submission", name) for name in SubmissionSettings.model_fields if name != "enabled"},
    "quality_thresholds": ("quality", "thresholds"),
}
"""Where each setting of the earlier, flat layout now lives."""


def _into_groups(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Flat names (the earlier layout) moved into their groups; `submission: false` is `submission.enabled`."""
    grouped = {key: (dict(value) if isinstance(value, dict) else value) for key, value in values.items()}
    for group in GROUPS:
        if group in grouped and grouped[group] is None:
            grouped[group] = {}  # a group whose settings are all commented out
    if isinstance(grouped.get("submission"), (bool, str)):
        grouped["submission"] = {"enabled": grouped["submission"]}
    for name, (group, field) in FLAT_NAMES.items():
        if name not in grouped:
            continue
        target = grouped.setdefault(group, {})
        if not isinstance(target, dict):
            continue
        if field in target:
            raise SettingsError(f"{where}: {name} is given both on its own and as {group}.{field}; keep one")
        target[field] = grouped.pop(name)
    return grouped


_FILE_VALUES: ContextVar[dict[str, Any]] = ContextVar("sfmatch_file_values", default={})


class _FileSettings(PydanticBaseSettingsSource):
    """The YAML file's values, read (with clear errors) by `load_settings` before the settings are built."""

    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ returns everything at once
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_VALUES.get())


class _Environment(EnvSettingsSource):
    """SFMATCH_* variables; a list or group is written in YAML (`[la_cases, police]`), of which JSON is a part."""

    def decode_complex_value(self, field_name, field, value):
        return yaml.safe_load(value)


class Settings(BaseSettings):
    """Everything a run can be told. Defaults suit the demo; a council sets its own in YAML."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED, extra="forbid", frozen=True)

    la_code: str = Field("E99999999", pattern=r"^[EWSN]\d{8}$", description="the council's ONS GSS code")
    reference_date: date | None = Field(None, description="the date the run looks back from; today when unset")
    period_months: int = Field(12, ge=1, le=36, description="how far back a record counts")
    sources: tuple[str, ...] = Field(DEFAULT_SOURCES, min_length=1)
    contracts_dir: Path = Field(CONTRACTS_DIR, description="folder of source contracts (YAML)")
    out_dir: Path = Field(Path("sfmatch-out"), description="runs are written under <out_dir>/runs/<run_id>/")

    linkage: LinkageSettings = LinkageSettings()
    criteria: CriteriaSettings = CriteriaSettings()
    outcomes: OutcomeSettings = OutcomeSettings()
    dwp: DwpSettings = DwpSettings()
    quality: QualitySettings = QualitySettings()
    submission: SubmissionSettings = SubmissionSettings()
    orchestration: OrchestrationSettings = OrchestrationSettings()

    council_key: SecretStr | None = Field(None, description="the council key itself, from SFMATCH_COUNCIL_KEY only")
    evaluation_key: SecretStr | None = Field(None, description="the evaluation key itself, from SFMATCH_EVALUATION_KEY only")
    opt_out_key: SecretStr | None = Field(None, description="the opt-out key itself, from SFMATCH_OPT_OUT_KEY only")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls), _FileSettings(settings_cls)

    @field_validator("sources")
    @classmethod
    def _no_repeats(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(sources)) != len(sources):
            raise ValueError("a source is listed twice")
        return sources

    @model_validator(mode="before")
    @classmethod
    def _earlier_layout(cls, values: Any) -> Any:
        return _into_groups(values, "settings") if isinstance(values, dict) else values

    def resolved_reference_date(self) -> date:
        return self.reference_date or date.today()

    @property
    def model_path(self) -> Path:
        return self.linkage.model_file or self.out_dir / "models" / "linkage_model.json"

    def require_model(self) -> bool:
        """Whether the run must train its own model; raises if it may not.

        The model is meant to stay fixed from month to month: a model named in the settings that is not
        there is a mistake to stop on (a mistyped path must not quietly train on this month's data), and
        training inside a run happens only where the operator allows it."""
        path = self.model_path
        if path.exists():
            return False
        if self.linkage.model_file is not None:
            raise SettingsError(f"linkage.model_file names {path}, which does not exist: nothing was trained or "
                                "run (correct the path, or train a model there with `sfmatch train --model`)")
        if not self.linkage.train_in_run:
            raise SettingsError(f"no linkage model at {path}: train one with `sfmatch train` (it then stays fixed "
                                "from month to month), or set linkage.train_in_run to let this run train on its "
                                "own data")
        return True

    @property
    def claims_register(self) -> Path:
        return self.outcomes.claims_register or self.out_dir / "claims" / "register.parquet"

    @property
    def decisions_path(self) -> Path:
        return self.linkage.review_decisions or self.out_dir / "review" / "decisions.csv"

    def without_secrets(self) -> Settings:
        """A copy with no key material, for tasks that may run on other machines (Dask workers)."""
        return self.model_copy(update=dict.fromkeys(SECRET_FIELDS))

    def public_dump(self) -> dict[str, object]:
        """What the manifest records: everything but key material, which is only said to be set or not."""
        document = self.model_dump(mode="json", exclude=SECRET_FIELDS)
        for name in SECRET_FIELDS:
            document[name] = "set" if getattr(self, name) is not None else None
        return document


def _earlier_environment_names() -> list[str]:
    """SFMATCH_* variables of the flat layout, which would otherwise be silently ignored."""
    return [f"{ENV_PREFIX}{name.upper()} (now {ENV_PREFIX}{group.upper()}{NESTED}{field.upper()})"
            for name, (group, field) in FLAT_NAMES.items() if f"{ENV_PREFIX}{name.upper()}" in os.environ]


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Defaults, then the YAML file, then SFMATCH_* variables, then explicit overrides (CLI options)."""
    origin = "defaults"
    document: dict[str, Any] = {}
    if config_file is not None:
        origin = str(config_file)
        document = read_yaml(Path(config_file), "config", SettingsError) or {}
        if not isinstance(document, dict):
            raise SettingsError(f"config {config_file}: expected a mapping of setting names to values")
        secrets_in_file = SECRET_FIELDS & set(document)
        if secrets_in_file:
            raise SettingsError(
                f"config {config_file}: {', '.join(sorted(secrets_in_file))} may only come from the environment "
                "(SFMATCH_COUNCIL_KEY, SFMATCH_EVALUATION_KEY, SFMATCH_OPT_OUT_KEY); a config file names a key file "
                "instead"
            )
        document = _into_groups(document, f"config {config_file}")
    outdated = _earlier_environment_names()
    if outdated:
        raise SettingsError("settings in groups are read from SFMATCH_<GROUP>__<NAME>; rename " + ", ".join(outdated))
    given = _into_groups({k: v for k, v in overrides.items() if v is not None}, "options")
    token = _FILE_VALUES.set(document)
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError("\n".join([f"settings from {origin} (and {ENV_PREFIX}* variables) are not valid:",
                                       *(f"  - {p}" for p in validation_problems(exc))])) from None
    except SourceError as exc:
        field = str(exc).split('"')[1] if '"' in str(exc) else "a setting"
        raise SettingsError(f"{ENV_PREFIX}* variables: the value for {field} cannot be read as YAML") from None
    finally:
        _FILE_VALUES.reset(token)
