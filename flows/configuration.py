"""Everything a run is configured by, loaded and checked once, then handed to every task.

The settings, the source contracts, the framework version, the data-quality
thresholds and the linkage spec are read at the start of a run, so a bad file
stops the run before any work, and every task sees the same versions of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from criteria.framework import LoadedFramework, load_framework
from criteria.outcome_plan import LoadedPlan, load_outcome_plan
from data.documents import versioned_path
from data.contract import Contract, load_contracts
from expectations.thresholds import SourceThresholds, load_thresholds
from flows.settings import Settings
from matching.spec import PROGRAMME_SPEC, LinkageSpec
from pseudonymise.keys import SecretKey, SubmissionKeys, load_key, load_submission_keys


def opt_out_key(settings: Settings) -> SecretKey | None:
    """The key the restriction register is sealed with, if the settings give one."""
    file = settings.submission.opt_out_key_file
    secret = settings.opt_out_key.get_secret_value() if settings.opt_out_key else None
    return load_key("opt-out", file, secret) if file is not None or secret else None


@dataclass(frozen=True)
class RunConfiguration:
    settings: Settings
    contracts: dict[str, Contract]
    framework: LoadedFramework
    thresholds: dict[str, SourceThresholds]
    linkage: LinkageSpec
    outcome_plan: LoadedPlan | None = None
    """None when outcomes are not tracked (switched off, or no council case records in the run)."""

    @property
    def sources(self) -> tuple[str, ...]:
        return self.settings.sources

    def submission_keys(self) -> SubmissionKeys:
        """The keys the settings name, or a clear error naming the one that is missing or wrong."""
        settings, submission = self.settings, self.settings.submission
        return load_submission_keys(
            submission.council_key_file, settings.council_key.get_secret_value() if settings.council_key else None,
            submission.evaluation_key_file,
            settings.evaluation_key.get_secret_value() if settings.evaluation_key else None,
            submission.recipient_public_key, submission.aggregates_recipient_public_key,
        )

    def opt_out_key(self) -> SecretKey | None:
        return opt_out_key(self.settings)

    def without_secrets(self) -> RunConfiguration:
        """The configuration without key material, for tasks that may run on other machines (Dask workers)."""
        return replace(self, settings=self.settings.without_secrets())


def load_run_configuration(settings: Settings, linkage: LinkageSpec = PROGRAMME_SPEC) -> RunConfiguration:
    """Contracts, framework, outcome plan and thresholds for these settings, each checked against the contracts."""
    sources = list(settings.sources)
    contracts = load_contracts(settings.contracts_dir, sources)
    framework = load_framework(settings.criteria.framework, contracts, settings.criteria.frameworks_dir)
    thresholds = load_thresholds(sources, settings.quality.thresholds, contracts)
    return RunConfiguration(settings, contracts, framework, thresholds, linkage,
                            outcome_plan_for(settings, framework, contracts))


def outcome_plan_for(settings: Settings, framework: LoadedFramework, contracts: dict[str, Contract]) -> LoadedPlan | None:
    """The plan the settings name; or, unnamed, the plan named after the framework if there is one."""
    outcomes = settings.outcomes
    if not outcomes.enabled or "la_cases" not in contracts:
        return None
    name = outcomes.plan
    if name is None:
        name = framework.framework.framework
        if not versioned_path(name, outcomes.plans_dir).is_file():
            return None
    return load_outcome_plan(name, framework.framework, contracts, outcomes.plans_dir)
