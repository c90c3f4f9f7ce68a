"""Turn pydantic validation errors into located, human problems.

Pydantic reports paths through union branches ('str', 'list[...]') and one error per
branch; users need one message at the place they wrote, naming the key and what was
expected. The allowed keys for 'did you mean' come from the same JSON Schema that
`matrix schema` exports, so the hints and the editor agree.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from harness.declarations import model
from harness.declarations.problems import Problem, did_you_mean, human_path, one_of
from harness.declarations.yamlsource import PathKey, SourceMap

T = TypeVar("T")

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "nothing",
}

_PATTERN_HINTS = {
    model.SLUG_PATTERN: "an id of lowercase letters, digits and single hyphens, e.g. 'ceph-rbd'",
    r"^[a-z][a-z0-9_]*$": "a snake_case name, e.g. 'shared'",
    r"^[A-Z][A-Z0-9_]*$": "an UPPER_CASE shell variable name, e.g. 'VIRT_DRIVER'",
    r"^[a-z0-9]+([-_][a-z0-9]+)*$": "a lowercase name, e.g. 'qemu-img'",
    r"^https?://\S+$": "an http(s) URL",
    r"^/": "an absolute path",
    r"^\d+\.\d+$": "a microversion such as '2.25' (quoted)",
}


def describe(value: Any) -> str:
    """How a YAML value reads to its author, for 'got ...' in messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"number {value}"
    text = str(value)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


def validate(
    adapter: TypeAdapter[T], data: Any, source: SourceMap, base: PathKey = ()
) -> tuple[T | None, list[Problem]]:
    """Validate `data` (found at `base` in the document) and return it or its problems."""
    try:
        return adapter.validate_python(data), []
    except ValidationError as error:
        return None, problems_from(error.errors(), adapter, data, source, base)


def salvage(adapter: TypeAdapter[T], data: Any) -> T | None:
    """The validated value, or None: for parts whose problems are reported elsewhere."""
    try:
        return adapter.validate_python(data)
    except ValueError:
        return None


def problems_from(
    errors: Sequence[ErrorDetails],
    adapter: TypeAdapter[Any],
    data: Any,
    source: SourceMap,
    base: PathKey,
) -> list[Problem]:
    resolved = [(*_resolve(err, data), err) for err in errors]
    # A branch that got further than a type mismatch explains the mistake better.
    deeper = {path for path, _, _, err in resolved if err["type"] not in _TYPE_NAMES}
    groups: dict[tuple[PathKey, bool], list[ErrorDetails]] = defaultdict(list)
    for path, is_key, branched, err in resolved:
        mismatch = err["type"] in _TYPE_NAMES
        if branched and mismatch and any(p[: len(path)] == path and p != path for p in deeper):
            continue
        groups[(path, is_key)].append(err)

    problems = []
    for (path, is_key), group in groups.items():
        mismatches = [e for e in group if e["type"] in _TYPE_NAMES and not is_key]
        others = [e for e in group if e not in mismatches]
        if mismatches and not others:
            wanted = list(dict.fromkeys(_TYPE_NAMES[e["type"]] for e in mismatches))
            message = f"expected {_either(wanted)}; got {describe(mismatches[0]['input'])}"
            problems.append(_located(source, base, path, is_key, message))
        for err in others:
            message = _message(err, path, is_key, adapter)
            problems.append(_located(source, base, path, is_key or _points_at_key(err), message))
    return problems


def _either(choices: list[str]) -> str:
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def _resolve(err: ErrorDetails, data: Any) -> tuple[PathKey, bool, bool]:
    """Follow an error location through the real data: (path, about the key?, via a union?)."""
    path: list[str | int] = []
    current = data
    branched = False
    loc = err["loc"]
    for index, part in enumerate(loc):
        if part == "[key]":
            return tuple(path), True, branched
        if _has(current, part):
            current = current[part]
        elif err["type"] == "missing" and index == len(loc) - 1:
            pass  # the key that should be there
        else:
            branched = True  # a union member label such as 'str' or 'list[constrained-str]'
            continue
        path.append(part)
    return tuple(path), False, branched


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _points_at_key(err: ErrorDetails) -> bool:
    return err["type"] == "extra_forbidden"


def _located(source: SourceMap, base: PathKey, path: PathKey, is_key: bool, text: str) -> Problem:
    full = (*base, *path)
    if text.startswith("missing required key"):  # point at the mapping's own key, if it has one
        return Problem(source.locate(full[:-1], key=True), f"{human_path(full[:-1])}: {text}")
    if is_key:
        where = human_path(full[:-1])
        mark = source.locate(full, key=True)
    else:
        where = human_path(full)
        mark = source.locate(full)
    return Problem(mark, f"{where}: {text}" if where else text)


def _message(err: ErrorDetails, path: PathKey, is_key: bool, adapter: TypeAdapter[Any]) -> str:
    kind = err["type"]
    value = err["input"]
    ctx = err.get("ctx", {})
    if kind == "missing":
        return f"missing required key '{path[-1]}'"
    if kind == "extra_forbidden":
        allowed = allowed_keys(adapter, path[:-1])
        hint = did_you_mean(path[-1], allowed) or (
            f"; expected one of {one_of(allowed)}" if allowed else ""
        )
        return f"unknown key '{path[-1]}'{hint}"
    if is_key:
        if isinstance(value, bool):
            return (
                f"key {str(value).lower()} is a boolean in YAML; quote it (e.g. '\"on\"') "
                "or use another name"
            )
        if kind == "string_pattern_mismatch":
            return f"'{value}' is not valid here: expected {_pattern_hint(ctx['pattern'])}"
        return f"key {describe(value)} is not valid here: {err['msg']}"
    if kind == "string_pattern_mismatch":
        return f"expected {_pattern_hint(ctx['pattern'])}; got {describe(value)}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(value, choices) or f"; expected one of {one_of(choices)}"
        return f"{describe(value)} is not allowed{hint}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg'][0].lower()}{err['msg'][1:]}; got {describe(value)}"


def _pattern_hint(pattern: str) -> str:
    if pattern in _PATTERN_HINTS:
        return _PATTERN_HINTS[pattern]
    if pattern.startswith("^(mandatory"):
        return "mandatory, optional, choice(<group>) or condition(<expr>)"
    if "://" in pattern:
        backends = ", ".join(model.HOST_BACKENDS)
        return f"a testinfra host spec such as 'ssh://stack@compute1' ({backends})"
    if "[0-9a-f]{8}" in pattern:
        return "a UUID such as '1dce86b8-eb04-4c03-a9d8-9c1dc3ee0c7b'"
    return f"text matching {pattern}"


@cache
def _schema(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    return adapter.json_schema()


def allowed_keys(adapter: TypeAdapter[Any], path: PathKey) -> list[str]:
    """The keys the schema allows at `path` (empty when keys are free-form there)."""
    root = _schema(adapter)
    node: dict[str, Any] | None = root
    for part in path:
        node = _step(root, node, part)
        if node is None:
            return []
    node = _deref(root, node)
    return list(node.get("properties", {})) if node else []


def _deref(root: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any] | None:
    while node is not None and "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _step(root: dict[str, Any], node: dict[str, Any] | None, part: str | int) -> Any:
    node = _deref(root, node)
    if node is None:
        return None
    for option in node.get("anyOf", []):
        option = _deref(root, option)
        wanted = "array" if isinstance(part, int) else "object"
        if option and option.get("type") == wanted:
            node = option
            break
    if isinstance(part, int):
        return node.get("items")
    if part in node.get("properties", {}):
        return node["properties"][part]
    patterns = node.get("patternProperties")
    if patterns:
        return next(iter(patterns.values()))
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None
