"""The trained linkage model as a versioned file.

Training happens outside the monthly run (`sfmatch train`, or once when a run
finds no model) and its result is saved as JSON: the m and u probability of
every comparison level, the prior, the thresholds, and a hash of the data it
was trained on. The monthly run loads it, so that a month's links do not move
because the month's data nudged the parameters, and retraining is a deliberate,
recorded act. The file holds probabilities only, never a value from the data.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data.documents import read_document, validation_problems
from data.errors import SfmatchError
from matching.comparisons import Comparison
from matching.review_classifier import ReviewClassifier

MODEL_FORMAT = "sfmatch-linkage-model"
MODEL_VERSION = 2


class ModelError(SfmatchError):
    """A model file that cannot be used with this code."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelParameters(_Frozen):
    label: str
    m: float = Field(gt=0, le=1, description="P(level | same person)")
    u: float = Field(gt=0, le=1, description="P(level | different people)")

    @property
    def weight(self) -> float:
        """Bits of evidence for (positive) or against (negative) a match."""
        return math.log2(self.m / self.u)


class ComparisonParameters(_Frozen):
    name: str
    levels: tuple[LevelParameters, ...]
    tf_levels: tuple[str, ...] = ()

    def level(self, label: str) -> LevelParameters:
        return next(level for level in self.levels if level.label == label)


class Thresholds(_Frozen):
    """Match probabilities: at or above `accept` a link is made; from `review` up to it, an analyst decides."""

    accept: float = Field(0.95, gt=0, lt=1)
    review: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review >= self.accept:
            raise ValueError("the review threshold must be below the accept threshold")
        return self


class TrainingRecord(_Frozen):
    """How the parameters were found, for the audit trail."""

    trained_at: str
    code_version: dict[str, object]
    data_sha256: str
    records: int
    candidate_pairs: int
    random_pairs: int
    sessions: tuple[dict[str, object], ...]


class LinkageModel(_Frozen):
    format: str = MODEL_FORMAT
    format_version: int = MODEL_VERSION
    prior: float = Field(gt=0, lt=1, description="probability that two records drawn at random are the same person")
    comparisons: tuple[ComparisonParameters, ...]
    thresholds: Thresholds = Thresholds()
    blocking_rules: tuple[str, ...]
    training: TrainingRecord
    review_classifier: ReviewClassifier | None = None
    """Learnt from analysts' decisions: settles review-band pairs like those they decided."""

    @property
    def model_id(self) -> str:
        """A short hash of the trained parameters (thresholds are policy, not parameters)."""
        payload = json.dumps(self.model_dump(mode="json", exclude={"training", "thresholds"}), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def comparison(self, name: str) -> ComparisonParameters:
        return next(c for c in self.comparisons if c.name == name)

    def check_matches(self, comparisons: tuple[Comparison, ...]) -> None:
        """The model must have been trained for exactly these comparisons, levels and adjusted levels."""
        expected = [(c.name, c.labels, tuple(level.label for level in c.levels if level.term_frequency is not None))
                    for c in comparisons]
        found = [(c.name, tuple(level.label for level in c.levels), c.tf_levels) for c in self.comparisons]
        if expected != found:
            raise ModelError(
                "the model was trained for other comparisons or levels than this code uses; "
                "train a new model with 'sfmatch train'"
            )

    def with_threshold_overrides(self, accept: float | None, review: float | None) -> LinkageModel:
        """The model with the thresholds a council sets in place of its own; either may be left to the model.

        Both must be probabilities, and review must stay below accept, whichever of the two came from where.
        """
        if accept is None and review is None:
            return self
        chosen_accept = self.thresholds.accept if accept is None else accept
        chosen_review = self.thresholds.review if review is None else review
        for name, value in (("accept_threshold", chosen_accept), ("review_threshold", chosen_review)):
            if not 0 < value < 1:
                raise ModelError(f"{name} {value} is not a probability between 0 and 1")
        if chosen_review >= chosen_accept:
            origin = lambda given: "set" if given is not None else "the model's"  # noqa: E731
            raise ModelError(
                f"review_threshold {chosen_review} ({origin(review)}) must be below accept_threshold "
                f"{chosen_accept} ({origin(accept)}): pairs between the two go to review"
            )
        return self.model_copy(update={"thresholds": Thresholds(accept=chosen_accept, review=chosen_review)})


def save_model(model: LinkageModel, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = model.model_dump(mode="json")
    document["model_id"] = model.model_id
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def load_model(path: Path) -> LinkageModel:
    """Read and validate a model file; an error names what is wrong with it."""
    raw = read_document(path, "model", ModelError)
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelError(f"model {path.name}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        raise ModelError(f"model {path.name}: not an sfmatch linkage model")
    if document.get("format_version") != MODEL_VERSION:
        raise ModelError(f"model {path.name}: format version {document.get('format_version')} is not {MODEL_VERSION}; retrain")
    stated_id = document.pop("model_id", None)
    try:
        model = LinkageModel.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(validation_problems(exc, limit=5))
        raise ModelError(f"model {path.name}: not valid ({problems})") from None
    if stated_id is not None and stated_id != model.model_id:
        raise ModelError(f"model {path.name}: its parameters do not match its model_id; the file was edited")
    return model
