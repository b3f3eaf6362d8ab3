"""Where the project's files are: every path the harness reads, in one place, relative to the project root.

The defaults are this repository's layout. A project under test overrides any of them in its own
``pyproject.toml`` (keys are the field names with ``-`` for ``_``)::

    [tool.easymo-qa]
    e2e = "qa/journeys"
    contracts = ["docs/bot-contract.md"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

TABLE = "easymo-qa"


class LayoutError(ValueError):
    """The ``[tool.easymo-qa]`` table cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Layout:
    # Test suites (pytest paths).
    smoke: Path = Path("tests/smoke")
    e2e: Path = Path("tests/e2e")  # *.journey.yaml
    synthetic: Path = Path("tests/synthetic")  # *.scenario.yaml
    reliability: Path = Path("tests/reliability")
    cutover: Path = Path("tests/cutover")
    # Data the harness reads.
    contracts: tuple[Path, ...] = (Path("docs/webhook-contract.md"), Path("docs/conversation-contract.md"))
    sensitivity_probes: Path = Path("fixtures/sensitivity")  # *.yaml
    hygiene_known_issues: Path = Path("fixtures/hygiene/known-issues.yaml")
    messages_approved: Path = Path("fixtures/messages.approved.yaml")  # the reviewed message inventory
    gates: Path = Path("signoff.yaml")
    waivers: Path = Path("waivers.yaml")
    environments: Path = Path("environments")
    load_mix: Path = Path("loadtests/mix.yaml")
    load_test: Path = Path("loadtests/agents.py")  # the locustfile the sign-off's load stage runs
    load_profiles: Path = Path("loadtests/profiles")  # <profile>.conf
    # Where results go.
    reports: Path = Path("reports")

    @property
    def python_suites(self) -> tuple[Path, ...]:
        return (self.smoke, self.reliability, self.cutover)

    @property
    def yaml_suites(self) -> tuple[Path, ...]:
        return (self.e2e, self.synthetic)

    @property
    def rollback_drill(self) -> Path:
        return self.cutover / "test_rollback.py"


def _override(pyproject: Path, key: str, value: object, default: object) -> Path | tuple[Path, ...]:
    where = f"{pyproject}: [tool.{TABLE}] {key}"
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise LayoutError(f"{where} is a list of paths")
        return tuple(Path(v) for v in value)
    if not isinstance(value, str):
        raise LayoutError(f"{where} is a path")
    return Path(value)


def read_layout(root: Path) -> Layout:
    """The layout of the project at ``root``: the defaults, with its ``[tool.easymo-qa]`` overrides."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return Layout()
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get(TABLE, {})
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"{pyproject}: {exc}") from None
    defaults = {f.name.replace("_", "-"): f for f in fields(Layout)}
    unknown = sorted(set(table) - set(defaults))
    if unknown:
        raise LayoutError(
            f"{pyproject}: [tool.{TABLE}] has no {', '.join(unknown)}; known: {', '.join(defaults)}"
        )
    return replace(
        Layout(),
        **{defaults[k].name: _override(pyproject, k, v, defaults[k].default) for k, v in table.items()},
    )


def layout() -> Layout:
    """The layout of the project in the working directory (the harness's commands run from its root)."""
    return read_layout(Path.cwd())
