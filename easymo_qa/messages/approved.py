"""The approved messages (``fixtures/messages.approved.yaml``): the reviewed inventory, and the review of a
run's inventory against it.

A message whose key is in the file is approved. Any other is *unapproved*: *changed* when it stands in for
an approved message this run did not send (same kind, screen and tap ids, or the closest text of its kind),
shown as a diff of the two; *new* otherwise. ``easymo-qa messages approve`` rewrites the file from an
inventory, like a snapshot tool, sorted by agent, screen and text so that its diffs stay small.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from easymo_qa.messages.inventory import Entry, Inventory
from easymo_qa.messages.normalise import message_key
from easymo_qa.yaml_source import YamlSourceError, load_yaml_file

_FIELDS = ("key", "agent", "screen", "kind", "text", "buttons", "rows")
_CLOSE_ENOUGH = 0.6  # difflib ratio: below this, an unapproved message is "new", not a changed one
HEADER = """\
# The approved messages: every message the bot may send, reviewed for clarity, grammar, cultural
# sensitivity and emoji (the cutover plan, section 1.1). Written by `easymo-qa messages approve` from a
# sign-off's reports/messages.json; review the diff before committing it. Values that change from run to
# run are placeholders: {amount} {order_id} {id} {code} {phone} {name} {username} {bsuid} {run_id} {time}
# {date} {count} {percent} {distance} {duration} {url} (easymo_qa/messages/normalise.py).
# A message of a run that is not here is "unapproved" (reports/messages.md, gate messages_approved).
# The key is a hash of the rest, recomputed on reading: edit a text, and the message it approves changes.
"""


class ApprovedFileError(ValueError):
    """The approved-messages file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Approved:
    """One approved message."""

    agent: str
    screen: str
    kind: str
    text: str
    buttons: tuple[dict[str, str], ...] = ()
    rows: tuple[dict[str, str], ...] = ()

    @property
    def key(self) -> str:
        return message_key(self.kind, self.text, self.buttons, self.rows)

    @property
    def tap_ids(self) -> tuple[str, ...]:
        return tuple(b["id"] for b in self.buttons) + tuple(r["id"] for r in self.rows)

    @classmethod
    def of(cls, entry: Entry) -> Approved:
        return cls(entry.agent, entry.screen, entry.kind, entry.text, tuple(entry.buttons), tuple(entry.rows))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "agent": self.agent, "screen": self.screen}
        data |= {"kind": self.kind, "text": self.text}
        if self.buttons:
            data["buttons"] = [dict(b) for b in self.buttons]
        if self.rows:
            data["rows"] = [dict(r) for r in self.rows]
        return data


def _taps(value: Any, where: str, name: str) -> tuple[dict[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(t, dict) and "id" in t and set(t) <= {"id", "title", "description"} for t in value
    ):
        raise ApprovedFileError(f"{where}: {name} is a list of {{id, title[, description]}}")
    return tuple({k: str(v) for k, v in t.items()} for t in value)


def load_approved(path: Path) -> dict[str, Approved]:
    """The approved messages by key; a missing file approves nothing. Errors name the file and line."""
    if not path.is_file():
        return {}
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError as exc:
        raise ApprovedFileError(str(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, list):
        raise ApprovedFileError(f"{lines.where(())}: the approved messages are a list")
    approved: dict[str, Approved] = {}
    for i, item in enumerate(data):
        where = lines.where((i,))
        if not isinstance(item, dict) or not {"kind", "text"} <= set(item) or set(item) - set(_FIELDS):
            raise ApprovedFileError(
                f"{where}: an approved message has kind and text, and may have {', '.join(_FIELDS)}"
            )
        message = Approved(
            str(item.get("agent", "")),
            str(item.get("screen", "")),
            str(item["kind"]),
            str(item["text"]),
            _taps(item.get("buttons"), lines.where((i, "buttons")), "buttons"),
            _taps(item.get("rows"), lines.where((i, "rows")), "rows"),
        )
        approved.setdefault(message.key, message)
    return approved


@dataclass
class Unapproved:
    """A message of the run that is not approved, and the approved one it seems to replace (if changed)."""

    entry: Entry
    was: Approved | None = None

    @property
    def status(self) -> str:
        return "changed" if self.was is not None else "new"

    def diff(self) -> list[str]:
        """The approved text against the seen one, line by line (``-`` approved, ``+`` seen)."""
        if self.was is None:
            return [f"+ {line}" for line in _shown(self.entry.text, self.entry.buttons, self.entry.rows)]
        old = _shown(self.was.text, self.was.buttons, self.was.rows)
        new = _shown(self.entry.text, self.entry.buttons, self.entry.rows)
        lines = difflib.unified_diff(old, new, n=len(old) + len(new), lineterm="")
        return [f"{line[0]} {line[1:]}" for line in list(lines)[3:]]  # without the ---, +++ and @@ lines

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "key": e.key,
            "status": self.status,
            "agent": e.agent,
            "screen": e.screen,
            "kind": e.kind,
            "text": e.text,
            "approved_key": self.was.key if self.was else None,
            "approved_text": self.was.text if self.was else None,
            "diff": self.diff(),
            "first_test": e.first_test,
        }


def _shown(text: str, buttons: Any, rows: Any) -> list[str]:
    lines = text.splitlines() or [""]
    lines += [f"[button {b['id']}] {b.get('title', '')}" for b in buttons]
    lines += [f"[row {r['id']}] {r.get('title', '')} {r.get('description', '')}".rstrip() for r in rows]
    return lines


@dataclass
class Review:
    """A run's inventory against the approved messages."""

    approved: list[Entry] = field(default_factory=list)
    unapproved: list[Unapproved] = field(default_factory=list)
    unseen: list[Approved] = field(default_factory=list)  # approved, but not sent in this run

    @property
    def changed(self) -> list[Unapproved]:
        return [u for u in self.unapproved if u.was is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "distinct": len(self.approved) + len(self.unapproved),
            "approved": len(self.approved),
            "unapproved": len(self.unapproved),
            "changed": len(self.changed),
            "new": len(self.unapproved) - len(self.changed),
            "unseen_approved": len(self.unseen),
            "unapproved_messages": [u.to_dict() for u in self.unapproved],
        }


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _twins(a: Approved, entry: Entry) -> bool:
    """The same buttons or rows for the same agent: a text message has no ids to be told by."""
    return bool(entry.tap_ids) and (a.tap_ids, a.agent) == (entry.tap_ids, entry.agent)


def review(inventory: Inventory, approved: dict[str, Approved]) -> Review:
    """Which of the run's messages are approved; each unapproved one matched to at most one approved
    message the run did not send: of its kind, with the same tap ids and agent or a close text, the most
    alike (twins first, then the same screen, then the closest text)."""
    result = Review()
    open_ = [a for key, a in approved.items() if key not in inventory.entries]
    for entry in inventory.sorted():
        if entry.key in approved:
            result.approved.append(entry)
            continue
        scored = [
            (_twins(a, entry), a.screen == entry.screen, _ratio(a.text, entry.text), a)
            for a in open_
            if a.kind == entry.kind
        ]
        pool = [s for s in scored if s[0] or s[2] >= _CLOSE_ENOUGH]
        was = max(pool, key=lambda s: s[:3], default=(None,) * 4)[3]
        if was is not None:
            open_.remove(was)
        result.unapproved.append(Unapproved(entry, was))
    result.unseen = open_
    return result


def _block_strings(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(str, _block_strings)


def render_approved(messages: list[Approved], header: str = HEADER) -> str:
    """The file's text: the header comments, then the messages sorted by agent, screen, text."""
    ordered = sorted(messages, key=lambda a: (a.agent, a.screen, a.text, a.key))
    body = yaml.dump(
        [a.to_dict() for a in ordered], Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110
    )
    return header.rstrip("\n") + "\n" + (body if ordered else "[]\n")


def header_of(path: Path) -> str:
    """The comment lines a file starts with (kept when the file is rewritten), else the default header."""
    if not path.is_file():
        return HEADER
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else HEADER


@dataclass
class Approval:
    """What ``messages approve`` did to the file."""

    added: list[Approved] = field(default_factory=list)
    changed: list[tuple[Approved, Approved]] = field(default_factory=list)  # (was, now)
    removed: list[Approved] = field(default_factory=list)
    kept: list[Approved] = field(default_factory=list)  # approved, not seen, kept (--keep-unseen)


def approve(inventory: Inventory, path: Path, *, keep_unseen: bool = False) -> Approval:
    """Make the inventory the approved messages (and the unseen ones with ``keep_unseen``); write ``path``."""
    current = load_approved(path)
    found = review(inventory, current)
    done = Approval()
    for u in found.unapproved:
        now = Approved.of(u.entry)
        if u.was is not None:
            done.changed.append((u.was, now))
        else:
            done.added.append(now)
    if keep_unseen:
        done.kept = found.unseen
    else:
        done.removed = found.unseen
    messages = [Approved.of(e) for e in found.approved] + [now for _, now in done.changed] + done.added
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_approved(messages + done.kept, header_of(path)), encoding="utf-8")
    return done
