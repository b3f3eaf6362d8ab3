"""OutboundMessage: one message the SUT sent to a user, as recorded by the Graph API simulator.

The simulator also records *events*: the SUT marking a user's message read (``kind`` ``read``) or showing
him the typing indicator (``typing``, which marks the message read too). They come as OutboundMessages
with ``is_event`` set, ``message_id`` the message they name and no text: never a reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EVENT_KINDS = ("read", "typing")
_EVENT_SUMMARIES = {"read": "marked the message read", "typing": "is typing (and marked the message read)"}


@dataclass(frozen=True)
class OutboundMessage:
    """A reply, flattened to what a QA engineer asserts on: kind, text, button and row ids."""

    seq: int
    wamid: str
    to: str
    kind: (
        str  # text | buttons | list | location | image | audio | document | sticker | video | reaction | ...
    )
    text: str
    received_at: float
    button_ids: tuple[str, ...] = ()
    button_titles: tuple[str, ...] = ()
    row_ids: tuple[str, ...] = ()
    row_titles: tuple[str, ...] = ()
    body: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    is_event: bool = False  # a read / typing event, not a message in the chat
    message_id: str = ""  # an event's: the id of the user's message it marks read

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OutboundMessage:
        body = record.get("body") or {}
        if record.get("event"):
            return cls(
                seq=int(record["seq"]),
                wamid="",
                to=str(record.get("to", "")),
                kind=str(record.get("type") or "read"),
                text="",
                received_at=float(record.get("received_at", 0.0)),
                body=body,
                is_event=True,
                message_id=str(record.get("message_id") or body.get("message_id") or ""),
            )
        kind = str(body.get("type") or "text")
        text = ""
        buttons: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        if kind == "text":
            text = str((body.get("text") or {}).get("body", ""))
        elif kind == "interactive":
            interactive = body.get("interactive") or {}
            parts = [
                (interactive.get("header") or {}).get("text", ""),
                (interactive.get("body") or {}).get("text", ""),
                (interactive.get("footer") or {}).get("text", ""),
            ]
            text = "\n".join(p for p in parts if p)
            action = interactive.get("action") or {}
            sub = interactive.get("type")
            kind = {"button": "buttons", "list": "list"}.get(sub, f"interactive.{sub}")
            buttons = [b.get("reply") or {} for b in action.get("buttons") or []]
            rows = [r for s in action.get("sections") or [] for r in s.get("rows") or []]
        elif kind == "location":
            place = body.get("location") or {}
            text = " ".join(str(place.get(k, "")) for k in ("name", "address") if place.get(k))
        elif isinstance(body.get(kind), dict):
            text = str(body[kind].get("caption", ""))
        return cls(
            seq=int(record["seq"]),
            wamid=str(record.get("wamid", "")),
            to=str(record.get("to", "")),
            kind=kind,
            text=text,
            received_at=float(record.get("received_at", 0.0)),
            button_ids=tuple(str(b.get("id", "")) for b in buttons),
            button_titles=tuple(str(b.get("title", "")) for b in buttons),
            row_ids=tuple(str(r.get("id", "")) for r in rows),
            row_titles=tuple(str(r.get("title", "")) for r in rows),
            body=body,
        )

    @property
    def visible_text(self) -> str:
        """Everything the user reads: body, header, footer, and the titles of buttons and list rows."""
        return "\n".join([self.text, *self.button_titles, *self.row_titles])

    def summary(self, width: int = 90) -> str:
        """One line for transcripts: kind, text (shortened), and the ids a user could tap."""
        if self.is_event:
            return _EVENT_SUMMARIES.get(self.kind, f"{self.kind} event")
        text = " ".join(self.text.split())
        if len(text) > width:
            text = text[: width - 1] + "…"
        line = f'{self.kind} "{text}"'
        if self.button_ids:
            line += f" buttons=[{', '.join(self.button_ids)}]"
        if self.row_ids:
            line += f" rows=[{', '.join(self.row_ids)}]"
        return line
