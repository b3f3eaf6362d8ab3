"""Benchmark baseline (benchmarks/load_throughput.py): a plain Locust ``FastHttpUser`` posting the same signed
webhook payloads as the load test's users, without reply tracking. Not part of the harness.

Reads BENCH_WEBHOOK_URL, BENCH_APP_SECRET and BENCH_PHONE_NUMBER_ID.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from locust import FastHttpUser, constant, task

from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.signing import encode_body, signed_headers

WEBHOOK = os.environ["BENCH_WEBHOOK_URL"]
SECRET = os.environ["BENCH_APP_SECRET"]
BUSINESS = payloads.BusinessPhone(os.environ["BENCH_PHONE_NUMBER_ID"], "250788000000")
NUMBERS = TestNumberPool("25079", 12, shard=9)


class BareWebhookUser(FastHttpUser):
    host = f"{urlsplit(WEBHOOK).scheme}://{urlsplit(WEBHOOK).netloc}"
    wait_time = constant(0)

    @task
    def post_webhook(self) -> None:
        phone = NUMBERS.next()  # a fresh number per message, like a journey user per iteration
        message = payloads.text(phone, "ping")
        body = encode_body(payloads.webhook(BUSINESS, [message], profile_names={phone: "Bench"}))
        self.client.post(WEBHOOK, data=body, headers=signed_headers(body, SECRET), name="webhook")
