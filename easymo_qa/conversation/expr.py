"""Tiny expressions in journey files, evaluated after ``${var}`` substitution: durations and counts."""

from __future__ import annotations

import re

_TERM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


def duration_seconds(value: float | str) -> float:
    """``2.5`` or ``"400ms + 1s"`` or ``"3s - 300ms"`` → seconds; a bare number is seconds."""
    if isinstance(value, int | float):
        return float(value)
    total = 0.0
    terms = re.split(r"([+-])", value)
    for sign, term in zip(["+", *terms[1::2]], terms[::2], strict=True):
        match = _TERM.match(term)
        if not match:
            raise ValueError(
                f"cannot read duration {value!r}: write terms like 400ms or 1.5s joined by + or -"
            )
        number, unit = float(match.group(1)), match.group(2) or "s"
        seconds = number / 1000 if unit == "ms" else number
        total += seconds if sign == "+" else -seconds
    if total <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    return total


def count_value(value: int | str) -> int:
    """``6`` or ``"1 + 5"`` → an integer."""
    if isinstance(value, int):
        return value
    try:
        return sum(int(term) for term in value.split("+"))
    except ValueError:
        raise ValueError(f"cannot read count {value!r}: write whole numbers joined by +") from None
