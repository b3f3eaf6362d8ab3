"""What an interrupted run does: says INTERRUPTED, exits with :data:`INTERRUPTED_EXIT_CODE`, publishes
nothing. Used by the load test (Locust) and by ``easymo-qa signoff`` for its stages.

A stage runs as a child process in a process group of its own, so a Ctrl-C at the terminal reaches only
``easymo-qa signoff``, which forwards exactly one SIGINT to the stage (a second one could cut the stage's
own clean-up short), waits for it to stop, and kills it (its whole group) only after a grace period.
SIGTERM of the sign-off is handled the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO

INTERRUPTED_EXIT_CODE = 130  # what a shell reports for a command stopped by Ctrl-C (128 + SIGINT)
GRACE_SECONDS = 30.0  # a stage stopping its stack and writing its files; then it is killed


class Interrupted(KeyboardInterrupt):
    """This process was asked to stop (Ctrl-C or SIGTERM)."""

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` like Ctrl-C raises KeyboardInterrupt.

    SIGINT is handled too, even when this process was started with it ignored (a shell's background
    job): a handled signal is reset to its default in children, so the stages can be interrupted."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def run_child(
    command: Sequence[str],
    on_line: Callable[[str], None] | None = None,
    grace_seconds: float = GRACE_SECONDS,
) -> int:
    """Run a stage, passing each line of its output (stderr merged) to ``on_line`` (None: the child writes
    to this process's stdout and stderr itself); its exit code.

    On Ctrl-C or SIGTERM (under :func:`sigterm_interrupts`) the child gets one SIGINT, ``grace_seconds``
    to finish, then SIGKILL to its process group; then :class:`Interrupted` is raised. A child that
    exits with :data:`INTERRUPTED_EXIT_CODE` (interrupted by someone else) raises it too.
    """
    piped = on_line is not None
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE if piped else None,
        stderr=subprocess.STDOUT if piped else None,
        stdin=subprocess.DEVNULL,  # not in the terminal's foreground group: it must never read the tty
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,  # Ctrl-C reaches us only; we forward it once
    )
    try:
        _pump(process.stdout, on_line)
        code = process.wait()
    except KeyboardInterrupt as exc:
        name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
        _stop(process, on_line, grace_seconds)
        raise Interrupted(name) from None
    finally:
        if process.stdout is not None:
            process.stdout.close()
    if code == INTERRUPTED_EXIT_CODE:
        raise Interrupted(f"{Path(command[0]).name} {' '.join(command[1:3])} exited {code}")
    return code


def _pump(stream: IO[str] | None, on_line: Callable[[str], None] | None) -> None:
    if stream is None or on_line is None:
        return
    for line in stream:
        on_line(line)


def _stop(
    process: subprocess.Popen[str], on_line: Callable[[str], None] | None, grace_seconds: float
) -> None:
    """One SIGINT, then the child's remaining output while it stops, then SIGKILL after the grace period."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    killer = _Timer(grace_seconds, lambda: _kill_group(process))
    try:
        while True:
            try:
                _pump(process.stdout, on_line)
                process.wait()
                return
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, kill it now
                _kill_group(process)
    finally:
        killer.cancel()


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Timer:
    """A daemon timer (threading.Timer without keeping the interpreter alive)."""

    def __init__(self, seconds: float, action: Callable[[], None]) -> None:
        import threading

        self._timer = threading.Timer(seconds, action)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()
