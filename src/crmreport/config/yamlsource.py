"""Reading YAML while remembering the line of every key, so errors can point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from crmreport.errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (with libyaml's parser when PyYAML has it: 1 ms for the demo campaign
    instead of 20), except that a date the calendar lacks (2026-02-30) stays text, so
    validation reports it with its key and line instead of PyYAML raising ValueError."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


class LineMap:
    """Maps a key path such as ("segments", 0, "when") to its 1-based line in the file."""

    def __init__(self, file: str, lines: dict[KeyPath, int]):
        self.file = file
        self._lines = lines

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)

    def problem(self, path: KeyPath, message: str, fix: str = "") -> Problem:
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        return Problem(self.file, self.line(path), key, message, fix)


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse ``path``; raise ConfigError naming the line for syntax errors or duplicate keys."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, None, "", "file not found", "check the path")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(name, None, "", f"not UTF-8 text ({exc.reason})", "save the file as UTF-8")]
        ) from None
    try:
        loader = _Loader(text)
        try:  # parsed once: the nodes give the lines, the same nodes the data
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [Problem(name, line, "", f"invalid YAML: {reason}", "check indentation and quoting")]
        ) from None
    lines: dict[KeyPath, int] = {}
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), lines, problems, name)
    if problems:
        raise ConfigError(problems)
    return data, LineMap(name, lines)


def _walk(
    node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], problems: list[Problem], name: str
) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(
                    Problem(name, key_node.start_mark.line + 1, key, "key appears twice",
                            "keep one of them")
                )
            seen.add(key)
            _walk(value_node, (*path, key), lines, problems, name)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, problems, name)
