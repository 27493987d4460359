"""Gate results as counts, in Markdown: for the run folder's quality report and the Prefect artifact."""

from __future__ import annotations

import json
from pathlib import Path

from expectations.runner import GateResult


def gate_markdown(title: str, results: dict[str, GateResult]) -> str:
    """What failed and what warned comes first: a reader (or an alert) should not have to find it in a table."""
    lines = [f"# {title}", ""]
    passed = all(result.passed for result in results.values())
    warnings = sum(len(result.warnings) for result in results.values())
    if not passed:
        lines.append("**Failed**: a blocking expectation failed; nothing was published.")
    elif warnings:
        lines.append(f"**Passed with {warnings} warning{'s' if warnings != 1 else ''}**: nothing blocking failed, "
                     "but the run is tagged `warnings` and someone should look at these.")
    else:
        lines.append("**Passed**: nothing blocking failed, nothing warned.")
    for heading, pick in (("Blocking failures", "blocking_failures"), ("Warnings", "warnings")):
        found = [(name, outcome) for name, result in results.items() for outcome in getattr(result, pick)]
        if found:
            lines += ["", f"## {heading}", ""]
            lines += [f"- **{name}**: {outcome.describe()}. {outcome.why}" for name, outcome in found]
    lines += ["", "## Suites", "", "| suite | rows | expectations | blocking failures | warnings |",
              "|---|---:|---:|---:|---:|"]
    for name, result in results.items():
        lines.append(f"| {name} | {result.rows:,} | {len(result.outcomes)} | {len(result.blocking_failures)} | "
                     f"{len(result.warnings)} |")
    return "\n".join(lines) + "\n"


def failure_message(results: dict[str, GateResult]) -> str:
    """One line per blocking failure, for the run's error."""
    return "; ".join(f"{name}: {outcome.describe()}" for name, result in results.items()
                     for outcome in result.blocking_failures)


def write_gate_report(folder: Path, gate: str, markdown: str, results: dict[str, GateResult]) -> Path:
    """`quality/<gate>.md` (for people) and `quality/<gate>.json` (counts per suite); returns the Markdown's path."""
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / f"{gate}.md"
    report.write_text(markdown, encoding="utf-8")
    suites = {name: result.summary() for name, result in results.items()}
    (folder / f"{gate}.json").write_text(json.dumps(suites, indent=2) + "\n", encoding="utf-8")
    return report
