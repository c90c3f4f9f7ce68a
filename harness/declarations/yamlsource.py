"""Plain, safe YAML loading that remembers where every key and value came from.

PyYAML's node graph carries positions; we build Python values from it ourselves so that
later validation can point at `file:line:col`, and so that anything beyond plain data
(tags, anchors, aliases, merge keys, duplicate keys, several documents) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from harness.declarations.problems import DeclarationError, Mark, Problem, display_path
from harness.reading import read_bounded

PathKey = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_PLAIN_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null")}
# Dates are written unquoted often enough (flag dates, release dates); keep them as text.
_TEXT_TAGS = {f"{_TAG}timestamp"}
_COLLECTION_TAGS = {f"{_TAG}map", f"{_TAG}seq"}
_NUMBER_TAGS = {f"{_TAG}int", f"{_TAG}float"}

DECLARATION_BYTES = 1 << 20
"""The largest declaration file read (the shipped ones are under 30 KiB): a bigger one, or an
endless one, would only cost memory and seconds of parsing."""
NUMBER_CHARACTERS = 100
"""The longest number read: Python refuses to convert integers of over 4,300 digits, and
converting long ones (base 60 included, '1:2:3') takes time quadratic in their length."""


@dataclass
class SourceMap:
    """Positions of values and of mapping keys, by their path from the document root."""

    file: str
    values: dict[PathKey, Mark] = field(default_factory=dict)
    keys: dict[PathKey, Mark] = field(default_factory=dict)

    def locate(self, path: PathKey, *, key: bool = False) -> Mark:
        """The mark of a key or value; falls back to the nearest ancestor that exists."""
        if key and path in self.keys:
            return self.keys[path]
        if key and not path:
            return Mark(self.file, 1, 1)
        for end in range(len(path), -1, -1):
            if path[:end] in self.values:
                return self.values[path[:end]]
        return Mark(self.file, 1, 1)


@dataclass
class Document:
    """A loaded YAML file: its data and where each part of it was written."""

    path: Path
    data: Any
    source: SourceMap


_FastEvents: Any
try:  # libyaml's scanner and parser, which PyYAML's wheels ship: ten times faster here
    from yaml._yaml import CParser as _FastEvents
except ImportError:  # a PyYAML built without libyaml: every file takes the Python parser
    _FastEvents = None


class _StrictComposer(Composer, Resolver):
    """PyYAML's composer over a parser's events, reporting anchors and aliases instead of
    sharing nodes. Only the events come from libyaml (`fast`, where it is there): composing
    stays here, so every node keeps its mark and every anchor is reported. A file libyaml
    refuses is parsed again by PyYAML's own parser, whose messages and limits users see."""

    def __init__(self, stream: str, file: str, *, fast: bool) -> None:
        self._events: Any = _FastEvents(stream) if fast else yaml.SafeLoader(stream)
        Composer.__init__(self)
        Resolver.__init__(self)
        self.file = file
        self.problems: list[Problem] = []

    def check_event(self, *choices: Any) -> bool:
        return bool(self._events.check_event(*choices))

    def peek_event(self) -> Any:
        return self._events.peek_event()

    def get_event(self) -> Any:
        return self._events.get_event()

    def dispose(self) -> None:
        self._events.dispose()

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self.get_event()
            self.problems.append(
                Problem(
                    _mark(self.file, event.start_mark),
                    f"alias '*{event.anchor}' is not allowed: write the value out in full",
                )
            )
            return ScalarNode(f"{_TAG}null", "")  # a stand-in; the alias is already reported
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None:
            self.problems.append(
                Problem(
                    _mark(self.file, event.start_mark),
                    f"anchor '&{event.anchor}' is not allowed: declarations are plain YAML",
                )
            )
            event.anchor = None
        return Composer.compose_node(self, parent, index)  # type: ignore[arg-type]


def _mark(file: str, mark: Any) -> Mark:
    """PyYAML marks are 0-based; editors and our messages are 1-based."""
    if mark is None:
        return Mark(file, 1, 1)
    return Mark(file, mark.line + 1, mark.column + 1)


def load_text(text: str, path: Path) -> Document:
    """Parse one YAML document; raise DeclarationError listing every problem found."""
    file = display_path(path)
    if _FastEvents is not None:
        fast = _StrictComposer(text, file, fast=True)
        try:
            root = fast.get_single_node()
        except (yaml.YAMLError, RecursionError):
            pass  # parsed again below, so that PyYAML's own parser words the problem
        else:
            return _document(path, file, root, fast.problems)
        finally:
            fast.dispose()
    try:
        loader = _StrictComposer(text, file, fast=False)
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        message = f"character #x{error.character:04x} is not allowed in YAML"
        raise DeclarationError([Problem(Mark(file, line, column), message)]) from None
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        where = error.problem_mark or error.context_mark
        mark = _mark(file, where) if where else Mark(file, 1, 1)
        problem = error.problem or str(error)
        if "expected a single document" in str(error.context or ""):
            problem = "only one YAML document per file is allowed"
        raise DeclarationError([Problem(mark, problem)]) from None
    except (yaml.YAMLError, RecursionError) as error:
        reason = "nesting is too deep" if isinstance(error, RecursionError) else str(error)
        raise DeclarationError([Problem(Mark(file, 1, 1), reason)]) from None
    finally:
        loader.dispose()
    return _document(path, file, root, loader.problems)


def _document(path: Path, file: str, root: Node | None, problems: list[Problem]) -> Document:
    """The composed file as data with where each part was written; raises what was found."""
    source = SourceMap(file)
    problems = list(problems)
    try:
        data = _build(root, (), source, problems) if root is not None else None
    except RecursionError:
        raise DeclarationError([Problem(Mark(file, 1, 1), "nesting is too deep")]) from None
    if problems:
        raise DeclarationError(problems)
    return Document(path, data, source)


def load_file(path: Path) -> Document:
    """Read and parse a declaration file; unreadable files are problems too, not tracebacks.
    Only a regular file of at most DECLARATION_BYTES is read (harness.reading)."""
    try:
        text = read_bounded(path, DECLARATION_BYTES, "a declaration file").decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        problem = Problem(Mark(display_path(path), 1, 1), f"cannot read: {reason}")
        raise DeclarationError([problem]) from None
    return load_text(text, path)


def _build(node: Node, path: PathKey, source: SourceMap, problems: list[Problem]) -> Any:
    source.values[path] = _mark(source.file, node.start_mark)
    if isinstance(node, ScalarNode):
        return _scalar(node, source.file, problems)
    if node.tag not in _COLLECTION_TAGS:
        problems.append(Problem(source.values[path], f"tag '{node.tag}' is not allowed"))
        return None
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), source, problems) for i, item in enumerate(node.value)]
    assert isinstance(node, MappingNode)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key_mark = _mark(source.file, key_node.start_mark)
        if key_node.tag == f"{_TAG}merge":
            problems.append(Problem(key_mark, "merge keys ('<<') are not allowed"))
            continue
        if not isinstance(key_node, ScalarNode):
            problems.append(Problem(key_mark, "keys must be plain scalars, not lists or mappings"))
            continue
        key = _scalar(key_node, source.file, problems)
        if key in result:
            first = source.keys[(*path, key)]
            problems.append(
                Problem(key_mark, f"duplicate key '{key}' (first given at line {first.line})")
            )
            continue
        source.keys[(*path, key)] = key_mark
        result[key] = _build(value_node, (*path, key), source, problems)
    return result


def _scalar(node: ScalarNode, file: str, problems: list[Problem]) -> Any:
    if node.tag in _TEXT_TAGS:
        return node.value
    if node.tag not in _PLAIN_SCALAR_TAGS:
        problems.append(Problem(_mark(file, node.start_mark), f"tag '{node.tag}' is not allowed"))
        return None
    if node.tag in _NUMBER_TAGS and len(node.value) > NUMBER_CHARACTERS:
        problems.append(
            Problem(
                _mark(file, node.start_mark),
                f"a number written with {len(node.value)} characters is too long (at most "
                f"{NUMBER_CHARACTERS}); quote it if it is text",
            )
        )
        return None
    return yaml.SafeLoader.yaml_constructors[node.tag](_SCALARS, node)


_SCALARS = yaml.SafeLoader("")  # only its scalar constructors are used; they keep no state
