"""``python -m easymo_qa.load.stack_process --env-file F``: the local stack for one load run.

Prints the stack's :class:`~easymo_qa.target.Target` as one JSON line on stdout, then runs until its
stdin closes (the load test finished, or died) or it gets SIGTERM, and stops the stack.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from easymo_qa.envs import EnvironmentError_, load_environment
from easymo_qa.stack import start_stack
from easymo_qa.stack.reference_process import StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m easymo_qa.load.stack_process")
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--reports-dir", default="reports")
    args = parser.parse_args(argv)
    try:
        env = load_environment(Path(args.env_file))
        if env.production:
            sys.stderr.write(f"refusing to boot a stack for production environment {env.name!r}\n")
            return 2
        stack = start_stack(env, Path(args.reports_dir))
    except (EnvironmentError_, StackError) as exc:
        sys.stderr.write(f"easymo-qa: {exc}\n")
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to Locust, which then closes our stdin

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        done.set()

    threading.Thread(target=wait_for_eof, name="stdin-eof", daemon=True).start()
    try:
        sys.stdout.write(stack.target.to_json() + "\n")
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
