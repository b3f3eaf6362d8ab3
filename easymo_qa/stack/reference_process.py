"""Starts the embedded reference service as its own process and waits until it is healthy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

import easymo_qa
from easymo_qa.stack import retention
from easymo_qa.stack.lifeline import Lifeline


class StackError(RuntimeError):
    """The local stack could not start; the message says why and where the logs are."""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the child binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_reference_root() -> Path:
    """The folder holding ``reference/``: $EASYMO_REFERENCE_ROOT, the working directory, or the checkout."""
    candidates = []
    if os.environ.get("EASYMO_REFERENCE_ROOT"):
        candidates.append(Path(os.environ["EASYMO_REFERENCE_ROOT"]))
    candidates += [Path.cwd(), Path(easymo_qa.__file__).resolve().parents[1]]
    for root in candidates:
        if (root / "reference" / "__main__.py").is_file():
            return root
    raise StackError(
        "the embedded reference service (reference/) is not in this installation; run from the easymo-qa "
        "checkout, set EASYMO_REFERENCE_ROOT, or target a deployed bot with --env / --env-file"
    )


class ReferenceProcess:
    """``python -m reference`` with the given environment; logs go to ``log_path``."""

    def __init__(self, env: Mapping[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._env = {**os.environ, **env, "REFERENCE_HOST": "127.0.0.1", "REFERENCE_PORT": str(port)}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lifeline: Lifeline | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start and wait until healthy; on any failure or interruption (Ctrl-C) nothing is left running."""
        root = find_reference_root()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The service dies with this process, even when this process is SIGKILLed (see lifeline.py).
        self._lifeline = Lifeline()
        with self.log_path.open("ab") as log:
            retention.hold(log)  # the child inherits the lock with its stdout: its files are kept
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "easymo_qa.stack.guarded", "reference"],
                cwd=root,
                stdout=log,
                stderr=log,
                **self._lifeline.popen_kwargs(self._env),  # type: ignore[arg-type]
            )
        self._lifeline.started()
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise StackError(
                        f"the reference service exited with code {self._proc.returncode} while starting; "
                        f"its log ({self.log_path}) ends with:\n{self._log_tail()}"
                    )
                try:
                    if client.get(f"{self.base_url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise StackError(f"the reference service was not healthy within {timeout:.0f} s; see {self.log_path}")

    def problem(self) -> str | None:
        """Why the running service is gone (it exited), or None while it runs."""
        if self._proc is None or self._proc.poll() is None:
            return None
        return (
            f"the reference service exited with code {self._proc.returncode}; "
            f"its log ({self.log_path}) ends with:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 5.0) -> None:
        try:
            if self._proc is None or self._proc.poll() is not None:
                return
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        finally:
            if self._lifeline is not None:
                self._lifeline.close()
