"""A child process that dies with its parent, however the parent ends (SIGTERM, Ctrl-C, SIGKILL, a crash).

The parent opens a pipe and keeps its write end; the child inherits only the read end and blocks reading
it on a thread. Nothing is ever written: when the parent process ends, for any reason, the kernel closes
its descriptors, the child's read returns end-of-file, and the child sends itself SIGTERM (a graceful
stop), then exits hard if it is still there after a grace period.

Why not ``prctl(PR_SET_PDEATHSIG)``: the signal is sent when the *thread* that created the child exits, not
the process (https://man7.org/linux/man-pages/man2/prctl.2.html, "the parent thread"), so a stack started
from a worker thread would die with that thread; and it is Linux only. The pipe is POSIX and has neither
problem. It relies on the write end reaching no other process: ``os.pipe()`` descriptors are not
inheritable (PEP 446) and ``subprocess`` closes all but ``pass_fds``.

The child side is :mod:`easymo_qa.stack.guarded` (``python -m easymo_qa.stack.guarded MODULE ARGS``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

FD_VARIABLE = "EASYMO_QA_LIFELINE_FD"
GRACE_SECONDS = 15.0  # the reference's uvicorn has a 10 s graceful shutdown


class Lifeline:
    """The parent's end: :meth:`popen_kwargs` for the child, :meth:`close` once the child is gone."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()

    def popen_kwargs(self, env: dict[str, str]) -> dict[str, object]:
        """``subprocess.Popen`` keyword arguments that hand the read end to the child."""
        return {"pass_fds": (self._read,), "env": {**env, FD_VARIABLE: str(self._read)}}

    def started(self) -> None:
        """The child has its copy of the read end; the parent's copy would only keep the pipe open."""
        if self._read >= 0:
            os.close(self._read)
            self._read = -1

    def close(self) -> None:
        """Cut the line (the child stops itself); safe to call twice."""
        self.started()
        if self._write >= 0:
            os.close(self._write)
            self._write = -1


def watch_parent(fd: int, grace_seconds: float = GRACE_SECONDS) -> threading.Thread:
    """In the child: stop this process when ``fd`` (the lifeline's read end) reaches end-of-file."""

    def wait() -> None:
        try:
            while os.read(fd, 1):  # the parent never writes; b"" means every write end is closed
                pass
        except OSError:
            pass
        sys.stderr.write(f"easymo-qa: the process that started me is gone; stopping (pid {os.getpid()})\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(70)  # the graceful stop did not finish in time

    thread = threading.Thread(target=wait, name="lifeline", daemon=True)
    thread.start()
    return thread


def watch_from_environment() -> threading.Thread | None:
    """Start :func:`watch_parent` when the parent handed a lifeline (``EASYMO_QA_LIFELINE_FD``)."""
    value = os.environ.pop(FD_VARIABLE, "")
    if not value.isdigit():
        return None
    return watch_parent(int(value))
