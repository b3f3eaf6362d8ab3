"""``reports/messages.{md,csv,json}``: the inventory of a run for reviewers (Markdown: the unapproved
messages with their diffs first, then a table per agent and screen), spreadsheets (CSV) and tools (JSON).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any

from easymo_qa.messages.approved import Review
from easymo_qa.messages.inventory import Entry, Inventory

FILES = ("messages.md", "messages.csv", "messages.json")
CSV_COLUMNS = (
    "key",
    "approved",
    "agent",
    "screen",
    "kind",
    "text",
    "buttons",
    "rows",
    "count",
    "length",
    "emoji",
    "hygiene",
    "first_test",
)


_COLUMNS = (
    "message",
    "kind",
    "buttons / rows",
    "seen",
    "length",
    "emoji",
    "hygiene",
    "approved",
    "first test",
)


def _taps(entry: Entry) -> tuple[str, str]:
    buttons = " · ".join(f"{b['title']} ({b['id']})" for b in entry.buttons)
    rows = " · ".join(f"{r['title']} ({r['id']})" for r in entry.rows)
    return buttons, rows


def _status(review: Review | None) -> Callable[[Entry], str]:
    unapproved = {u.entry.key: u.status for u in review.unapproved} if review else {}
    return lambda e: "—" if review is None else ("yes" if e.key not in unapproved else unapproved[e.key])


def to_json(inventory: Inventory, review: Review | None, approved_file: str) -> dict[str, Any]:
    data = inventory.to_dict()
    data["approved_file"] = approved_file
    if review is not None:
        data["review"] = review.to_dict()
    return data


def to_csv(inventory: Inventory, review: Review | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    status = _status(review)
    for e in inventory.sorted():
        buttons, rows = _taps(e)
        writer.writerow(
            [e.key, status(e), e.agent, e.screen, e.kind, e.text, buttons, rows, e.count, e.length]
            + [" ".join(e.emoji), "; ".join(e.findings), e.first_test]
        )
    return out.getvalue()


def _cell(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>").strip()


def _fence(lines: list[str]) -> list[str]:
    ticks = "```"
    while any(ticks in line for line in lines):
        ticks += "`"
    return [f"{ticks}diff", *lines, ticks]


def to_markdown(inventory: Inventory, review: Review | None, approved_file: str) -> str:
    entries = inventory.sorted()
    lines = ["# The bot's messages", ""]
    seen = sum(e.count for e in entries)
    lines.append(f"{len(entries)} distinct messages ({seen} sent) in this run, grouped by agent and screen.")
    if review is None:
        lines += ["", f"No approved messages file ({approved_file}): nothing was reviewed."]
    else:
        lines += [
            "",
            f"Approved ({approved_file}): {len(review.approved)} · unapproved: {len(review.unapproved)} "
            f"({len(review.changed)} changed, {len(review.unapproved) - len(review.changed)} new) · "
            f"approved but not sent in this run: {len(review.unseen)}.",
        ]
        if review.unapproved:
            lines += ["", "## Unapproved messages", ""]
            lines.append("Review them, then `easymo-qa messages approve` writes them into the approved file.")
            for u in review.unapproved:
                e = u.entry
                lines += ["", f"### {u.status}: {e.agent} / {e.screen} (`{e.key}`, {e.kind})", ""]
                if u.was is not None:
                    lines += [f"Replaces approved `{u.was.key}`. First seen in `{e.first_test}`.", ""]
                else:
                    lines += [f"First seen in `{e.first_test}`.", ""]
                lines += _fence(u.diff())
    status = _status(review)
    for agent, by_agent in groupby(entries, key=lambda e: e.agent):
        lines += ["", f"## {agent}"]
        for screen, by_screen in groupby(by_agent, key=lambda e: e.screen):
            lines += ["", f"### {screen}", ""]
            lines.append("| " + " | ".join(_COLUMNS) + " |")
            lines.append("|---" * len(_COLUMNS) + "|")
            for e in by_screen:
                taps = " / ".join(t for t in _taps(e) if t) or "—"
                cells = [e.text, e.kind, taps, e.count, e.length, " ".join(e.emoji) or "—"]
                cells += ["; ".join(e.findings) or "—", status(e), f"`{e.first_test}`"]
                lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_inventory(
    inventory: Inventory,
    review: Review | None,
    directory: Path,
    *,
    approved_file: str,
    redact: Callable[[str], str] = lambda s: s,
) -> list[Path]:
    """Write ``messages.{md,csv,json}`` (each replaced whole, secrets masked); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        "messages.md": to_markdown(inventory, review, approved_file),
        "messages.csv": to_csv(inventory, review),
        "messages.json": json.dumps(to_json(inventory, review, approved_file), indent=2, ensure_ascii=False)
        + "\n",
    }
    paths = []
    for name, text in texts.items():
        path = directory / name
        partial = path.with_name(f".{name}.partial")
        partial.write_text(redact(text), encoding="utf-8")
        os.replace(partial, path)
        paths.append(path)
    return paths


def read_inventory(path: Path) -> Inventory:
    """``reports/messages.json`` back into an inventory; errors (ValueError) name the file."""
    try:
        return Inventory.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the message inventory: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a message inventory: {exc}") from None
