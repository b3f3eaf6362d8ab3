"""Which mutants cannot matter to a black-box test, and why (the documented filter of ``make mutation``).

A mutant is left out (cosmic-ray's "skipped", with the reason as its output) when it changes only:

- **logging**: an argument of a ``log.*`` / ``logger.*`` / ``logging.*`` call (the message, its
  arguments, ``exc_info``): logs are not part of the contract the tests hold the SUT to;
- **annotations**: with ``from __future__ import annotations`` they are never evaluated;
- **the ``__main__`` guard**: argument parsing of ``python -m reference``, which the local stack drives
  with fixed arguments;
- a line marked ``# pragma: no mutate`` (the reason must sit in a comment beside it).

Whole modules that cannot matter (``reference/__main__.py``, the defect switches and the test-fault hook)
are left out by ``excluded-modules`` in ``cosmic-ray.toml``.

Positions are parso's (cosmic-ray's parser): 1-based lines, 0-based *character* columns; the ``ast``
module counts columns in UTF-8 bytes, so spans are converted (the SUT's texts are full of emoji).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

LOGGER_NAMES = frozenset({"log", "logger", "_log", "_logger", "LOG", "logging"})
LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "basicConfig"}
)
PRAGMA = "pragma: no mutate"

Position = tuple[int, int]  # (line 1-based, column 0-based in characters)


@dataclass(frozen=True)
class Span:
    start: Position
    end: Position
    reason: str

    def holds(self, start: Position, end: Position) -> bool:
        return self.start <= start and end <= self.end


def _char_col(lines: list[str], line: int, byte_col: int) -> int:
    return len(lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _span(lines: list[str], node: ast.AST, reason: str) -> Span:
    start = (node.lineno, _char_col(lines, node.lineno, node.col_offset))  # type: ignore[attr-defined]
    end_line = node.end_lineno or node.lineno  # type: ignore[attr-defined]
    end = (end_line, _char_col(lines, end_line, node.end_col_offset or 0))  # type: ignore[attr-defined]
    return Span(start, end, reason)


def _is_log_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in LOGGER_NAMES
        and node.func.attr in LOG_METHODS
    )


def _is_main_guard(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _annotations(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
        return [node.annotation]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
        return [node.returns]
    return []


def excluded_spans(source: str) -> list[Span]:
    """The regions of a module whose mutants cannot matter, each with its reason."""
    lines = source.splitlines()
    spans: list[Span] = []
    for node in ast.walk(ast.parse(source)):
        if _is_log_call(node):
            spans.append(_span(lines, node, "logging call"))
        elif _is_main_guard(node):
            spans.append(_span(lines, node, "__main__ argument parsing"))
        for annotation in _annotations(node):
            spans.append(_span(lines, annotation, "annotation (not evaluated)"))
    for number, text in enumerate(lines, start=1):
        if PRAGMA in text:
            spans.append(Span((number, 0), (number, len(text)), PRAGMA))
    return spans


def exclusion(spans: list[Span], start: Position, end: Position) -> str | None:
    """Why a mutant between ``start`` and ``end`` cannot matter, or None when it may."""
    return next((s.reason for s in spans if s.holds(start, end)), None)
