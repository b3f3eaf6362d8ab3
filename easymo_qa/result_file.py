"""Reading a stage's result file (load summary, reliability result, rollback result): one set of checks.

Each file carries a ``schema`` string and is validated by pydantic; every error names the file (and the
JSON line, or the field) and is raised as the caller's own error class.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import TypeAdapter, ValidationError


class _Sourced(Protocol):
    source: str


T = TypeVar("T", bound=_Sourced)


def parse_result(
    data: Any, adapter: TypeAdapter[T], *, schema: str, what: str, error: type[Exception], where: str
) -> T:
    """``data`` (a decoded JSON object) as a result of ``schema``; ``error`` says what is wrong."""
    if not isinstance(data, dict):
        raise error(f"{where}: expected a JSON object")
    if data.get("schema") != schema:
        raise error(f"{where}: schema is {data.get('schema')!r}, expected {schema!r}")
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems = [f"{where}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise error(f"invalid {what}:\n  " + "\n  ".join(problems)) from None


def read_result(
    path: str | Path,
    adapter: TypeAdapter[T],
    *,
    schema: str,
    what: str,
    error: type[Exception],
    file_name: str,
) -> T:
    """Read a result file (or ``DIR/file_name`` for a directory); ``source`` defaults to its path."""
    path = Path(path)
    if path.is_dir():
        path = path / file_name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    result = parse_result(data, adapter, schema=schema, what=what, error=error, where=str(path))
    return result if result.source else replace(result, source=str(path))  # type: ignore[type-var]
