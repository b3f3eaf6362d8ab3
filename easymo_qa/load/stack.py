"""What the load test targets: an environment file's system, refused unless it is safe to load.

Safety first: an environment marked ``production`` is refused. A target off loopback (127.0.0.0/8, ::1,
localhost) is a shared environment: it is loaded only within its file's ``load.max_users``
(:mod:`easymo_qa.load.policy`); without that policy every endpoint must be on loopback.

For ``stack: local`` the local stack is booted in a child process (:mod:`easymo_qa.load.stack_process`),
not in the Locust process: gevent has patched that process, and the simulators are uvicorn servers on
real threads; in their own process they also get a CPU core of their own. The child stops when its
stdin closes, so a killed Locust never leaves a stack behind. ``--target-file`` reuses a stack that is
already up (the JSON line of ``easymo-qa stack up``, or a :class:`~easymo_qa.target.Target` as JSON).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from easymo_qa.envs import (
    EnvironmentError_,
    declares_production,
    environment_name,
    load_environment,
    resolve_environment_path,
)
from easymo_qa.envs.model import Environment
from easymo_qa.target import Target


class LoadTargetError(RuntimeError):
    """The load test cannot or must not run against this target; the message says why and what to do."""


def load_env(name: str, env_file: str | None, search_dirs: list[Path]) -> tuple[Environment, Path]:
    """The environment (and its file) to load-test; refused when production (see :func:`policy_for` for
    how much load it may take)."""
    try:
        path = Path(env_file) if env_file else resolve_environment_path(name, search_dirs)
        if declares_production(path):  # refused for what it is, even when its secrets are not set
            refuse_production(environment_name(path), True)
        env = load_environment(path)
    except EnvironmentError_ as exc:
        raise LoadTargetError(str(exc)) from None
    refuse_production(env.name, env.production)
    return env, path


def refuse_production(name: str, production: bool) -> None:
    if production:
        raise LoadTargetError(
            f"environment {name!r} is marked production: the load test never runs against production "
            "(it floods the bot with synthetic users). Use --env local."
        )


def is_loopback_url(url: str | None) -> bool:
    if not url:
        return False
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a DNS name: it could resolve anywhere


def check_target(target: Target, shared: bool = False) -> Target:
    """Refuse production, and anything off loopback unless the environment is a capped shared one
    (``shared``, from its policy); the load test always needs a Graph API simulator."""
    refuse_production(target.env_name, target.production)
    if not target.graph_api_url:
        raise LoadTargetError(_off_loopback(target.env_name, "Graph API simulator", None))
    for what, url in (("webhook", target.webhook_url), ("Graph API simulator", target.graph_api_url)):
        if not shared and not is_loopback_url(url):
            raise LoadTargetError(_off_loopback(target.env_name, what, url))
    return target


def _off_loopback(env_name: str, what: str, url: str | None) -> str:
    return (
        f"the {what} of environment {env_name!r} is {url or 'not set'}: the load test sends traffic to "
        "loopback only unless its environment file caps the load (load.max_users). Run it against the local "
        "stack (--env local), or load a shared environment through a file with load.max_users."
    )


def target_from_file(path: Path, env: Environment) -> Target:
    """A running stack's target: a Target as JSON, or the line ``easymo-qa stack up`` prints."""
    try:
        data = json.loads(path.read_text(encoding="utf-8").strip().splitlines()[0])
    except (OSError, IndexError, json.JSONDecodeError) as exc:
        raise LoadTargetError(f"--target-file {path}: cannot read a target from it ({exc})") from None
    if "env_name" in data:
        return Target.from_json(json.dumps(data))
    known = {f.name for f in fields(Target)}
    base = Target.for_environment(
        env,
        webhook_url="",
        app_secret="",
        verify_token="",
        phone_number_id="",
        display_phone_number="",
    )
    values = {k: v for k, v in data.items() if k in known}
    if "defects" in values:
        values["defects"] = tuple(values["defects"] or ())
    return replace(base, **values)


class StackProcess:
    """The local stack of one environment, booted in a child process for the length of a load run."""

    def __init__(self, env_file: Path, reports_dir: Path, log_dir: Path | None = None) -> None:
        self.env_file = env_file
        self.reports_dir = reports_dir
        self.log_path = (log_dir or reports_dir / "load") / "stack.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Target:
        """Boot the stack and return its target (the child gives up by itself when the stack can't start)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "easymo_qa.load.stack_process",
                "--env-file",
                str(self.env_file),
                "--reports-dir",
                str(self.reports_dir),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        log.close()
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # cooperative under gevent; the child prints one line
        if not line:
            self._proc.wait(5)
            raise LoadTargetError(
                f"the local stack did not start (exit code {self._proc.returncode}); {self.log_path} says:\n"
                + self._log_tail()
            )
        return Target.from_json(line.decode("utf-8"))

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the child's signal to stop the stack and exit
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(5)
