"""Load ``*.journey.yaml`` files; every schema error names the file and line before any traffic is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from easymo_qa.conversation.model import ACTIONS, Journey
from easymo_qa.yaml_source import LineMap, YamlSourceError, load_yaml_file

JOURNEY_SUFFIX = ".journey.yaml"
SCENARIO_SUFFIX = ".scenario.yaml"  # a synthetic failure scenario: a journey with faults and checks


class JourneyError(ValueError):
    """A journey file that cannot run: ``file:line: what is wrong``."""


def _explain(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error["loc"]]
    if error["type"] == "extra_forbidden":
        if len(loc) == 3 and loc[0] == "steps":
            keys = f"actor, one of {', '.join(ACTIONS)}, expect, expect_silence, note"
            return f"unknown step key '{loc[-1]}'; a step takes {keys}"
        return f"unknown key '{loc[-1]}'"
    if error["type"] == "missing":
        return f"'{loc[-1]}' is required"
    return str(error["msg"]).removeprefix("Value error, ")


def _validation_error(exc: ValidationError, lines: LineMap) -> JourneyError:
    problems = []
    for error in exc.errors():
        # Drop pydantic's union/literal tags so the path matches the YAML.
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
        )
        problems.append(f"{lines.where(loc)}: {_explain(error)}")
    return JourneyError("\n".join(problems))


def _check_references(journey: Journey, lines: LineMap) -> None:
    actors = set(journey.actors)
    named: set[str] = set()
    for i, step in enumerate(journey.steps):
        for j, expect in enumerate(step.expect):
            if expect.since is not None and expect.since not in named | {step.name}:
                raise JourneyError(
                    f"{lines.where(('steps', i, 'expect', j, 'since'))}: no step named '{expect.since}' "
                    f"before this one (named so far: {', '.join(sorted(named)) or 'none'})"
                )
        if step.name is not None:
            named.add(step.name)
        if step.actor and step.actor not in actors:
            raise JourneyError(
                f"{lines.where(('steps', i, 'actor'))}: unknown actor '{step.actor}'; "
                f"declared: {', '.join(sorted(actors))}"
            )
        for j, expect in enumerate(step.expect):
            who = expect.to or step.actor
            if who is None:
                raise JourneyError(
                    f"{lines.where(('steps', i, 'expect', j))}: expectation needs 'to' (no actor acted)"
                )
            if who not in actors:
                raise JourneyError(
                    f"{lines.where(('steps', i, 'expect', j, 'to'))}: unknown actor '{who}'; "
                    f"declared: {', '.join(sorted(actors))}"
                )
        for who in step.expect_silence:
            if who not in actors:
                raise JourneyError(f"{lines.where(('steps', i, 'expect_silence'))}: unknown actor '{who}'")
        for j, allowed in enumerate(step.ignore):
            if allowed.to is not None and allowed.to not in actors:
                raise JourneyError(
                    f"{lines.where(('steps', i, 'ignore', j, 'to'))}: unknown actor '{allowed.to}'"
                )
    for j, allowed in enumerate(journey.ignore):
        if allowed.to is not None and allowed.to not in actors:
            raise JourneyError(f"{lines.where(('ignore', j, 'to'))}: unknown actor '{allowed.to}'")


def load_journey(path: str | Path) -> Journey:
    path = Path(path)
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError as exc:
        raise JourneyError(str(exc)) from None
    if not isinstance(data, dict):
        raise JourneyError(f"{path}:1: a journey file is a mapping with journey, title, actors and steps")
    try:
        journey = Journey.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise _validation_error(exc, lines) from None
    _check_references(journey, lines)
    steps = [
        s.model_copy(update={"line": lines.line_of(("steps", i)) or 0}) for i, s in enumerate(journey.steps)
    ]
    return journey.model_copy(update={"steps": steps})


def find_journeys(directory: Path) -> list[Path]:
    """Journey and scenario files under ``directory``."""
    return sorted(p for suffix in (JOURNEY_SUFFIX, SCENARIO_SUFFIX) for p in directory.rglob(f"*{suffix}"))
