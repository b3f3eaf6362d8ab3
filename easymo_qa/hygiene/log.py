"""The per-test hygiene log, and the known issues (``Layout.hygiene_known_issues``) it keeps apart.

A known issue (a rule, a regex on the body, a reason) is a message the SUT is known to get wrong, already
reported: its violations are warnings, listed in every report, failing no test, not counted by any gate.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easymo_qa.hygiene import RULES
from easymo_qa.hygiene.message_parts import body_text
from easymo_qa.hygiene.registry import Registry, Violation
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.yaml_source import YamlSourceError, load_yaml_file


@dataclass(frozen=True)
class KnownIssue:
    """A message the SUT is known to get wrong: its ``rule`` violations become warnings."""

    rule: str
    text: str  # regular expression searched in the message body
    reason: str

    def covers(self, violation: Violation, message: OutboundMessage) -> bool:
        return violation.rule == self.rule and re.search(self.text, body_text(message)) is not None


class KnownIssuesError(ValueError):
    """The known-issues file cannot be used; the message names the file and line."""


def load_known_issues(path: Path, rules: Registry = RULES) -> tuple[KnownIssue, ...]:
    """Read a known-issues file (a list of ``{rule, text, reason}``); a missing file means none."""
    if not path.is_file():
        return ()
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError as exc:
        raise KnownIssuesError(str(exc)) from None
    issues = []
    for i, entry in enumerate(data or []):
        where = lines.where((i,))
        if not isinstance(entry, dict) or set(entry) != {"rule", "text", "reason"}:
            raise KnownIssuesError(f"{where}: a known issue has exactly the keys rule, text and reason")
        if entry["rule"] not in rules:
            raise KnownIssuesError(f"{where}: unknown rule {entry['rule']!r}; rules: {', '.join(rules)}")
        try:
            re.compile(str(entry["text"]))
        except re.error as exc:
            raise KnownIssuesError(f"{where}: text is not a regular expression: {exc}") from None
        issues.append(KnownIssue(str(entry["rule"]), str(entry["text"]), str(entry["reason"])))
    return tuple(issues)


@dataclass
class HygieneLog:
    """The messages one test received and what the rules found in them; safe to share between threads.

    Call it with each :class:`OutboundMessage` (it is the ``on_reply`` of a simulated user). Violations a
    known issue covers go to ``known`` instead of ``violations``.
    """

    known_issues: Sequence[KnownIssue] = ()
    rules: Registry = field(default_factory=lambda: RULES, repr=False)
    checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    known: list[Violation] = field(default_factory=list)
    _seen: set[tuple[str, int]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, message: OutboundMessage) -> list[Violation]:
        key = (message.to, message.seq)
        with self._lock:
            if key in self._seen:
                return []
            self._seen.add(key)
        found = self.rules.check(message)
        known = [v for v in found if any(k.covers(v, message) for k in self.known_issues)]
        new = [v for v in found if v not in known]
        with self._lock:
            self.checked += 1
            self.violations.extend(new)
            self.known.extend(known)
        return new

    def render(self, limit: int = 30) -> str:
        lines = [
            f"message hygiene: {len(self.violations)} violation(s) in {self.checked} message(s) the bot sent"
        ]
        lines += [f"  - {v.line()}" for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"  … and {len(self.violations) - limit} more")
        if self.known:
            lines.append(
                f"  known issues (warnings, see fixtures/hygiene/known-issues.yaml): {len(self.known)}"
            )
            lines += [f"  - {v.line()}" for v in self.known[:limit]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "violations": [v.to_dict() for v in self.violations],
            "known": [v.to_dict() for v in self.known],
        }
