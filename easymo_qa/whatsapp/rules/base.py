"""Building blocks of the outbound message models: Meta's error codes, the strict base model, text limits,
item counts and uniqueness, each raising an error whose message is already the one Meta's details carry.

Lengths are counted in characters (Python ``len``), as Meta documents them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

# Meta's layering: 100 is the Graph parameter layer (envelope enums, a value of the wrong JSON type), 131008
# a required parameter missing, 131009 a value that is there and well typed but breaks a content rule.
INVALID_PARAMETER = 100
REQUIRED_PARAMETER_MISSING = 131008
PARAMETER_VALUE_NOT_VALID = 131009
# Graph's "(#10) Application does not have permission for this action": a feature the account lacks.
NOT_PERMITTED = 10

# Error types of our own validators; violations.py maps each to its code.
VALUE_NOT_VALID = "value_not_valid"
REQUIRED = "required"
FEATURE_NOT_ENABLED = "feature_not_enabled"


@dataclass(frozen=True)
class RuleViolation:
    """One broken rule: Meta's error ``code``, the dotted ``path`` of the field, a human ``message``."""

    code: int
    path: str
    message: str


class Strict(BaseModel):
    """Strict JSON types ("-1.9" is not a number, 7 not a string); unknown fields (``context``,
    ``biz_opaque_callback_data``...) pass, as Meta ignores what it does not judge."""

    model_config = ConfigDict(strict=True, extra="ignore")


def rule_error(kind: str, message: str) -> PydanticCustomError:
    """An error of one of our types whose ``message`` is final (no template fields left to fill)."""
    return PydanticCustomError(kind, "{detail}", {"detail": message})


def invalid(message: str) -> PydanticCustomError:
    return rule_error(VALUE_NOT_VALID, message)


def required(message: str) -> PydanticCustomError:
    return rule_error(REQUIRED, message)


def _length_check(label: str, max_len: int | None, nonempty: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if nonempty and not value:
            raise invalid(f"{label} must not be empty")
        if max_len is not None and len(value) > max_len:
            raise invalid(f"{label} must be at most {max_len} characters, got {len(value)}")
        return value

    return check


def text(label: str, max_len: int | None = None, *, nonempty: bool = True) -> Any:
    """A string field; ``max_len`` None where Meta documents no limit, so none is invented here."""
    return Annotated[str, AfterValidator(_length_check(label, max_len, nonempty))]


def _rebuilt(error: dict[str, Any]) -> InitErrorDetails:
    """An error already reported by pydantic, fit to be raised again next to ours (same type and context)."""
    context = {**error.get("ctx", {}), "detail": error["msg"]}
    kind = PydanticCustomError(error["type"], "{detail}", context)
    return InitErrorDetails(type=kind, loc=error["loc"], input=error["input"])


def count(context: str, one: str, many: str, low: int, high: int | None) -> WrapValidator:
    """How many items a list may hold: "<context> allow at most <high> <many>, got <n>".

    The items are validated even when the count is wrong, so both are reported (details join them all).
    """

    def check(items: Any, handler: Callable[[Any], Any]) -> Any:
        n = len(items) if isinstance(items, list) else None
        if n is None or (low <= n and (high is None or n <= high)):
            return handler(items)
        noun = one if low == 1 else many
        message = (
            f"{context} allow at most {high} {many}, got {n}"
            if high is not None and n > high
            else f"{context} need at least {low} {noun}, got {n}"
        )
        details = [InitErrorDetails(type=invalid(message), loc=(), input=items)]
        try:
            handler(items)
        except ValidationError as exc:
            details += [_rebuilt(dict(error)) for error in exc.errors()]
        raise ValidationError.from_exception_data("count", details)

    return WrapValidator(check)


def unique(label: str, values: Callable[[list[Any]], Iterable[str]]) -> AfterValidator:
    """No value of ``values(items)`` twice: "<label> must be unique, 'x' is used more than once"."""

    def check(items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for value in values(items):
            if value in seen:
                raise invalid(f"{label} must be unique, {value!r} is used more than once")
            seen.add(value)
        return items

    return AfterValidator(check)
