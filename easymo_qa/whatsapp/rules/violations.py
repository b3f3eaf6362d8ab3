"""Pydantic's validation errors as Meta's: each becomes a :class:`RuleViolation` with Graph's code, the
dotted path of the field (``interactive.action.buttons[0].reply.title``) and the message of its details."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from easymo_qa.whatsapp.rules.base import (
    FEATURE_NOT_ENABLED,
    INVALID_PARAMETER,
    NOT_PERMITTED,
    PARAMETER_VALUE_NOT_VALID,
    REQUIRED,
    REQUIRED_PARAMETER_MISSING,
    RuleViolation,
)

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
    code = {REQUIRED: REQUIRED_PARAMETER_MISSING, FEATURE_NOT_ENABLED: NOT_PERMITTED}.get(
        kind, PARAMETER_VALUE_NOT_VALID
    )
    return RuleViolation(layer_code or code, path, message)


def violations(exc: ValidationError, *, tagged: bool) -> list[RuleViolation]:
    """Every error of ``exc`` as Meta would name it; ``tagged`` when the model was a union on ``type``."""
    return [_violation(dict(error), tagged) for error in exc.errors()]
