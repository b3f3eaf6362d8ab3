"""What a chat session did, in the order it happened: who took part, each action, and what each actor got."""

from __future__ import annotations

from dataclasses import dataclass, field

from easymo_qa.whatsapp.identity import UserKind
from easymo_qa.whatsapp.outbound import OutboundMessage

ROLES = ("buyer", "station", "vendor", "driver")
# Seeded staff the reference service knows (fixtures/seed/marketplace.yaml): the first of each role.
DEFAULT_STAFF = {"station": "250788200001", "vendor": "250788100001", "driver": "250788300001"}


@dataclass(frozen=True)
class ChatActor:
    """One person the engineer played: the journey actor's name, and who the bot saw."""

    name: str  # buyer, station, driver, driver2 ...
    role: str
    phone: str
    seeded: bool  # a seeded staff number (pinned in the journey), else a fresh test number
    identity: UserKind = "phone"
    display_name: str = "Test User"


@dataclass(frozen=True)
class Received:
    """A message the bot sent to one actor, with its latency from the action that set it off."""

    actor: str
    message: OutboundMessage
    latency_ms: float | None  # None for what arrived before any action of the session


@dataclass
class Turn:
    """One action of one actor (send, tap, choose, share, send_media) and every message that followed it."""

    actor: str
    action: str
    value: object  # text / an id / (latitude, longitude) / a media kind
    sent_at: float
    seq_before: int  # the Graph simulator's last seq just before the action: later messages are ours
    title: str = ""  # the tapped button's or chosen row's title, for the transcript
    replies: list[Received] = field(default_factory=list)
    settled_at: float = 0.0  # when the replies to the action had stopped coming (0: never settled)

    def idle(self, reply: Received) -> bool:
        """A message that came after the replies had settled, while the chat waited for the engineer: a
        timer's (a deadline the engineer's pace set off), not a reply to the action."""
        return bool(self.settled_at) and reply.message.received_at > self.settled_at
