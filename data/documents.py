"""Reading the project's own documents (contracts, frameworks, settings, thresholds) with errors that say where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

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
