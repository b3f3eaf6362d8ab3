"""The pywa echo bot's own virtualenv: built once from requirements.txt (exact pins, hashes), then reused.

    python tests/any_bot/pywa_bot/env.py      # prints the virtualenv's python, building it if missing

It lives in ``.cache/any-bot/pywa-<digest>/`` (ANY_BOT_CACHE overrides the folder), the digest covering
requirements.txt and the interpreter, so a changed pin or Python gets a fresh one. pywa never enters the
harness's own virtualenv: the venv has no pip of its own, the harness's pip installs into it
(``pip --python``). Stdlib only; safe when several test workers ask at once (a file lock); a build cut
short is redone (``.complete`` is written last). Exits 1 with the failing command and its output.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
REQUIREMENTS = HERE / "requirements.txt"
INSTALL_TIMEOUT_SECONDS = 600


class EnvError(RuntimeError):
    """The virtualenv could not be built; the message names the command that failed."""


def cache_dir() -> Path:
    return Path(os.environ.get("ANY_BOT_CACHE") or REPO / ".cache" / "any-bot")


def env_dir() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(f"{sys.version}|{sys.base_prefix}".encode())
    return cache_dir() / f"pywa-{digest.hexdigest()[:12]}"


def _run(command: list[str]) -> None:
    shown = " ".join(command)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvError(f"`{shown}` could not run: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-3000:]
        raise EnvError(f"`{shown}` exited {done.returncode}:\n{output}")


def ensure() -> Path:
    """The virtualenv's python, after building the virtualenv if it is not there yet."""
    target = env_dir()
    python = target / "bin" / "python"
    marker = target / ".complete"
    if marker.exists():
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():  # another worker built it while we waited
            return python
        shutil.rmtree(target, ignore_errors=True)
        _run([sys.executable, "-m", "venv", "--without-pip", str(target)])
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--require-hashes",
                "--only-binary",
                ":all:",
                "-r",
                str(REQUIREMENTS),
            ]
        )
        _run([str(python), "-c", "import pywa, starlette, uvicorn"])
        marker.write_text(REQUIREMENTS.read_text())
    return python


def main() -> int:
    try:
        python = ensure()
    except EnvError as exc:
        sys.stderr.write(f"could not build the pywa echo bot's virtualenv: {exc}\n")
        return 1
    sys.stdout.write(f"{python}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
