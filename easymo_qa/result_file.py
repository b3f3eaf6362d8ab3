"""A stage's result file (load summary, reliability result, rollback result, stage record): one way to
read, check and write them.

Each file carries a ``schema`` string and is validated by pydantic; every error names the file (and the
JSON line, or the field) and is raised as the result's own error class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

from pydantic import Field, TypeAdapter, ValidationError

Count = Annotated[int, Field(ge=0)]  # a count in a result file: never negative


@cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


class ResultFile:
    """Mixed into a frozen dataclass with ``source`` and ``schema`` fields; the subclass names its
    ``SCHEMA``, ``FILE`` (its name inside a reports directory), ``WHAT`` (for messages) and ``ERROR``."""

    SCHEMA: ClassVar[str]
    FILE: ClassVar[str]
    WHAT: ClassVar[str]
    ERROR: ClassVar[type[ValueError]]
    source: str

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> Self:
        """``data`` (a decoded JSON object) as this result; ``ERROR`` says what is wrong, and where."""
        where = where or cls.WHAT
        if not isinstance(data, dict):
            raise cls.ERROR(f"{where}: expected a JSON object")
        if data.get("schema") != cls.SCHEMA:
            raise cls.ERROR(f"{where}: schema is {data.get('schema')!r}, expected {cls.SCHEMA!r}")
        try:
            return _adapter(cls).validate_python(data)
        except ValidationError as exc:
            problems = [f"{where}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise cls.ERROR(f"invalid {cls.WHAT}:\n  " + "\n  ".join(problems)) from None

    @classmethod
    def from_json(cls, path: str | Path) -> Self:
        """Read a result file (or ``DIR/FILE`` for a directory); ``source`` defaults to its path."""
        path = Path(path)
        if path.is_dir():
            path = path / cls.FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise cls.ERROR(f"{path}: cannot read the {cls.WHAT}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise cls.ERROR(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        result = cls.from_dict(data, str(path))
        return result if result.source else replace(result, source=str(path))  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def write(self, path: Path, redact: Callable[[str], str] = lambda text: text) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        path.write_text(redact(text) + "\n", encoding="utf-8")
        return path
