"""Load ``environments/NAME.yaml`` (or any file): expand ``${VAR}``, validate, point errors at file:line."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from easymo_qa.envs.model import Environment
from easymo_qa.yaml_source import LineMap, YamlSourceError, load_yaml_file

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class EnvironmentError_(ValueError):  # noqa: N801 - the builtin EnvironmentError is taken
    """An environment file that cannot be used; the message names the file, line and key.

    ``missing`` lists the unset ``${VAR}`` names (in file order, each once) when that is what is wrong.
    """

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


def resolve_environment_path(name: str, search_dirs: list[Path] | None = None) -> Path:
    """``--env NAME`` → ``environments/NAME.yaml`` in the working directory (or the given dirs)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise EnvironmentError_(f"--env {name!r}: an environment name is letters, digits, '-', '_' or '.'")
    dirs = search_dirs or [Path.cwd() / "environments"]
    for directory in dirs:
        candidate = directory / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    available = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    raise EnvironmentError_(
        f"--env {name!r}: no file {name}.yaml in {', '.join(str(d) for d in dirs)}; "
        f"available: {', '.join(available) or 'none'}"
    )


def _expand(
    value: Any,
    path: tuple[str | int, ...],
    lines: LineMap,
    environ: Mapping[str, str],
    missing: list[tuple[str, str]],
) -> Any:
    """``value`` with every ``${VAR}`` replaced; an unset one (no default) is appended to ``missing`` as
    ``(variable, "file:line: key ... needs ...")`` and left as "", so one run finds them all."""
    if isinstance(value, dict):
        return {k: _expand(v, (*path, k), lines, environ, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*path, i), lines, environ, missing) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        # As in the shell, ``${VAR:-default}`` takes the default when VAR is unset *or empty*: CI systems
        # pass a secret that was never configured as an empty string, which must not replace a default.
        var, default = match.group(1), match.group(2)
        value = environ.get(var)
        if value:
            return value
        if default is not None:
            return default
        if value is not None:  # set but empty: as good as missing for a value the file requires
            return value
        key = ".".join(str(p) for p in path)
        missing.append(
            (var, f"{lines.where(path)}: key '{key}' needs the environment variable {var}, which is not set")
        )
        return ""

    return _VAR.sub(substitute, value)


def _missing_error(missing: list[tuple[str, str]]) -> EnvironmentError_:
    """One error for every unset variable: the one-variable message as it always was, else a list."""
    names = tuple(dict.fromkeys(var for var, _ in missing))
    if len(missing) == 1:
        return EnvironmentError_(missing[0][1], names)
    head = f"{len(names)} environment variables are not set ({', '.join(names)}):"
    if len(names) == 1:
        head = f"the environment variable {names[0]} is not set, and {len(missing)} keys need it:"
    return EnvironmentError_("\n  ".join([head, *(where for _, where in missing)]), names)


def _describe(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def load_environment(path: str | Path, environ: Mapping[str, str] | None = None) -> Environment:
    """Read and validate one environment file. Raises :class:`EnvironmentError_` with file:line."""
    environ = os.environ if environ is None else environ
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError as exc:
        raise EnvironmentError_(str(exc)) from None
    if not isinstance(data, dict):
        raise EnvironmentError_(
            f"{path}: an environment file is a YAML mapping (key: value), got {type(data).__name__}"
        )
    data.setdefault("name", Path(path).stem)
    missing: list[tuple[str, str]] = []
    expanded = _expand(data, (), lines, environ, missing)
    if missing:
        raise _missing_error(missing)
    try:
        return Environment.model_validate(expanded)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            key = ".".join(str(p) for p in loc)
            problems.append(f"{lines.where(loc)}: key '{key}': {_describe(error)}")
        raise EnvironmentError_("invalid environment file:\n  " + "\n  ".join(problems)) from None


def environment_name(path: str | Path) -> str:
    """The ``name:`` of an environment file (its file name without ``.yaml`` when it has none)."""
    try:
        data, _lines = load_yaml_file(path)
    except YamlSourceError:
        data = None
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else Path(path).stem


def declares_production(path: str | Path, environ: Mapping[str, str] | None = None) -> bool:
    """Whether an environment file says ``production: true``, read before anything else is validated.

    Safety checks use it, so a production run is refused for what it is even when a secret it would need
    is not set.
    """
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError:
        return False
    if not isinstance(data, dict):
        return False
    value = data.get("production", False)
    missing: list[tuple[str, str]] = []
    value = _expand(value, ("production",), lines, os.environ if environ is None else environ, missing)
    if missing:
        return True  # ${VAR} unset: assume the worst
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")
