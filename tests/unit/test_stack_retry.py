"""The local stack starts again on new ports when another socket took its free port first."""

from __future__ import annotations

from pathlib import Path

import pytest

from easymo_qa.envs import Environment
from easymo_qa.stack import session
from easymo_qa.stack.reference_process import StackError

IN_USE = "the reference service exited with code 3 while starting; ... address already in use"


def test_port_race_is_retried_and_other_errors_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    outcomes = [StackError(IN_USE), StackError(IN_USE), "stack"]

    def once(env: Environment, reports_dir: Path) -> object:
        calls.append(1)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(session, "_start_local_once", once)
    env = Environment(name="local", stack="local")
    assert session._start_local(env, Path("reports")) == "stack"
    assert len(calls) == 3
    outcomes[:] = [StackError(IN_USE)] * 3
    with pytest.raises(StackError, match="address already in use"):
        session._start_local(env, Path("reports"))
    outcomes[:] = [StackError("the seed file is broken")]
    calls.clear()
    with pytest.raises(StackError, match="seed file"):
        session._start_local(env, Path("reports"))
    assert len(calls) == 1
