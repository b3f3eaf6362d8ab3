"""``python -m reference``: run the service with uvicorn, configured from the environment.

``--list-defects`` prints the defect switches (``name<TAB>what it breaks``) and exits 0. A missing or
malformed variable, or bad seed data (``file:line: what is wrong``), exits 2 before anything listens.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .config import ConfigError, Settings
from .defects import describe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference", description="The easyMO reference service.")
    parser.add_argument("--list-defects", action="store_true", help="print the defect switches and exit")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    if args.list_defects:
        sys.stdout.write(describe())
        return 0
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.stderr.write(f"reference: configuration error: {exc}\n")
        return 2

    # Imported late so --list-defects and config errors stay instant.
    import uvicorn

    from .app import create_app
    from .seed import SeedError, load_seed

    try:
        seed = load_seed(settings.seed_path)
    except SeedError as exc:
        sys.stderr.write(f"reference: seed error: {exc}\n")
        return 2

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings, seed=seed),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
