"""Product, exclude and include behave as GitHub Actions documents its job matrix."""

from __future__ import annotations

from harness.declarations.expansion import expand


def values(product, exclude=(), include=()):  # type: ignore[no-untyped-def]
    return [c.values for c in expand(product, exclude, include).combinations]


def test_githubs_include_example() -> None:
    # "Example: Expanding configurations" from GitHub's matrix documentation, verbatim.
    result = values(
        {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
        include=[
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    )
    assert result == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_githubs_exclude_example_partial_matches_remove_several() -> None:
    # "Excluding matrix configurations": 12 combinations, one full and one partial exclude.
    result = values(
        {
            "os": ["macos", "windows"],
            "version": ["12", "14", "16"],
            "environment": ["staging", "production"],
        },
        exclude=[
            {"os": "macos", "version": "12", "environment": "production"},
            {"os": "windows", "version": "16"},
        ],
    )
    assert len(result) == 9
    assert {"os": "macos", "version": "12", "environment": "production"} not in result
    assert not [c for c in result if c["os"] == "windows" and c["version"] == "16"]
    assert {"os": "macos", "version": "12", "environment": "staging"} in result


def test_include_that_changes_an_original_value_is_a_new_combination() -> None:
    # "Expanding or adding matrix configurations": node 17 is not in the product.
    result = values(
        {"os": ["windows", "ubuntu"], "node": ["14", "16"]},
        include=[{"os": "windows", "node": "16", "npm": "6"}, {"os": "windows", "node": "17"}],
    )
    assert {"os": "windows", "node": "16", "npm": "6"} in result
    assert {"os": "ubuntu", "node": "16"} in result
    assert result[-1] == {"os": "windows", "node": "17"}
    assert len(result) == 5


def test_exclude_applies_before_include_so_include_can_add_back() -> None:
    result = values(
        {"a": ["1", "2"], "b": ["x", "y"]},
        exclude=[{"a": "2", "b": "y"}],
        include=[{"a": "2", "b": "y"}],
    )
    assert result == [
        {"a": "1", "b": "x"},
        {"a": "1", "b": "y"},
        {"a": "2", "b": "x"},
        {"a": "2", "b": "y"},
    ]
    assert expand(
        {"a": ["1", "2"], "b": ["x", "y"]}, [{"a": "2", "b": "y"}], [{"a": "2", "b": "y"}]
    ).combinations[-1].origin == ("include", 0)


def test_added_values_may_be_overwritten_by_later_includes_original_ones_not() -> None:
    result = values(
        {"a": ["1"]},
        include=[{"extra": "first"}, {"extra": "second"}, {"a": "9", "extra": "third"}],
    )
    assert result == [{"a": "1", "extra": "second"}, {"a": "9", "extra": "third"}]


def test_combinations_created_by_include_are_not_extended_by_later_includes() -> None:
    result = values({"a": ["1"]}, include=[{"a": "2"}, {"a": "2", "b": "x"}])
    assert result == [{"a": "1"}, {"a": "2"}, {"a": "2", "b": "x"}]


def test_include_only_matrix_makes_one_combination_per_entry() -> None:
    assert values({}, include=[{"a": "1"}, {"a": "2", "b": "x"}]) == [
        {"a": "1"},
        {"a": "2", "b": "x"},
    ]


def test_exclude_entries_that_remove_nothing_are_reported() -> None:
    expansion = expand({"a": ["1", "2"]}, [{"a": "1"}, {"a": "3"}, {"a": "2", "b": "x"}])
    assert [c.values for c in expansion.combinations] == [{"a": "2"}]
    assert expansion.unused_excludes == [1, 2]


def test_product_order_varies_the_last_axis_fastest() -> None:
    assert values({"a": ["1", "2"], "b": ["x", "y"]}) == [
        {"a": "1", "b": "x"},
        {"a": "1", "b": "y"},
        {"a": "2", "b": "x"},
        {"a": "2", "b": "y"},
    ]
