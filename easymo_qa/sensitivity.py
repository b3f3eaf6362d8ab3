"""Harness sensitivity: prove that tests can fail, by switching on each defect of the reference service.

Probes come from ``fixtures/sensitivity/*.yaml`` (defect → suite → tests that must fail) and from every
journey's ``defects:`` list. Each probe runs just its tests against the local stack with
``REFERENCE_DEFECTS=<defect>`` and reads the JUnit XML to see which failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # noqa: S405 - parses the JUnit file our own pytest run wrote
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from easymo_qa.conversation.loader import find_journeys, load_journey
from easymo_qa.yaml_source import YamlSourceError, load_yaml_file


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defect: str
    suite: str
    must_fail: list[str]
    select: bool = True  # narrow the run to must_fail with -k (a journey file is one test already)


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    failed: tuple[str, ...]  # the must_fail names that did fail
    seconds: float

    @property
    def caught(self) -> bool:
        return set(self.failed) == set(self.probe.must_fail)


def load_probes(directory: Path) -> list[Probe]:
    probes: list[Probe] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data, lines = load_yaml_file(path)
            if not isinstance(data, list):
                raise YamlSourceError(str(path), 1, "expected a list of {defect, suite, must_fail} entries")
            for i, item in enumerate(data):
                try:
                    probes.append(Probe.model_validate(item))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    raise YamlSourceError(
                        str(path), lines.line_of((i, *first["loc"])), first["msg"]
                    ) from None
        except YamlSourceError as exc:
            raise SystemExit(f"easymo-qa sensitivity: {exc}") from None
    return probes


def journey_probes(directory: Path) -> list[Probe]:
    probes = []
    for path in find_journeys(directory):
        journey = load_journey(path)
        probes += [
            Probe(defect=d, suite=str(path), must_fail=[journey.journey], select=False)
            for d in journey.defects
        ]
    return probes


def _failed_tests(junit: Path) -> set[str]:
    failed: set[str] = set()
    root = ET.parse(junit).getroot()  # noqa: S314 - our own file
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(case.get("name", "").split("[", 1)[0])
    return failed


def run_probe(probe: Probe, workdir: Path) -> ProbeResult:
    workdir.mkdir(parents=True, exist_ok=True)
    junit = workdir / "junit.xml"
    env = {**os.environ, "REFERENCE_DEFECTS": probe.defect}
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", probe.suite, "--env", "local", "-q", "-p", "no:cacheprovider"]
    if probe.select:
        command += ["-k", " or ".join(probe.must_fail)]
    command += [f"--junitxml={junit}"]
    command += ["--reports-dir", str(workdir / "reports")]
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    failed = _failed_tests(junit) if junit.is_file() else set()
    hits = tuple(name for name in probe.must_fail if name in failed)
    return ProbeResult(probe, hits, time.perf_counter() - started)


def main(workers: int = 2, report: Path = Path("reports/sensitivity.json")) -> int:
    probes = load_probes(Path("fixtures/sensitivity"))
    probes += journey_probes(Path("fixtures/journeys")) + journey_probes(Path("fixtures/synthetic"))
    results: list[ProbeResult] = []
    started = time.perf_counter()
    # Each probe boots its own local stack on free ports, so probes can run side by side.
    with (
        tempfile.TemporaryDirectory(prefix="easymo-sensitivity-") as tmp,
        ThreadPoolExecutor(workers) as pool,
    ):
        futures = [pool.submit(run_probe, probe, Path(tmp) / str(i)) for i, probe in enumerate(probes)]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            mark = "caught" if result.caught else "MISSED"
            name = (
                Path(result.probe.suite).name
                if not result.probe.select
                else ", ".join(result.probe.must_fail)
            )
            print(f"  {result.probe.defect:<32} {mark:<7} {result.seconds:5.1f} s  {name}", flush=True)
    missed = [r for r in results if not r.caught]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps(
            [
                {
                    "defect": r.probe.defect,
                    "suite": r.probe.suite,
                    "must_fail": r.probe.must_fail,
                    "caught": r.caught,
                }
                for r in sorted(results, key=lambda r: (r.probe.suite, r.probe.defect))
            ],
            indent=2,
        )
        + "\n"
    )
    elapsed = time.perf_counter() - started
    print(
        f"\nsensitivity: {len(results) - len(missed)} of {len(results)} probes caught in {elapsed:.0f} s",
        flush=True,
    )
    for r in missed:
        print(f"missed: {r.probe.defect} in {r.probe.suite} ({', '.join(r.probe.must_fail)})")
    return 1 if missed else 0
