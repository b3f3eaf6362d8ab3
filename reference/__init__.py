"""The embedded easyMO reference service: the default system under test of the QA harness.

It runs as its own process (``python -m reference``), configured only by environment variables, and
talks to the harness over HTTP alone. Nothing outside this package imports it.
"""

from __future__ import annotations

__version__ = "0.1.0"
