"""A bot message as WhatsApp would show it, in a terminal: formatted text, numbered buttons and list rows,
locations and media, with the reply latency and any hygiene warning inline."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from easymo_qa.hygiene.registry import Violation
from easymo_qa.whatsapp.outbound import OutboundMessage

# WhatsApp's own markup: *bold*, _italic_, ~strikethrough~, ```monospace```, each on one line with its
# markers at word edges ("Dial *182*7*1#" and snake_case stay as typed, as on a phone).
_OPEN, _CLOSE = r"(?<![\w*_~])", r"(?![\w*_~])"
_MARKUP = re.compile(
    r"```(?P<mono>[^\n]+?)```"
    + "".join(
        rf"|{_OPEN}{re.escape(mark)}(?P<{name}>[^{mark}\s](?:[^{mark}\n]*[^{mark}\s])?){re.escape(mark)}{_CLOSE}"
        for mark, name in (("*", "bold"), ("_", "italic"), ("~", "strike"))
    )
)
_STYLES = {"mono": "cyan", "bold": "bold", "italic": "italic", "strike": "strike"}
BAR = "│ "


def whatsapp_text(text: str) -> Text:
    """``text`` with WhatsApp's markup turned into terminal styles (the markers themselves dropped)."""
    out = Text()
    at = 0
    for match in _MARKUP.finditer(text):
        out.append(text[at : match.start()])
        kind = next(k for k, v in match.groupdict().items() if v is not None)
        out.append(match.group(kind), style=_STYLES[kind])
        at = match.end()
    out.append(text[at:])
    return out


def choices(message: OutboundMessage) -> list[tuple[str, str]]:
    """What a user can tap in ``message``, numbered from 1 on screen: (id, title) of buttons or rows."""
    if message.button_ids:
        return list(zip(message.button_ids, message.button_titles, strict=False))
    return list(zip(message.row_ids, message.row_titles, strict=False))


def _lines(text: str) -> list[Text]:
    return [whatsapp_text(line) for line in text.split("\n")] if text else []


def _interactive(interactive: dict[str, Any]) -> list[Text]:
    lines: list[Text] = []
    header = interactive.get("header") or {}
    if header.get("type") == "text":
        lines.append(Text(str(header.get("text", "")), style="bold"))
    elif header:
        lines.append(Text(f"[{header.get('type', 'media')} header]", style="dim"))
    lines += _lines(str((interactive.get("body") or {}).get("text", "")))
    footer = (interactive.get("footer") or {}).get("text")
    if footer:
        lines.append(Text(str(footer), style="dim"))
    action = interactive.get("action") or {}
    kind = interactive.get("type")
    if kind == "button":
        for n, button in enumerate(action.get("buttons") or [], 1):
            reply = button.get("reply") or {}
            lines.append(_choice(n, str(reply.get("title", "")), str(reply.get("id", ""))))
    elif kind == "list":
        lines.append(Text(f"☰ {action.get('button', 'Menu')}", style="bold"))
        n = 0
        for section in action.get("sections") or []:
            if section.get("title"):
                lines.append(Text(f"  {section['title']}", style="underline"))
            for row in section.get("rows") or []:
                n += 1
                lines.append(_choice(n, str(row.get("title", "")), str(row.get("id", ""))))
                if row.get("description"):
                    lines.append(Text(f"        {row['description']}", style="dim"))
    elif kind == "location_request_message":
        lines.append(Text("[📍 Send location]  answer with /location latitude,longitude", style="bold"))
    elif kind == "cta_url":
        parameters = action.get("parameters") or {}
        lines.append(Text(f"[🔗 {parameters.get('display_text', 'Open')}] {parameters.get('url', '')}"))
    else:
        lines.append(Text(f"[interactive {kind}]", style="dim"))
    return lines


def _choice(n: int, title: str, tap_id: str) -> Text:
    line = Text("  ")
    line.append(f"[{n}]", style="bold cyan")
    line.append(f" {title} ")
    line.append(f"({tap_id})", style="dim")
    return line


def body_lines(message: OutboundMessage) -> list[Text]:
    """The message's content, line by line, as the user's phone shows it."""
    body = message.body
    kind = str(body.get("type") or message.kind)
    if kind == "text":
        return _lines(str((body.get("text") or {}).get("body", "")))
    if kind == "interactive":
        return _interactive(body.get("interactive") or {})
    if kind == "location":
        place = body.get("location") or {}
        where = ", ".join(str(place[k]) for k in ("name", "address") if place.get(k))
        return [
            Text(f"📍 {where} ({place.get('latitude')}, {place.get('longitude')})".replace("📍  ", "📍 "))
        ]
    if kind in ("image", "video", "audio", "document", "sticker"):
        media = body.get(kind) or {}
        line = Text(f"[{kind}]", style="bold")
        if media.get("caption"):
            line.append(" ").append_text(whatsapp_text(str(media["caption"])))
        if media.get("link") or media.get("id"):
            line.append(f"  {media.get('link') or 'media id ' + str(media.get('id'))}", style="dim")
        return [line]
    if kind == "reaction":
        return [Text(f"reacted {(body.get('reaction') or {}).get('emoji', '')}")]
    if kind == "template":
        return [Text(f"[template {(body.get('template') or {}).get('name', '')}]")]
    return [Text(message.summary())]


def render_message(
    message: OutboundMessage,
    to: str,
    latency_ms: float | None,
    violations: Sequence[Violation] = (),
    known: Sequence[Violation] = (),
) -> Text:
    """One message: a header (to whom, kind, latency), its content, then hygiene warnings."""
    header = Text("┌ ", style="green")
    header.append(f"bot → {to}", style="bold green")
    header.append(f"  {message.kind}", style="dim")
    if latency_ms is not None:
        header.append(f"  {latency_ms:.0f} ms", style="yellow")
    out = Text("\n").join([header, *(Text(BAR, style="green") + line for line in body_lines(message))])
    for violation in violations:
        out.append(
            f"\n{BAR}⚠ hygiene [{violation.rule}] {violation.detail} (in the {violation.where})", "red"
        )
    for violation in known:
        out.append(f"\n{BAR}⚠ known issue [{violation.rule}] {violation.detail}", "yellow")
    return out
