"""The shape of a JSON document: every key path with the JSON type found there, ids and values left out.

``messages[].from_user_id:string`` says "some item of ``messages`` has a ``from_user_id`` that is a
string". Two payloads have the same shape when they have the same keys, nested the same way, with the same
JSON types; the conformance corpus compares the harness's webhooks with Meta's documented ones that way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent


def load(name: str) -> Any:
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape(node: Any, prefix: str = "") -> set[str]:
    """Every ``path:type`` under ``node``."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            found.add(f"{path}:{json_type(value)}")
            found |= shape(value, path)
    elif isinstance(node, list):
        for item in node:
            found.add(f"{prefix}[]:{json_type(item)}")
            found |= shape(item, f"{prefix}[]")
    return found


def key_of(entry: str) -> str:
    return entry.rsplit(":", 1)[0]


def covered(entry: str, path: str) -> bool:
    """Whether the ``path:type`` entry is ``path`` or lies under it."""
    key = key_of(entry)
    return key == path or key.startswith((f"{path}.", f"{path}[]"))


def under(entries: set[str], path: str) -> set[str]:
    return {e for e in entries if covered(e, path)}


def values_at(node: Any, names: frozenset[str], prefix: str = "") -> set[tuple[str, Any]]:
    """``(path, value)`` for every key in ``names`` whose value is a string (types, statuses...)."""
    found: set[tuple[str, Any]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key in names and isinstance(value, str):
                found.add((path, value))
            found |= values_at(value, names, path)
    elif isinstance(node, list):
        for item in node:
            found |= values_at(item, names, f"{prefix}[]")
    return found
