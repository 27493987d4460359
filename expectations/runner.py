"""Running expectation suites with Great Expectations, quietly, without letting a data value escape.

Results are asked for in a format that keeps counts and drops every value
(`SAFE_RESULT_FORMAT`), so neither the results, the manifest, the Prefect
artifact nor the Data Docs can show a name or an identifier. GX's progress
bars are turned off through its context variables and its log chatter is
turned down, so the console shows the pipeline's own lines only.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

SAFE_RESULT_FORMAT = {
    # BASIC gives every count the reports use; SUMMARY would also gather the unexpected rows' index, a
    # fifth of a gate's time on a large extract, only to be dropped.
    "result_format": "BASIC",
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}
GX_SEVERITY = {"blocking": "critical", "warning": "warning"}
_COUNTS_ONLY = ("element_count", "unexpected_count", "unexpected_percent", "missing_count")


@cache
def _quiet_imports():
    """GX, imported once, quietly. A run starts this in the background early (see `warm_up`)."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    return gx


def warm_up() -> threading.Thread:
    """Import GX in a background thread: its two seconds overlap ingest instead of adding to the run."""
    thread = threading.Thread(target=_quiet_imports, name="import-great-expectations", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, in counts: what was checked, how often it failed, how serious that is."""

    check: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: int | None = None
    why: str = ""
    columns: str = ""
    """For a table's column check: which columns are missing or unexpected (header names, never values)."""
    missing_count: int | None = None
    counted: str = ""
    """What the counts are of (e.g. "present nino values"); GX's rate is of the values present."""

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        if self.unexpected_count is not None:
            # GX's percentage is of the present values, so the count beside it is of those too.
            base = (self.element_count or 0) - (self.missing_count or 0)
            counts = (f"{self.unexpected_count:,} of {base:,} {self.counted or 'present values unexpected'} "
                      f"({self.unexpected_percent or 0:.2f}%)")
        elif self.observed_value is not None:
            counts = f"observed {self.observed_value:,}" + (f" ({self.counted})" if self.counted else "")
        elif self.columns:
            counts = self.columns
        else:
            counts = "failed"
        return f"{self.check} ({self.expectation}{where}): {counts}"


@dataclass(frozen=True)
class GateResult:
    suite: str
    rows: int
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "blocking"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.blocking_failures

    def summary(self) -> dict[str, object]:
        return {
            "rows": self.rows, "evaluated": len(self.outcomes), "passed": self.passed,
            "failed_blocking": [asdict(o) for o in self.blocking_failures],
            "warnings": [asdict(o) for o in self.warnings],
        }


def _column_mismatch(mismatched) -> str:
    """Column checks report header names (never values): as missing/unexpected sets, or position by position."""
    if isinstance(mismatched, dict):
        return "; ".join(f"{kind}: {', '.join(map(str, mismatched.get(kind) or []))}"
                         for kind in ("missing", "unexpected") if mismatched.get(kind))
    if isinstance(mismatched, list):
        return "columns differ: " + ", ".join(
            f"expected {m.get('Expected')} found {m.get('Found')}" for m in mismatched if isinstance(m, dict))
    return ""


def _outcome(result) -> Outcome:
    config = result.expectation_config
    meta = config.meta or {}
    details = result.result or {}
    observed = details.get("observed_value")
    columns = _column_mismatch((details.get("details") or {}).get("mismatched"))
    return Outcome(
        check=str(meta.get("check", config.type)), expectation=config.type,
        column=config.kwargs.get("column"), severity=str(meta.get("severity", "blocking")),
        success=bool(result.success),
        **{key: details.get(key) for key in _COUNTS_ONLY},
        # Only whole-table counts are kept as observed values: a column's observed value could be a datum.
        observed_value=observed if isinstance(observed, int) and config.kwargs.get("column") is None else None,
        why=str(meta.get("why", "")), columns=columns, counted=str(meta.get("counted", "")),
    )


def run_suites(batches: dict[str, tuple[pd.DataFrame, list]], docs_dir: Path) -> dict[str, GateResult]:
    """Validate each named frame against its expectations in one context; build Data Docs into `docs_dir`."""
    gx = _quiet_imports()
    docs_dir = docs_dir.resolve()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    context.delete_data_docs_site("local_site")
    context.add_data_docs_site(site_name="run_docs", site_config={
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
    })
    source = context.data_sources.add_pandas(name="sfmatch")
    results = {}
    with warnings.catch_warnings():
        # GX's own metric code trips pandas warnings (regex groups, downcasting); they say nothing about the data.
        warnings.simplefilter("ignore")
        for name, (frame, expectations) in batches.items():
            results[name] = _validate(gx, context, source, name, frame, expectations)
        context.build_data_docs(site_names=["run_docs"])
    return results


def _nanosecond_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """GX compares dates a column at a time only at nanosecond resolution, and otherwise a value at a time
    (seconds per extract): parquet gives dates in milliseconds."""
    coarse = {column: "datetime64[ns]" for column, dtype in frame.dtypes.items()
              if pd.api.types.is_datetime64_dtype(dtype) and dtype != "datetime64[ns]"}
    return frame.astype(coarse) if coarse else frame


def _validate(gx, context, source, name: str, frame: pd.DataFrame, expectations: list) -> GateResult:
    frame = _nanosecond_dates(frame)
    batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(name=f"{name}-whole")
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    validation = definition.run(batch_parameters={"dataframe": frame}, result_format=SAFE_RESULT_FORMAT)
    return GateResult(name, len(frame), [_outcome(r) for r in validation.results])


def expectation(kind, check: str, severity: str, why: str, counted: str = "", **kwargs):
    """A GX expectation labelled with our check name, its severity (blocking/warning) and why it exists;
    `counted` names what its counts are of, so a rate and its count are reported on the same base."""
    meta = {"check": check, "severity": severity, "why": why}
    if counted:
        meta["counted"] = counted
    return kind(**kwargs, severity=GX_SEVERITY[severity], meta=meta)


def gx_expectations():
    """The GX expectation classes, imported quietly."""
    _quiet_imports()
    import great_expectations.expectations as gxe

    return gxe
