"""The staging rehearsal (``make rehearsal``): the staging topology on one machine, every address loopback.

1. ``easymo-qa simulators serve`` starts on its own, with a harness token and the bot's Graph token, as it
   would run in a container next to staging;
2. the reference service starts on its own (``python -m reference``, its own process and environment), its
   Graph, LLM, payments and maps base URLs pointing at that server, as staging's easyMO would;
3. the harness, with ``environments/rehearsal.yaml`` (no embedded stack), runs ``easymo-qa doctor``, then
   the complete sign-off, load stage included: it must say GO;
4. the reference restarts with a defect switch (``--defect``, default ``phone_only_identity``: username-only
   users are never answered) and a short sign-off (the smoke suite) must say NO-GO, naming the smoke stage.

Prints each step and exits 0 when all four hold, 1 otherwise; everything it started is stopped, always.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ENV_FILE = REPO / "environments" / "rehearsal.yaml"
BIN = Path(sys.executable).parent
PHONE_NUMBER_ID = "106540352242922"
START_SECONDS = 30.0


def _say(text: str) -> None:
    sys.stdout.write(f"rehearsal: {text}\n")
    sys.stdout.flush()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL if it lingers: nothing started here outlives the rehearsal."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


@contextmanager
def simulators(secrets_: Mapping[str, str], webhook_url: str, log: Path) -> Iterator[str]:
    """The deployed simulators' server; yields its base URL (read from the one JSON line it prints)."""
    environ = {
        **os.environ,
        "SIM_HARNESS_TOKEN": secrets_["harness"],
        "SIM_GRAPH_TOKEN": secrets_["wa_token"],
        "SIM_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "SIM_WEBHOOK_URL": webhook_url,
        "SIM_APP_SECRET": secrets_["app_secret"],
        "SIM_LLM_API_KEY": secrets_["llm_key"],
        "SIM_PAYMENTS_API_KEY": secrets_["payments_key"],
        "SIM_PAYMENTS_CALLBACK_SECRET": secrets_["callback_secret"],
    }
    command = [str(BIN / "easymo-qa"), "simulators", "serve", "--host", "127.0.0.1", "--port", "0"]
    with log.open("ab") as errors:
        proc = subprocess.Popen(
            command, env=environ, stdout=subprocess.PIPE, stderr=errors, start_new_session=True
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()  # the server prints its URLs once it listens
        if not line:
            raise RuntimeError(f"easymo-qa simulators serve exited with {proc.wait(5)}; see {log}")
        yield str(json.loads(line)["url"])
    finally:
        _stop(proc)


@contextmanager
def reference(settings: Mapping[str, str], port: int, log: Path) -> Iterator[str]:
    """The reference service on its own, as if deployed; yields its base URL once healthy."""
    environ = {**os.environ, **settings, "REFERENCE_HOST": "127.0.0.1", "REFERENCE_PORT": str(port)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reference"], cwd=REPO, env=environ, stdout=out, stderr=out,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the reference service exited with {proc.returncode}; see {log}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the reference service was not healthy within {START_SECONDS:g} s; see {log}"
                )
            time.sleep(0.1)
        yield base
    finally:
        _stop(proc)


def _reference_settings(
    secrets_: Mapping[str, str], sim_url: str, sut_settings: Mapping[str, str], db: Path, defect: str
) -> dict[str, str]:
    """The checklist of docs/deployment.md applied to the reference: its dependencies at the simulators."""
    return {
        **sut_settings,
        "WA_APP_SECRET": secrets_["app_secret"],
        "WA_VERIFY_TOKEN": secrets_["verify_token"],
        "WA_PHONE_ID": PHONE_NUMBER_ID,
        "WA_BOT_NUMBER_E164": "+250788000000",
        "WA_TOKEN": secrets_["wa_token"],
        "WA_GRAPH_BASE_URL": f"{sim_url}/graph",
        "LLM_BASE_URL": f"{sim_url}/llm",
        "LLM_API_KEY": secrets_["llm_key"],
        "PAYMENTS_BASE_URL": f"{sim_url}/payments",
        "PAYMENTS_API_KEY": secrets_["payments_key"],
        "PAYMENTS_CALLBACK_SECRET": secrets_["callback_secret"],
        "MAPS_BASE_URL": f"{sim_url}/maps",
        "ADMIN_TOKEN": secrets_["admin_token"],
        "REFERENCE_DB_PATH": str(db),
        "REFERENCE_DEFECTS": defect,
    }


def _harness(command: list[str], environ: Mapping[str, str]) -> int:
    _say("$ " + " ".join(command))
    return subprocess.run(command, cwd=REPO, env={**os.environ, **environ}, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports-dir", default="reports/rehearsal")
    parser.add_argument("--defect", default="phone_only_identity", help="the defect the NO-GO run must catch")
    parser.add_argument("--skip-go", action="store_true", help="only the NO-GO run (for a quick check)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from easymo_qa.envs import load_environment

    reports = (REPO / args.reports_dir).resolve()
    logs = reports / "processes"
    logs.mkdir(parents=True, exist_ok=True)
    names = ("harness", "wa_token", "app_secret", "verify_token", "llm_key", "payments_key")
    secrets_ = {name: secrets.token_hex(16) for name in (*names, "callback_secret", "admin_token")}
    port = _free_port()
    webhook = f"http://127.0.0.1:{port}/wa-webhook"
    harness_env = {
        "REHEARSAL_WEBHOOK_URL": webhook,
        "REHEARSAL_APP_SECRET": secrets_["app_secret"],
        "REHEARSAL_VERIFY_TOKEN": secrets_["verify_token"],
        "REHEARSAL_HEALTH_URL": f"http://127.0.0.1:{port}/health",
        "REHEARSAL_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "REHEARSAL_HARNESS_TOKEN": secrets_["harness"],
        "REHEARSAL_WA_TOKEN": secrets_["wa_token"],
        "REHEARSAL_ADMIN_URL": f"http://127.0.0.1:{port}",
        "REHEARSAL_ADMIN_TOKEN": secrets_["admin_token"],
    }
    easymo_qa = str(BIN / "easymo-qa")
    problems: list[str] = []
    with simulators(secrets_, webhook, logs / "simulators.log") as sim_url:
        harness_env["REHEARSAL_SIM_URL"] = sim_url
        sut = load_environment(ENV_FILE, {**os.environ, **harness_env}).sut_settings
        _say(f"simulators at {sim_url}; the reference will listen at {webhook}")
        if not args.skip_go:
            settings = _reference_settings(secrets_, sim_url, sut, reports / "healthy.sqlite3", "")
            with reference(settings, port, logs / "reference-healthy.log"):
                if _harness([easymo_qa, "doctor", "--env", "rehearsal"], harness_env) != 0:
                    problems.append("easymo-qa doctor failed on the healthy rehearsal")
                go = reports / "go"
                _harness([easymo_qa, "signoff", "--env", "rehearsal", "--reports-dir", str(go)], harness_env)
                verdict = [easymo_qa, "verdict", str(go / "signoff.json"), "--expect", "GO"]
                if _harness(verdict, harness_env) != 0:
                    problems.append("the sign-off of the healthy rehearsal did not say GO")
        settings = _reference_settings(secrets_, sim_url, sut, reports / "defect.sqlite3", args.defect)
        with reference(settings, port, logs / "reference-defect.log"):
            no_go = reports / "no-go"
            short = ["--suites", "smoke", "--skip-reliability", "--skip-rollback", "--skip-cutover"]
            signoff = [easymo_qa, "signoff", "--env", "rehearsal", *short, "--skip-load", "--reports-dir"]
            _harness([*signoff, str(no_go)], harness_env)
            verdict = [
                easymo_qa,
                "verdict",
                str(no_go / "signoff.json"),
                "--expect",
                "NO-GO",
                "--failed",
                "smoke_stage",
            ]
            if _harness(verdict, harness_env) != 0:
                problems.append(
                    f"the sign-off with the defect {args.defect!r} did not say NO-GO (smoke_stage)"
                )
    # Every secret of the topology (the harness token too) must be masked in everything the harness wrote.
    leaked = sorted(
        f"{path.relative_to(reports)}: {name}"
        for path in reports.rglob("*")
        if path.is_file() and path.parent.name != "processes" and not path.name.endswith(".sqlite3")
        for name, value in secrets_.items()
        if value.encode() in path.read_bytes()
    )
    problems += [f"a secret in the reports: {where}" for where in leaked]
    for problem in problems:
        _say(f"FAILED: {problem}")
    held = "NO-GO under a defect" if args.skip_go else "doctor, GO, and NO-GO under a defect"
    _say(f"passed: {held}" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
