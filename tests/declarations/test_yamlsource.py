"""Only plain YAML is accepted, and every key and value keeps its position."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.declarations import yamlsource
from harness.declarations.problems import DeclarationError
from harness.declarations.yamlsource import load_file, load_text
from tests.conftest import REPO


def problems(text: str) -> list[str]:
    with pytest.raises(DeclarationError) as caught:
        load_text(text, Path("f.yaml"))
    return [str(p) for p in caught.value.problems]


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = load_text("a:\n  b: [x, {c: 1}]\n", Path("f.yaml"))
    assert doc.data == {"a": {"b": ["x", {"c": 1}]}}
    assert (doc.source.keys[("a", "b")].line, doc.source.keys[("a", "b")].column) == (2, 3)
    mark = doc.source.values[("a", "b", 1, "c")]
    assert (mark.line, mark.column) == (2, 14)
    assert doc.source.locate(("a", "b", 1, "missing")) == doc.source.values[("a", "b", 1)]


def test_duplicate_keys_are_reported_where_repeated_with_the_first_line() -> None:
    assert problems("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n") == [
        "f.yaml:4:3: duplicate key 'c' (first given at line 3)",
        "f.yaml:5:1: duplicate key 'a' (first given at line 1)",
    ]


def test_anchors_and_aliases_are_refused() -> None:
    assert problems("a: &x {k: 1}\nb: *x\n") == [
        "f.yaml:1:4: anchor '&x' is not allowed: declarations are plain YAML",
        "f.yaml:2:4: alias '*x' is not allowed: write the value out in full",
    ]


def test_merge_keys_are_refused() -> None:
    assert problems("a:\n  <<: {k: 2}\n  j: 1\n") == [
        "f.yaml:2:3: merge keys ('<<') are not allowed"
    ]


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        (
            "a: !!python/object/apply:os.system [ls]\n",
            "tag:yaml.org,2002:python/object/apply:os.system",
        ),
        ("a: !custom 1\n", "!custom"),
        ("a: !!binary aGk=\n", "tag:yaml.org,2002:binary"),
        ("a: !!set {x: null}\n", "tag:yaml.org,2002:set"),
    ],
)
def test_tags_are_refused(text: str, tag: str) -> None:
    assert problems(text) == [f"f.yaml:1:4: tag '{tag}' is not allowed"]


def test_only_one_document_per_file() -> None:
    assert problems("a: 1\n---\nb: 2\n") == [
        "f.yaml:2:1: only one YAML document per file is allowed"
    ]


def test_syntax_errors_point_at_the_problem() -> None:
    assert problems("a: [1, 2\nb: 3\n") == ["f.yaml:2:2: expected ',' or ']', but got ':'"]


def test_control_characters_are_located() -> None:
    assert problems("a: ok\nb: x\x07\n") == ["f.yaml:2:5: character #x0007 is not allowed in YAML"]


def test_complex_keys_are_refused() -> None:
    assert problems("? [a, b]\n: 1\n") == [
        "f.yaml:1:3: keys must be plain scalars, not lists or mappings"
    ]


def test_unquoted_dates_stay_text_and_scalars_keep_yaml_types() -> None:
    doc = load_text("d: 2026-11-21\nn: 3\nf: 0.5\nb: true\nz: null\ns: '3'\n", Path("f.yaml"))
    assert doc.data == {"d": "2026-11-21", "n": 3, "f": 0.5, "b": True, "z": None, "s": "3"}


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    assert problems("[" * 3000 + "]" * 3000) == ["f.yaml:1:1: nesting is too deep"]


def test_unreadable_files_are_problems(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="cannot read: No such file or directory"):
        load_file(tmp_path / "absent.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(DeclarationError, match="cannot read: 'utf-8' codec can't decode"):
        load_file(binary)


def test_libyaml_events_give_what_pythons_parser_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped declaration and lab file, loaded over libyaml's events and over PyYAML's
    own parser: the same data, and every value and key at the same place."""
    assert yamlsource._FastEvents is not None, "PyYAML without libyaml: loading is 10x slower"
    files = sorted(REPO.glob("matrix/**/*.yaml"))
    assert len(files) > 5
    fast = [load_file(path) for path in files]
    monkeypatch.setattr(yamlsource, "_FastEvents", None)
    for path, document in zip(files, fast, strict=True):
        python = load_file(path)
        assert document.data == python.data, path
        assert document.source == python.source, path


def test_a_file_libyaml_refuses_is_reported_in_pythons_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = "a: [1, 2\nb: 3\n"
    fast = problems(broken)
    monkeypatch.setattr(yamlsource, "_FastEvents", None)
    assert fast == problems(broken) == ["f.yaml:2:2: expected ',' or ']', but got ':'"]


def test_anchors_are_reported_over_libyaml_events_too() -> None:
    assert problems("a: &x 1\nb: *x\n") == [
        "f.yaml:1:4: anchor '&x' is not allowed: declarations are plain YAML",
        "f.yaml:2:4: alias '*x' is not allowed: write the value out in full",
    ]
