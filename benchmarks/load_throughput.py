"""Load benchmark: what one Locust worker process drives, and how exactly it measures reply latency.

    .venv/bin/python benchmarks/load_throughput.py [--seconds 15] [--users 50]

Boots the Graph API simulator and ``benchmarks/echo_sut.py`` (a minimal bot that echoes through the Graph
API) on loopback, each in its own process, then runs Locust headless for ``--seconds`` per phase:

1. bare: a plain ``FastHttpUser`` posting the same signed webhook payloads, no reply tracking
   (``benchmarks/bare_locustfile.py``);
2. journeys: ``loadtests/agents.py`` users running a one-step echo journey (send, wait for the reply at
   the Graph API simulator) with the shared reply stream;
3. accuracy: the echo bot replies exactly 50 ms, then 300 ms, after each webhook; the load test's reported
   reply p50 is compared with the injected delay (target: within 2 % + 2 ms);
4. many users: 1,000 journey users pausing 1-3 s between turns, as people do: the Locust process's CPU
   use (target: under 80 % of a core).

Prints messages/s per worker process, the ratio journeys / bare, each process's CPU use, and the
measurement error. A script, not a test: nothing is asserted (DESIGN §8). On a shared machine these
figures move with everything else running; ``benchmarks/journey_cpu.py`` measures the harness's own CPU
per journey without a network (and profiles it), which does not.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from easymo_qa.stack.reference_process import free_port
from easymo_qa.target import Target

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
PHONE_ID = "106540352242922"
TOKEN = "bench-" + secrets.token_hex(6)
SECRET = secrets.token_hex(16)


def serve_graph(port: int) -> None:
    """Child process: the Graph API simulator alone."""
    import uvicorn

    from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app

    app = create_graph_app(
        GraphSimConfig(access_token="", phone_number_id=PHONE_ID, display_phone_number="1")
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up within {timeout:.0f} s")


@dataclass
class Servers:
    graph: subprocess.Popen[bytes]
    sut: subprocess.Popen[bytes] | None
    graph_url: str
    webhook_url: str
    log: Path

    def start_sut(self, delay_ms: float) -> None:
        self.stop_sut()
        port = int(self.webhook_url.rsplit(":", 1)[1].split("/")[0])
        self.sut = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "echo_sut.py"),
                f"--port={port}",
                f"--graph-url={self.graph_url}",
                f"--app-secret={SECRET}",
                f"--access-token={TOKEN}",
                f"--phone-number-id={PHONE_ID}",
                f"--delay-ms={delay_ms}",
            ],
            stderr=self.log.open("ab"),
        )
        wait_up(self.webhook_url, self.sut)

    def stop_sut(self) -> None:
        if self.sut is not None:
            self.sut.terminate()
            self.sut.wait(10)
            self.sut = None

    def stop(self) -> None:
        self.stop_sut()
        self.graph.terminate()
        self.graph.wait(10)


def start_servers(log: Path) -> Servers:
    """The Graph API simulator now; the echo bot with each phase. Their stderr goes to ``log``."""
    graph_port, sut_port = free_port(), free_port()
    graph = subprocess.Popen(
        [sys.executable, __file__, "--serve-graph", str(graph_port)], stderr=log.open("ab")
    )
    graph_url = f"http://127.0.0.1:{graph_port}"
    wait_up(f"{graph_url}/_sim/health", graph)
    return Servers(graph, None, graph_url, f"http://127.0.0.1:{sut_port}/webhook", log)


@dataclass
class PhaseResult:
    messages: int
    seconds: float
    cpu: dict[str, float]  # process -> % of one core over the measured window
    summary: dict[str, object] | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def cpu_window(procs: dict[str, psutil.Process], seconds: float) -> dict[str, float]:
    """Each process's CPU use (% of one core) over the next ``seconds``."""
    before = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
    time.sleep(seconds)
    return {name: 100 * (sum(p.cpu_times()[:2]) - before[name]) / seconds for name, p in procs.items()}


def run_locust(
    args: list[str], env: dict[str, str], servers: Servers, seconds: int, warmup: float = 2.0
) -> tuple[dict[str, float], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "--headless", "--only-summary", "--loglevel", "WARNING", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs = {"locust": psutil.Process(proc.pid), "graph sim": psutil.Process(servers.graph.pid)}
    if servers.sut is not None:
        procs["echo bot"] = psutil.Process(servers.sut.pid)
    time.sleep(warmup)  # start-up and ramp-up
    cpu = cpu_window(procs, max(1.0, seconds - warmup - 1.0))
    code = proc.wait(seconds + 60)
    return cpu, code


def bare_phase(servers: Servers, users: int, seconds: int, out: Path) -> PhaseResult:
    prefix = out / "bare"
    env = {
        "BENCH_WEBHOOK_URL": servers.webhook_url,
        "BENCH_APP_SECRET": SECRET,
        "BENCH_PHONE_NUMBER_ID": PHONE_ID,
    }
    args = ["-f", str(HERE / "bare_locustfile.py"), "-u", str(users), "-r", str(users), "-t", f"{seconds}s"]
    cpu, _ = run_locust([*args, "--csv", str(prefix)], env, servers, seconds)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        count = sum(int(r["Request Count"]) for r in csv.DictReader(fh) if r["Name"] == "webhook")
    return PhaseResult(count, float(seconds), cpu)


def journey_phase(
    servers: Servers, users: int, seconds: int, out: Path, name: str, mix: str = "echo_mix.yaml"
) -> PhaseResult:
    target = Target(
        env_name="benchmark",
        webhook_url=servers.webhook_url,
        app_secret=SECRET,
        verify_token="x",
        phone_number_id=PHONE_ID,
        display_phone_number="250788000000",
        graph_api_url=servers.graph_url,
        reply_seconds=5.0,
    )
    reports = out / name
    (reports / "load").mkdir(parents=True, exist_ok=True)
    target_file = reports / "target.json"
    target_file.write_text(target.to_json())
    args = [
        "-f",
        "loadtests/agents.py",
        "-u",
        str(users),
        "-r",
        str(min(users, 200)),
        "-t",
        f"{seconds}s",
        "--target-file",
        str(target_file),
        "--mix",
        str(HERE / mix),
        "--reports-root",
        str(reports),
        "--profile",
        f"benchmark-{name}",
    ]
    cpu, _ = run_locust(args, {}, servers, seconds, warmup=2.0 + users / min(users, 200))
    summary = json.loads((reports / "load" / "summary.json").read_text())
    webhooks = summary["types"]["WEBHOOK"]["count"]
    return PhaseResult(webhooks, float(summary["duration_seconds"]), cpu, summary)


def fmt_cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.0f} %" for name, value in cpu.items())


def main() -> int:
    parser = argparse.ArgumentParser(description="Load-test throughput and measurement-error benchmark")
    parser.add_argument("--seconds", type=int, default=15, help="length of each throughput phase (≤ 20)")
    parser.add_argument("--users", type=int, default=50, help="simulated users in the throughput phases")
    parser.add_argument("--accuracy-users", type=int, default=5, help="users in the accuracy phases")
    parser.add_argument("--many-users", type=int, default=1000, help="users in the last phase (0: skip it)")
    parser.add_argument("--serve-graph", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_graph:
        serve_graph(args.serve_graph)
        return 0
    seconds = min(args.seconds, 20)
    print(f"Load benchmark on {os.cpu_count()} CPUs; {seconds} s per phase, {args.users} users")
    with tempfile.TemporaryDirectory(prefix="easymo-bench-") as tmp:
        out = Path(tmp)
        servers = start_servers(out / "servers.log")
        try:
            servers.start_sut(0)
            bare = bare_phase(servers, args.users, seconds, out)
            print(
                f"bare FastHttpUser (no reply tracking): {bare.rate:8.1f} messages/s  [{fmt_cpu(bare.cpu)}]"
            )
            servers.start_sut(0)  # a fresh bot: no replies left over from the bare phase
            ours = journey_phase(servers, args.users, seconds, out, "journeys")
            reply = ours.summary["types"]["REPLY"] if ours.summary else {}  # type: ignore[index]
            print(
                f"journey users + reply tracking:        {ours.rate:8.1f} messages/s  [{fmt_cpu(ours.cpu)}]\n"
                f"  replies seen: {reply.get('count')} ({reply.get('failures')} failed), "
                f"reply p50 {reply.get('p50_ms')} ms, p95 {reply.get('p95_ms')} ms"
            )
            ratio = ours.rate / bare.rate if bare.rate else 0.0
            per_cpu_bare = bare.rate / max(bare.cpu["locust"], 1e-9) * 100
            per_cpu_ours = ours.rate / max(ours.cpu["locust"], 1e-9) * 100
            print(
                f"ratio journeys / bare: {ratio:.2f} (target ≥ 0.8); per CPU-second of the Locust process: "
                f"{per_cpu_ours:.0f} vs {per_cpu_bare:.0f} messages ({per_cpu_ours / per_cpu_bare:.2f})"
            )
            print("Measurement error (reported reply p50 vs the delay injected in the echo bot):")
            for delay in (50.0, 300.0):
                servers.start_sut(delay)
                phase = journey_phase(
                    servers, args.accuracy_users, min(seconds, 10), out, f"delay{int(delay)}"
                )
                stats = phase.summary["types"]["REPLY"]  # type: ignore[index]
                p50 = float(stats["p50_ms"])
                error = p50 - delay
                allowed = 0.02 * delay + 2.0
                verdict = "within" if abs(error) <= allowed else "OUTSIDE"
                print(
                    f"  {delay:5.0f} ms injected: p50 {p50:7.2f} ms, p95 {stats['p95_ms']} ms, "
                    f"{stats['count']} replies ({stats['failures']} failed)"
                    f" → error {error:+.2f} ms ({100 * error / delay:+.2f} %), {verdict} 2 % + 2 ms "
                    f"(±{allowed:.1f} ms)"
                )
            if args.many_users:
                servers.start_sut(0)
                many = journey_phase(servers, args.many_users, 20, out, "many", mix="echo_think_mix.yaml")
                stats = many.summary["types"]["REPLY"]  # type: ignore[index]
                print(
                    f"{args.many_users} users with 1-3 s think time: {many.rate:.0f} messages/s, "
                    f"reply p95 {stats['p95_ms']} ms, {stats['failures']} failed; "
                    f"CPU: {fmt_cpu(many.cpu)} (target: Locust under 80 %)"
                )
        finally:
            servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
