"""Reading the project's own documents (contracts, frameworks, settings, thresholds) with errors that say where."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from data.errors import SfmatchError


def read_document(path: Path, what: str, error: type[SfmatchError]) -> bytes:
    """The file's bytes; an unreadable file raises `error` naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{what} {path}: cannot be read ({exc.strerror})") from None


def parse_yaml(raw: bytes, path: Path, what: str, error: type[SfmatchError]) -> Any:
    """The parsed document; text that is not UTF-8 YAML raises `error` naming the file (and line)."""
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{what} {path.name}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise error(f"{what} {path.name}: not valid YAML{f' at line {mark.line + 1}' if mark else ''}") from None


def read_yaml(path: Path, what: str, error: type[SfmatchError]) -> Any:
    return parse_yaml(read_document(path, what, error), path, what, error)


def validation_problems(exc: ValidationError, limit: int | None = None) -> list[str]:
    """Each problem pydantic found, as 'where: what'."""
    return [f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
            for problem in exc.errors()[:limit]]


Model = TypeVar("Model", bound=BaseModel)


def versioned_path(name_or_path: str | Path, folder: Path) -> Path:
    """A version named in `folder` (`sf-2022` is `folder/sf-2022.yaml`), or a path to a YAML file."""
    candidate = Path(name_or_path)
    return candidate if candidate.suffix in (".yaml", ".yml") else folder / f"{name_or_path}.yaml"


def load_versioned(name_or_path: str | Path, folder: Path, what: str, model: type[Model], error: type[SfmatchError],
                   check: Callable[[Model], list[str]], misfit: str) -> tuple[Model, Path, str]:
    """Read, validate and check a versioned document (a framework, an outcome plan): the model, its path and the
    SHA-256 of the bytes parsed. Every failure raises `error` with what to fix; `check` lists the document's
    problems with what it refers to (the contracts, a framework), reported as "`what` file `misfit`:"."""
    path = versioned_path(name_or_path, folder)
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) if folder.is_dir() else "none"
        raise error(f"{what} '{name_or_path}': no file {path} (available: {available})")
    raw = read_document(path, what, error)  # read once: the hash is of what was parsed
    try:
        document = model.model_validate(parse_yaml(raw, path, what, error))
    except ValidationError as exc:
        raise error("\n".join([f"{what} {path.name} is not valid:",
                               *(f"  - {p}" for p in validation_problems(exc))])) from None
    problems = check(document)
    if problems:
        raise error("\n".join([f"{what} {path.name} {misfit}:", *(f"  - {p}" for p in problems)]))
    return document, path, hashlib.sha256(raw).hexdigest()
