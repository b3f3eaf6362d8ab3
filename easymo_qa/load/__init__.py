"""The load test's reusable parts: journey mix, shared reply stream, latency samples, summary and gates.

Nothing in here imports locust (only ``loadtests/agents.py`` does); gevent is fine, because these modules
are only imported by the locustfile and the benchmarks, where gevent has already patched the process.
"""
