"""Mutation testing of the black-box suite against ``reference/`` with cosmic-ray (``make mutation``)."""

from pathlib import Path

CONFIG = Path("cosmic-ray.toml")
