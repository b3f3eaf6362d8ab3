"""Transcript: every turn of a conversation, with timestamps and latencies, for failure reports."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class TranscriptEntry:
    at: float  # epoch seconds
    actor: str  # "buyer 250790000001"
    # in = user → bot, out = bot → user, event = the bot marked the user's message read / is typing
    direction: Literal["in", "out", "note", "event"]
    summary: str
    ack_status: int | None = None
    ack_ms: float | None = None
    reply_ms: float | None = None


@dataclass
class Transcript:
    """Shared by every simulated user of one test, so the conversation reads in order."""

    started_at: float = field(default_factory=time.time)
    entries: list[TranscriptEntry] = field(default_factory=list)
    # Reply latency of every expected reply (ms from the message that caused it), and how many expected
    # replies never came (censored samples: "at least the wait", never a number to average).
    reply_latencies_ms: list[float] = field(default_factory=list)
    replies_timed_out: int = 0

    def add(self, entry: TranscriptEntry) -> None:
        self.entries.append(entry)

    def latency(self, ms: float) -> None:
        self.reply_latencies_ms.append(max(0.0, ms))

    def timed_out(self, count: int = 1) -> None:
        self.replies_timed_out += count

    def note(self, actor: str, text: str) -> None:
        self.add(TranscriptEntry(time.time(), actor, "note", text))

    def render(self) -> str:
        if not self.entries:
            return "(no messages)"
        lines = []
        for e in sorted(self.entries, key=lambda e: e.at):
            offset = f"+{e.at - self.started_at:7.3f}s"
            if e.direction == "in":
                ack = f"  [HTTP {e.ack_status} in {e.ack_ms:.1f} ms]" if e.ack_status is not None else ""
                lines.append(f"{offset}  {e.actor} → bot: {e.summary}{ack}")
            elif e.direction == "out":
                reply = f"  (reply after {e.reply_ms:.1f} ms)" if e.reply_ms is not None else ""
                lines.append(f"{offset}  bot → {e.actor}: {e.summary}{reply}")
            elif e.direction == "event":
                lines.append(f"{offset}  bot {e.summary} ({e.actor})")
            else:
                lines.append(f"{offset}  · {e.actor}: {e.summary}")
        return "\n".join(lines)

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.entries]
