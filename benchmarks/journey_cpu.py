"""CPU per journey on the load test's own side, without a network: what ``make bench-load`` cannot isolate on
a busy machine (there the bot, the simulator and other work share the cores with Locust).

    .venv/bin/python benchmarks/journey_cpu.py [--journeys 1000] [--repeat 7] [--profile 25]

Runs the benchmark's echo journey (``benchmarks/echo.journey.yaml``) through the load test's
:class:`~easymo_qa.load.driver.JourneyDriver` as one Locust user would, with the webhook POST and the reply
stream replaced by in-process fakes: the fake POST answers 200 and files the echo reply in the stream's
mailbox at once, so every microsecond counted is the harness's (payload, signature, runner, matching,
hygiene, the REPLY event). Prints µs of CPU per journey (best and median of the batches) and, with
``--profile N``, cProfile's top N functions by own time. Compare with a bare FastHttpUser's whole cost
per message in ``make bench-load``.
A script, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sys
import time
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from easymo_qa.hygiene.log import HygieneLog
from easymo_qa.load.driver import JourneyDriver, LoadSession, worker_number_pool
from easymo_qa.load.mix import load_mix
from easymo_qa.load.reply_stream import ReplyStream
from easymo_qa.target import Target

HERE = Path(__file__).resolve().parent
SEQ = count(1)


class EchoResponse:
    """Enough of Locust's ResponseContextManager for :class:`~easymo_qa.load.driver.WebhookChannel`."""

    status_code = 200

    def __init__(self) -> None:
        self.request_meta: dict[str, Any] = {}

    def __enter__(self) -> EchoResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def success(self) -> None:
        pass

    def failure(self, why: str) -> None:
        raise RuntimeError(why)


class EchoHttp:
    """A webhook that ACKs at once and whose bot's reply is at the simulator before the ACK returns."""

    def __init__(self, stream: ReplyStream) -> None:
        self.stream = stream

    def request(self, method: str, url: str, **kwargs: Any) -> EchoResponse:
        value = json.loads(kwargs["data"])["entry"][0]["changes"][0]["value"]
        message = value["messages"][0]
        record = {
            "seq": next(SEQ),
            "to": message["from"],
            "received_at": time.time(),
            "body": {"type": "text", "text": {"body": f"echo: {message['text']['body']}"}},
        }
        self.stream.deliver([record])
        return EchoResponse()


def session() -> LoadSession:
    target = Target(
        env_name="benchmark",
        webhook_url="http://127.0.0.1:9/webhook",
        app_secret="s" * 32,
        verify_token="x",
        phone_number_id="106540352242922",
        display_phone_number="250788000000",
        graph_api_url="http://127.0.0.1:9",
    )
    stream = ReplyStream(target.graph_api_url or "", retention_seconds=5.0)  # never started: no traffic
    numbers = worker_number_pool(target.number_prefix, target.number_length, 0)
    mix = load_mix(HERE / "echo_mix.yaml")
    return LoadSession(target, mix, stream, numbers, httpx.Client(), hygiene=HygieneLog())


def main() -> int:
    parser = argparse.ArgumentParser(description="CPU per load-test journey, without a network")
    parser.add_argument("--journeys", type=int, default=1000, help="journeys per batch")
    parser.add_argument("--repeat", type=int, default=7, help="batches (the best and the median are shown)")
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions")
    args = parser.parse_args()
    load = session()
    events = 0

    def fire(request_type: str, name: str, response_time: float, error: Exception | None) -> None:
        nonlocal events
        events += 1
        if error is not None:
            raise SystemExit(f"a turn failed: {name}: {error}")

    driver = JourneyDriver(load, EchoHttp(load.stream), fire, random.Random(7))
    for _ in range(200):  # warm-up: imports, caches
        driver.run_once()
    profiler = cProfile.Profile() if args.profile else None
    per_journey = []
    for _ in range(args.repeat):  # the machine is shared: the least disturbed batch is the cost
        started = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(args.journeys):
            driver.run_once()
        if profiler:
            profiler.disable()
        per_journey.append(1e6 * (time.process_time() - started) / args.journeys)
    load.other.close()
    per_journey.sort()
    print(
        f"{args.repeat} × {args.journeys} echo journeys: {per_journey[0]:.0f} µs of CPU each at best, "
        f"{per_journey[len(per_journey) // 2]:.0f} µs median (one webhook + one reply; {events} Locust "
        f"events){' under cProfile' if profiler else ''}"
    )
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
