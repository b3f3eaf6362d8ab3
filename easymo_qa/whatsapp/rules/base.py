"""Building blocks of the outbound message models: Meta's error codes, the strict base model, text limits,
item counts and uniqueness, each raising an error whose message is already the one Meta's details carry;
and :func:`violations`, pydantic's validation errors as Meta's.

Lengths are counted in characters (Python ``len``), as Meta documents them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WrapValidator,
    create_model,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

# Meta's layering: 100 is the Graph parameter layer (envelope enums, a value of the wrong JSON type), 131008
# a required parameter missing, 131009 a value that is there and well typed but breaks a content rule
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes).
INVALID_PARAMETER = 100
REQUIRED_PARAMETER_MISSING = 131008
PARAMETER_VALUE_NOT_VALID = 131009
# "138000 Calling not enabled: Calling APIs are not enabled for this phone number", HTTP 401 (Meta's
# "Troubleshoot WhatsApp Calling Errors", .../whatsapp/calling/troubleshooting, updated 2026-06-24): what a
# calling message gets from a business number whose calling is off, as the simulated one's is.
CALLING_NOT_ENABLED = 138000
CALLING_NOT_ENABLED_HTTP_STATUS = 401

# Error types of our own validators; _violation maps each to its code.
VALUE_NOT_VALID = "value_not_valid"
REQUIRED = "required"
FEATURE_NOT_ENABLED = "feature_not_enabled"
COORDINATE_TYPE = "coordinate_type"  # a location coordinate that is neither a number nor a string


@dataclass(frozen=True)
class RuleViolation:
    """One broken rule: Meta's error ``code``, the dotted ``path`` of the field, a human ``message``, and
    the HTTP status Meta answers it with (400 for every message error but 138000, which is 401)."""

    code: int
    path: str
    message: str
    http_status: int = 400


class Strict(BaseModel):
    """Strict JSON types ("-1.9" is not a number, 7 not a string); unknown fields (``context``,
    ``biz_opaque_callback_data``...) pass, as Meta ignores what it does not judge."""

    model_config = ConfigDict(strict=True, extra="ignore")


def typed_model(kind: str, base: type[Strict], parts: dict[str, Any]) -> type[Strict]:
    """A model whose ``type`` is ``kind``, then ``parts`` in order; an optional part (``X | None``) may be
    left out."""
    fields = {name: (part, None if type(None) in get_args(part) else ...) for name, part in parts.items()}
    return create_model(f"{kind.title()}Message", __base__=base, type=(Literal[kind], ...), **fields)


def union_on_type(models: Iterable[Any]) -> Any:
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007


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


# The envelope's enums belong to Graph's parameter layer: any error there is code 100.
_PARAMETER_LAYER = frozenset({"messaging_product", "recipient_type", "type"})
# Fields whose value is a union tagged on ``type``: pydantic puts the tag in the error's location.
_TAGGED_FIELDS = frozenset({"interactive"})
_EXPECTED = {
    "string_type": "a string",
    "bool_type": "a boolean",
    "float_type": "a number",
    "int_type": "an integer",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    COORDINATE_TYPE: "a number or a string of decimal degrees",
}
_JSON_KINDS = {dict: "object", list: "array", str: "string", bool: "boolean", float: "number", int: "number"}


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for key in loc:
        path += f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
    return path


def _untagged(loc: tuple[int | str, ...], tagged: bool) -> tuple[int | str, ...]:
    """``loc`` without the tags pydantic adds: the message type first, then each tagged field's type."""
    keys = list(loc[1:] if tagged else loc)
    i = 0
    while i < len(keys) - 1:
        if keys[i] in _TAGGED_FIELDS:
            del keys[i + 1]
        i += 1
    return tuple(keys)


def _violation(error: dict[str, Any], tagged: bool) -> RuleViolation:
    kind, ctx, given = error["type"], error.get("ctx") or {}, error["input"]
    path = _path(_untagged(error["loc"], tagged))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        path = f"{path}.type" if path else "type"
    layer_code = INVALID_PARAMETER if path in _PARAMETER_LAYER else None
    if kind in ("missing", "union_tag_not_found"):
        return RuleViolation(layer_code or REQUIRED_PARAMETER_MISSING, path, f"{path} is required")
    if kind in _EXPECTED:
        got = _JSON_KINDS.get(type(given), type(given).__name__)
        return RuleViolation(INVALID_PARAMETER, path, f"{path} must be {_EXPECTED[kind]}, got {got}")
    if kind == "literal_error":
        message = f"{path} must be {ctx['expected']}, got {given!r}"
    elif kind == "union_tag_invalid":
        message = f"{path} must be one of {ctx['expected_tags']}, got '{ctx['tag']}'"
    else:
        message = ctx.get("detail") or f"{path}: {error['msg']}"
    if kind == FEATURE_NOT_ENABLED:
        return RuleViolation(CALLING_NOT_ENABLED, path, message, CALLING_NOT_ENABLED_HTTP_STATUS)
    code = REQUIRED_PARAMETER_MISSING if kind == REQUIRED else PARAMETER_VALUE_NOT_VALID
    return RuleViolation(layer_code or code, path, message)


def violations(exc: ValidationError, *, tagged: bool) -> list[RuleViolation]:
    """Every error of ``exc`` as Meta would name it: Graph's code, the dotted path of the field
    (``interactive.action.buttons[0].reply.title``) and the message of its details; ``tagged`` when the
    model was a union on ``type``."""
    return [_violation(dict(error), tagged) for error in exc.errors()]
