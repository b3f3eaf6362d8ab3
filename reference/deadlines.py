"""Deadlines: "if nothing happened by then, do this", as in-process asyncio timers.

A deadline is one ``loop.call_later`` handle, named by a key (``dispatch:<order>``, ``quote:<Q-id>``,
``payment:<reference>``). Scheduling a key again replaces its timer; ``cancel`` drops it when the awaited
thing happened (a driver accepted, the callback came). Nothing polls: an idle deadline costs one heap
entry in the event loop. When one fires, its job is queued on the :class:`~reference.processing.Processor`
behind the messages of ``queue_key`` (the user it concerns), so it never races that user's own messages,
its failures are recorded like any background job's, and shutdown waits for it.

Timers live in memory: a restart forgets them (the state they guard stays in SQLite). Use from the event
loop only.
"""

from __future__ import annotations

import asyncio

from .processing import Job, Processor


class Deadlines:
    def __init__(self, processor: Processor) -> None:
        self._processor = processor
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def schedule(
        self, key: str, delay_s: float, queue_key: str, job: Job, *, name: str, correlation_id: str = ""
    ) -> None:
        """Run ``job`` (queued behind ``queue_key``) in ``delay_s`` seconds, unless cancelled first."""
        self.cancel(key)

        def fire() -> None:
            self._timers.pop(key, None)
            self._processor.run_later(queue_key, job, name=name, correlation_id=correlation_id)

        self._timers[key] = asyncio.get_running_loop().call_later(max(0.0, delay_s), fire)

    def cancel(self, key: str) -> bool:
        """Drop the deadline; True when it was still waiting."""
        timer = self._timers.pop(key, None)
        if timer is None:
            return False
        timer.cancel()
        return True

    def pending(self, key: str) -> bool:
        return key in self._timers

    def __len__(self) -> int:
        return len(self._timers)

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
