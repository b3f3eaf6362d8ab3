"""``python -m easymo_qa.stack.guarded MODULE [ARGS...]``: run ``python -m MODULE ARGS`` in this process,
stopping it when the process that started it ends (see :mod:`easymo_qa.stack.lifeline`).

Same process, same pid: the parent still stops the child with SIGTERM as before.
"""

from __future__ import annotations

import runpy
import sys

from easymo_qa.stack.lifeline import watch_from_environment


def main() -> None:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: python -m easymo_qa.stack.guarded MODULE [ARGS...]\n")
        sys.exit(2)
    module = sys.argv[1]
    watch_from_environment()
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
