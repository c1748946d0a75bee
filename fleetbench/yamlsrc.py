"""YAML loading that remembers line numbers, so every input error can name file:line.

PyYAML's safe loader is used unchanged except that mappings become :class:`LDict` and
sequences :class:`LList`, which carry the line of the node and of each key or item. Keys are
the scalar's text as written (YAML would turn a host named ``true``, ``123`` or ``1.10`` into a
bool, an int or the float 1.1; a name must stay the name). Values are otherwise plain Python objects. Duplicate keys are an error (PyYAML silently keeps the
last one, which hides typos in inventories).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


class LDict(dict[str, Any]):
    """A mapping loaded from YAML, with ``line`` (1-based) and ``key_lines`` per key."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LList(list[Any]):
    """A sequence loaded from YAML, with ``line`` and ``item_lines``."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when available) with line-keeping containers."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    result = LDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain scalars", key_node.start_mark)
        key = key_node.value          # as written: `true:`, `123:`, `1.10:`, `null:` stay those names
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    result = LList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load(path: Path, error: Callable[[str, str], Exception]) -> Any:
    """Load one YAML file; ``error(where, message)`` builds the exception to raise.

    Raises:
        whatever ``error`` returns, for a missing/unreadable file or a YAML syntax error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(str(path), f"cannot read file ({exc.__class__.__name__}: {exc})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise error(f"{path}:{line}", f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:          # a control character such as NUL: no mark, a position
        line = text.count("\n", 0, exc.position) + 1
        raise error(f"{path}:{line}", f"invalid YAML: control character #x{exc.character:04x} "
                                      "is not allowed (is this a text file?)") from None
    except yaml.YAMLError as exc:
        raise error(str(path), "invalid YAML: " + " ".join(str(exc).split())) from None
