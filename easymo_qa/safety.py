"""Production safety: what may run against an environment marked ``production: true``.

Without an explicit ``--allow-production`` only the read-only smoke layer runs there (tests marked
``readonly``: health, the verify handshake with a wrong token); a run that asks for synthetic faults, the
reliability storm or the cutover checks (which flip flags for everyone) is refused before anything is
sent, and every other test is deselected. The load test refuses production on its own
(``easymo_qa.load.stack``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path

from easymo_qa.layout import layout

READONLY_MARKER = "readonly"
# Markers (and the layout's folders) of runs that write to the SUT at scale or break it on purpose: always
# refused.
UNSAFE_MARKERS = ("synthetic", "reliability", "rollout", "rollback")
ALLOW_FLAG = "--allow-production"


def refusal(env_name: str, reason: str, selector: str = "") -> str:
    """The one message every refusal prints: why, what does run there, and how to override.

    ``selector`` is how the command named the environment (``--env NAME`` or ``--env-file PATH``).
    """
    selector = selector or f"--env {env_name}"
    return (
        f"refused: environment {env_name!r} is marked production and {reason}. Synthetic faults, "
        f"reliability runs, load and flag changes never run against production by default; only the "
        f"read-only smoke layer does: pytest -m {READONLY_MARKER} {selector}. To run more anyway, pass "
        f"{ALLOW_FLAG} (then remove the test data: easymo-qa cleanup {selector})."
    )


def unsafe_selection(markexpr: str, paths: Sequence[str | Path] = ()) -> str | None:
    """Why ``-m markexpr`` / the command line's paths would run unsafe tests; None when they don't."""
    for marker in UNSAFE_MARKERS:
        if markexpr.strip() and selects_marker(markexpr, marker):
            return f"-m {markexpr!r} selects {marker} tests"
    where = layout()
    unsafe_folders = {where.synthetic.name: "synthetic", where.reliability.name: "reliability"}
    unsafe_folders[where.cutover.name] = "cutover"
    for raw in paths:
        path = Path(str(raw).split("::", 1)[0])
        folder = next((unsafe_folders[p] for p in path.parts if p in unsafe_folders), None)
        if folder is not None or path.name.endswith(".scenario.yaml"):
            return f"{raw} holds {folder or 'synthetic'} tests"
    return None


def selects_marker(markexpr: str, marker: str) -> bool:
    """Does ``-m markexpr`` ask for tests *because* they carry ``marker``?

    True when some combination of the other markers makes the expression select a test with ``marker``
    and reject the same test without it: ``synthetic``, ``needs(x) and reliability`` → yes; ``smoke``,
    ``not smoke``, ``smoke and not synthetic`` → no (production deselects the rest anyway). Marker
    arguments (``needs(x)``) are ignored.
    """
    tokens = re.findall(r"\(|\)|[^\s()]+", re.sub(r"\b(\w+)\([^()]*\)", r"\1", markexpr))
    names = sorted({t for t in tokens if t not in ("(", ")", "and", "or", "not")} - {marker})[:12]
    for bits in itertools.product((False, True), repeat=len(names)):
        values = dict(zip(names, bits, strict=True))
        if _evaluate(tokens, {**values, marker: True}) and not _evaluate(tokens, {**values, marker: False}):
            return True
    return False


def _evaluate(tokens: list[str], values: dict[str, bool]) -> bool:
    parser = _Parser(tokens, values)
    value = parser.expression()
    if parser.position != len(tokens):
        raise ValueError(f"cannot read the mark expression {' '.join(tokens)!r}")
    return value


class _Parser:
    """``expr := and ('or' and)*; and := not ('and' not)*; not := 'not' not | '(' expr ')' | name``."""

    def __init__(self, tokens: list[str], values: dict[str, bool]) -> None:
        self.tokens, self.values, self.position = tokens, values, 0

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError("the mark expression ends too early")
        self.position += 1
        return token

    def expression(self) -> bool:
        value = self._and()
        while self._peek() == "or":
            self._take()
            value = self._and() or value
        return value

    def _and(self) -> bool:
        value = self._not()
        while self._peek() == "and":
            self._take()
            value = self._not() and value
        return value

    def _not(self) -> bool:
        token = self._take()
        if token == "not":
            return not self._not()
        if token == "(":
            value = self.expression()
            if self._take() != ")":
                raise ValueError("unbalanced parentheses in the mark expression")
            return value
        return self.values.get(token, False)
