"""What a hygiene rule reads in a message.

- *visible text*: everything the user reads (body, header, footer, button and row titles, row
  descriptions, section titles, the list button, captions, a location's name and address);
- *body*: the message's main text, where easyMO's audit puts the leading emoji;
- *tap ids*: the button and row ids the user's tap sends back;
- *leading emojis*: the emojis the body starts with, by the Unicode data of the ``regex`` module (the
  hand-kept tables it replaced counted text symbols with no emoji property, ✓ U+2713 or → U+2192).
"""

from __future__ import annotations

import regex

from easymo_qa.whatsapp.outbound import OutboundMessage

# Blanks, then a grapheme cluster (\X: ZWJ sequences, skin tones, keycaps) led by a pictograph or a flag.
_LEADING = regex.compile(r"(?:[ \t]*(?=[\p{Extended_Pictographic}\p{Regional_Indicator}])(\X))*")
_VS16 = "\ufe0f"  # the emoji-presentation selector: ⚠️ and ⚠ are the same emoji to the rules


def body_text(message: OutboundMessage) -> str:
    """The main text: a text message's body, an interactive message's body, a media caption."""
    body = message.body
    kind = str(body.get("type") or "")
    if kind == "text":
        return str((body.get("text") or {}).get("body", ""))
    if kind == "interactive":
        return str(((body.get("interactive") or {}).get("body") or {}).get("text", ""))
    if kind == "location":
        return ""
    return message.text


def visible_texts(message: OutboundMessage) -> list[tuple[str, str]]:
    """``(where, text)`` for everything the user reads."""
    body = message.body
    if not body:
        return [("text", message.text)]
    kind = str(body.get("type") or "")
    out: list[tuple[str, str]] = []
    if kind == "text":
        out.append(("body", str((body.get("text") or {}).get("body", ""))))
    elif kind == "interactive":
        interactive = body.get("interactive") or {}
        for part in ("header", "body", "footer"):
            out.append((part, str((interactive.get(part) or {}).get("text", ""))))
        action = interactive.get("action") or {}
        out.append(("list button", str(action.get("button", ""))))
        for button in action.get("buttons") or []:
            out.append(("button title", str((button.get("reply") or {}).get("title", ""))))
        for section in action.get("sections") or []:
            out.append(("section title", str(section.get("title", ""))))
            for row in section.get("rows") or []:
                out.append(("row title", str(row.get("title", ""))))
                out.append(("row description", str(row.get("description", ""))))
    elif kind == "location":
        place = body.get("location") or {}
        out += [
            ("location name", str(place.get("name", ""))),
            ("location address", str(place.get("address", ""))),
        ]
    elif isinstance(body.get(kind), dict):
        out.append(("caption", str(body[kind].get("caption", ""))))
    return [(where, text) for where, text in out if text]


def tap_ids(message: OutboundMessage) -> list[tuple[str, str]]:
    """``(where, id)`` for every button and row id."""
    return [("button id", i) for i in message.button_ids] + [("row id", i) for i in message.row_ids]


def leading_emojis(text: str) -> list[str]:
    """The emojis a text starts with (before its first word), each without variation selectors."""
    match = _LEADING.match(text)
    return [cluster.replace(_VS16, "") for cluster in match.captures(1)] if match else []
