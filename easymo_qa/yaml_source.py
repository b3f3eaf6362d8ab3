"""YAML loading that remembers where every value came from, so errors can say ``file:line``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class YamlSourceError(ValueError):
    """A YAML file that cannot be read, with the file and line that caused it."""

    def __init__(self, filename: str, line: int | None, message: str) -> None:
        self.filename = filename
        self.line = line
        self.detail = message
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {message}")


@dataclass
class LineMap:
    """Line numbers (1-based) of every mapping value and sequence item, keyed by their path."""

    filename: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get(())

    def where(self, path: Path_) -> str:
        line = self.line_of(path)
        return f"{self.filename}:{line}" if line else self.filename


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int], loader: yaml.SafeLoader) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                raise YamlSourceError("", key_node.start_mark.line + 1, f"duplicate key {key!r}")
            result[key] = _construct(value_node, (*path, key), lines, loader)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """Parse one YAML document; return the plain data and where each piece of it is."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        line_map = LineMap(filename)
        if node is None:
            return None, line_map
        try:
            data = _construct(node, (), line_map.lines, loader)
        except YamlSourceError as exc:
            raise YamlSourceError(filename, exc.line, exc.detail) from None
        return data, line_map
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlSourceError(filename, line, f"not valid YAML: {exc.problem or exc}") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path) -> tuple[Any, LineMap]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlSourceError(str(path), None, f"cannot read file: {exc.strerror}") from None
    return load_yaml(text, str(path))
