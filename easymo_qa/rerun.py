"""The command that re-runs one failed test exactly as it ran: same environment file, same reference defect
switches, same options that change a verdict, and this virtualenv's pytest (not whatever is on ``PATH``).

The pytest plugin records how the session was invoked (:func:`set_invocation`); anything that writes a
"Reproduce with:" line (the journey runner, the sign-off report) asks :func:`pytest_command`. Without a
recorded invocation (e.g. inside the load test) the environment is named by its name alone.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFECTS_VARIABLE = "REFERENCE_DEFECTS"


@dataclass(frozen=True)
class Invocation:
    """How a test session was started: where from, and the options a re-run needs again."""

    rootdir: Path
    env_name: str = "local"
    env_file: Path | None = None  # ``--env-file`` (wins over ``--env``), absolute
    defects: tuple[str, ...] = ()  # the reference defect switches in force
    options: tuple[str, ...] = field(default_factory=tuple)  # e.g. ("--hygiene=warn",)


_current: Invocation | None = None


def set_invocation(invocation: Invocation | None) -> None:
    """Record (or forget, with None) how this process's test session was invoked."""
    global _current
    _current = invocation


def current_invocation() -> Invocation | None:
    return _current


def _shown(path: Path, rootdir: Path) -> str:
    """A path relative to the directory the command runs from when it is inside it, else absolute."""
    absolute = Path(os.path.abspath(rootdir / path))  # no ``..`` left; symlinks (a venv's python) kept
    try:
        return str(absolute.relative_to(rootdir))
    except ValueError:
        return str(absolute)


def pytest_executable(rootdir: Path, prefix: Path | None = None, python: str | None = None) -> list[str]:
    """This interpreter's environment's ``pytest`` script (``.venv/bin/pytest``), else ``python -m pytest``.

    ``sys.prefix`` is the virtualenv's folder (sys.executable may be a symlink out of it, so it is not
    resolved); a bare ``pytest`` could be another installation without this plugin.
    """
    prefix = Path(sys.prefix) if prefix is None else prefix
    script = prefix / ("Scripts/pytest.exe" if sys.platform == "win32" else "bin/pytest")
    if script.is_file():
        return [_shown(script, rootdir)]
    return [python or sys.executable, "-m", "pytest"]


def pytest_command(
    test: str | Path,
    *,
    env_name: str | None = None,
    defects: Sequence[str] | None = None,
    invocation: Invocation | None = None,
    prefix: Path | None = None,
) -> str:
    """The shell command (run from the session's rootdir) that re-runs ``test`` (a node id or a file).

    ``env_name`` applies only when no invocation was recorded; ``defects`` overrides the recorded ones.
    """
    inv = invocation or _current or Invocation(rootdir=Path.cwd(), env_name=env_name or "local")
    words: list[str] = []
    in_force = tuple(defects) if defects is not None else inv.defects
    if in_force:
        words.append(f"{DEFECTS_VARIABLE}={shlex.quote(','.join(in_force))}")
    words += [shlex.quote(w) for w in pytest_executable(inv.rootdir, prefix)]
    if isinstance(test, Path):
        target = _shown(test, inv.rootdir)
    else:
        path, sep, rest = str(test).partition("::")
        target = _shown(Path(path), inv.rootdir) + sep + rest if path else str(test)
    words.append(shlex.quote(target))
    if inv.env_file is not None:
        words += ["--env-file", shlex.quote(_shown(inv.env_file, inv.rootdir))]
    else:
        words += ["--env", shlex.quote(inv.env_name)]
    words += [shlex.quote(o) for o in inv.options]
    return " ".join(words)


def with_defects(command: str, defects: Sequence[str]) -> str:
    """A recorded shell command, run again under the same reference defect switches."""
    if not defects or command.startswith(f"{DEFECTS_VARIABLE}="):
        return command
    return f"{DEFECTS_VARIABLE}={shlex.quote(','.join(defects))} {command}"
