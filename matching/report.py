"""The match report: what the linkage did this run, for the analysts who check it.

One self-contained HTML file (inline SVG, no scripts, nothing fetched), kept in
the run folder. It carries counts, rates, parameters and, for example pairs,
record references with each field's comparison level and weight, but no name,
date of birth, identifier or address: an analyst who needs the values opens
the review queue, which stays with the run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from matching.blocking import RuleReport
from matching.comparisons import levels_of
from matching.linker import LinkageStats
from matching.model import LinkageModel
from matching.partition import WEIGHT_BINS
from matching.scoring import Decision
from matching.spec import LinkageSpec
from matching.standardise import PersonRecords

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Contribution:
    comparison: str
    level: str
    weight: float


@dataclass(frozen=True)
class PairExample:
    group: str
    left: str
    right: str
    probability: float
    weight: float
    contributions: tuple[Contribution, ...]


@dataclass(frozen=True)
class ReportInputs:
    run_id: str
    model: LinkageModel
    model_trained_in_run: bool
    records_per_source: dict[str, int]
    blocking: tuple[RuleReport, ...]
    compared: int
    decisions: dict[str, int]
    contradictions: dict[str, int]
    histogram: np.ndarray
    stats: LinkageStats
    examples: tuple[PairExample, ...]
    identifier_quality: dict[str, dict[str, dict[str, int]]]
    extra_sections: tuple[str, ...] = ()
    """HTML fragments later stages add (the criteria section); rendered as given."""


def threshold_weight(probability: float, prior: float) -> float:
    """The match weight at which a pair reaches this probability."""
    return math.log2(probability / (1 - probability)) - math.log2(prior / (1 - prior))


def _bar_chart(values: list[float], labels: list[str], *, width: int = 760, height: int = 220,
               colours: list[str] | None = None, markers: dict[str, float] | None = None, log: bool = False) -> str:
    """A plain SVG bar chart; markers draw labelled vertical lines at fractional bar positions."""
    n = max(len(values), 1)
    top = max(values) if values else 1
    scale = (lambda v: math.log10(v + 1) / math.log10(top + 1)) if log and top > 0 else (lambda v: v / top if top else 0)
    bar = (width - 60) / n
    parts = [f'<svg viewBox="0 0 {width} {height + 40}" role="img" class="chart">']
    for i, value in enumerate(values):
        h = scale(value) * height
        x = 50 + i * bar
        colour = colours[i] if colours else "#4a6fa5"
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h + 5:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{html.escape(labels[i])}: {value:,.0f}</title></rect>"
        )
    step = max(n // 12, 1)
    for i in range(0, n, step):
        parts.append(f'<text x="{50 + i * bar:.1f}" y="{height + 22}" class="tick">{html.escape(labels[i])}</text>')
    for name, position in (markers or {}).items():
        x = 50 + position * bar
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height + 5}" class="marker"/>')
        parts.append(f'<text x="{x + 3:.1f}" y="12" class="marker-label">{html.escape(name)}</text>')
    parts.append(f'<text x="0" y="12" class="tick">{"log " if log else ""}{top:,.0f}</text></svg>')
    return "".join(parts)


def weight_histogram_svg(histogram: np.ndarray, accept: float, review: float) -> str:
    labels = [f"{edge:+.0f}" for edge in WEIGHT_BINS[:-1]]
    colours = ["#2e7d32" if e >= accept else "#f9a825" if e >= review else "#9e9e9e" for e in WEIGHT_BINS[:-1]]
    position = lambda w: (min(max(w, WEIGHT_BINS[0]), WEIGHT_BINS[-1]) - WEIGHT_BINS[0]) / (WEIGHT_BINS[1] - WEIGHT_BINS[0])  # noqa: E731
    return _bar_chart(
        [float(v) for v in histogram], labels, colours=colours, log=True,
        markers={"review": position(review), "accept": position(accept)},
    )


def waterfall_svg(example: PairExample, prior_bits: float, width: int = 760) -> str:
    """Each field's weight as a step from the prior to the final match weight."""
    steps = [("prior", prior_bits)] + [(f"{c.comparison}: {c.level}", c.weight) for c in example.contributions]
    running = [0.0]
    for _, value in steps:
        running.append(running[-1] + value)
    low, high = min(running + [0.0]), max(running + [0.0])
    span = max(high - low, 1.0)
    row = 22
    height = row * (len(steps) + 1) + 10
    to_x = lambda v: 260 + (v - low) / span * (width - 300)  # noqa: E731
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="chart">']
    parts.append(f'<line x1="{to_x(0):.1f}" x2="{to_x(0):.1f}" y1="0" y2="{height}" class="zero"/>')
    for i, (label, value) in enumerate(steps):
        start, end = running[i], running[i + 1]
        x0, x1 = sorted((to_x(start), to_x(end)))
        colour = "#2e7d32" if value > 0 else "#c62828" if value < 0 else "#9e9e9e"
        y = 5 + i * row
        parts.append(f'<text x="0" y="{y + 14}" class="tick">{html.escape(label)}</text>')
        parts.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{row - 6}" fill="{colour}"/>')
        parts.append(f'<text x="{max(x0, x1) + 4:.1f}" y="{y + 13}" class="tick">{value:+.1f}</text>')
    y = 5 + len(steps) * row
    parts.append(f'<text x="0" y="{y + 14}" class="tick"><tspan font-weight="bold">prior + match weight</tspan></text>')
    parts.append(f'<circle cx="{to_x(running[-1]):.1f}" cy="{y + 8}" r="5" fill="#263238"/>')
    parts.append(f'<text x="{to_x(running[-1]) + 8:.1f}" y="{y + 13}" class="tick">{running[-1]:+.1f}</text></svg>')
    return "".join(parts)


def render_report(inputs: ReportInputs) -> str:
    model = inputs.model
    prior_bits = math.log2(model.prior / (1 - model.prior))
    accept = threshold_weight(model.thresholds.accept, model.prior)
    review = threshold_weight(model.thresholds.review, model.prior)
    sizes = inputs.stats.cluster_sizes
    size_labels = [str(k) for k in sizes]
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    template = environment.get_template("match_report.html.j2")
    return template.render(
        inputs=inputs, model=model, stats=inputs.stats,
        accept_weight=accept, review_weight=review, prior_bits=prior_bits,
        histogram_svg=weight_histogram_svg(inputs.histogram, accept, review),
        sizes_svg=_bar_chart([float(v) for v in sizes.values()], size_labels, height=160, log=True),
        waterfalls=[(example, waterfall_svg(example, prior_bits)) for example in inputs.examples],
        total_records=sum(inputs.records_per_source.values()),
    )


def write_report(inputs: ReportInputs, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(inputs), encoding="utf-8")
    return path


def extreme_rows(pairs: pd.DataFrame, mask: np.ndarray, column: str, count: int, largest: bool = True) -> pd.DataFrame:
    """The rows where `mask` holds with the largest (or smallest) `column`: the rows, in the order,
    `pairs[mask].nlargest(count, column)` gives, without first copying every row the mask holds (millions of
    contradicted pairs at a county's scale)."""
    positions = np.flatnonzero(mask)
    values = pd.Series(pairs[column].to_numpy()[positions])
    chosen = values.nlargest(count) if largest else values.nsmallest(count)
    return pairs.iloc[positions[chosen.index.to_numpy()]]


def pick_examples(spec: LinkageSpec, pairs: pd.DataFrame, weigh: Callable[[pd.DataFrame], np.ndarray],
                  records: PersonRecords, per_group: int = 3) -> tuple[PairExample, ...]:
    """A few pairs from each band, chosen by probability so the same run picks the same pairs; `weigh` gives
    chosen pairs' weights per comparison, as their scores summed them."""
    decision, contradiction = pairs["decision"].to_numpy(), pairs["contradiction"].to_numpy()
    groups = [
        ("accepted, nearest the threshold", extreme_rows(pairs, decision == Decision.ACCEPT, "probability", per_group,
                                                        largest=False)),
        ("for review", extreme_rows(pairs, decision == Decision.REVIEW, "probability", per_group)),
        ("rejected, nearest the review threshold",
         extreme_rows(pairs, (decision == Decision.REJECT) & (contradiction == 0), "probability", per_group)),
        ("rejected by a contradiction", extreme_rows(pairs, contradiction != 0, "weight", per_group)),
    ]
    frame = records.frame
    examples = []
    for label, chosen in groups:
        if chosen.empty:
            continue
        left, right = chosen["left"].to_numpy(), chosen["right"].to_numpy()
        levels = levels_of(chosen, spec.comparisons)
        weights = weigh(chosen)
        for row, (l, r) in enumerate(zip(left, right)):
            contributions = []
            for i, comparison in enumerate(spec.comparisons):
                level = int(levels.matrix[row, i])
                contributions.append(Contribution(
                    comparison.name, comparison.labels[level] if level >= 0 else "no evidence", float(weights[row, i]),
                ))
            examples.append(PairExample(
                group=label,
                left=f"{frame['source'].iloc[l]} {frame['record_id'].iloc[l]}",
                right=f"{frame['source'].iloc[r]} {frame['record_id'].iloc[r]}",
                probability=float(chosen["probability"].iloc[row]), weight=float(chosen["weight"].iloc[row]),
                contributions=tuple(contributions),
            ))
    return tuple(examples)
