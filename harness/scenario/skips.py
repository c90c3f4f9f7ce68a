"""Skips that say why, in a category a run record can count.

A skip never counts as a pass. Plain `pytest.skip` in a scenario has no category and is
recorded as `uncategorised`, which reviews should treat as a bug in the scenario.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

from harness.run.records import (
    FLAGGED,
    NOT_APPLICABLE,
    NOT_CONFIGURED,
    UNCATEGORISED,
    UNPROVEN,
)
from harness.run.records import SKIP_CATEGORIES as CATEGORIES

__all__ = [
    "CATEGORIES",
    "FLAGGED",
    "NOT_APPLICABLE",
    "NOT_CONFIGURED",
    "UNCATEGORISED",
    "UNPROVEN",
]


def skip(category: str, reason: str) -> NoReturn:
    """pytest's own skip (so reports read as usual), carrying its category for the record."""
    __tracebackhide__ = True  # report the scenario's line, not this helper's
    error = pytest.skip.Exception(f"[{category}] {reason}")
    error.category = category  # type: ignore[attr-defined]
    raise error


def category_of(error: BaseException | None) -> str | None:
    """The category of a skip raised by this module, `uncategorised` for any other skip."""
    if not isinstance(error, pytest.skip.Exception):
        return None
    return str(getattr(error, "category", UNCATEGORISED))


def not_applicable(reason: str) -> NoReturn:
    """By design: a declared not_applicable rule, or Nova's documented by-design refusal."""
    __tracebackhide__ = True
    skip(NOT_APPLICABLE, reason)


def not_configured(reason: str) -> NoReturn:
    """The target lacks something the scenario needs; a better-equipped target could run it."""
    __tracebackhide__ = True
    skip(NOT_CONFIGURED, reason)


def flagged(reason: str, bug: str) -> NoReturn:
    __tracebackhide__ = True
    skip(FLAGGED, f"{reason} ({bug})")


def unproven(reason: str) -> NoReturn:
    """The scenario ran, but this target gave it no way to see the feature's defining property
    (no readable compute log, no guest that reports): not a pass, and not a failure either."""
    __tracebackhide__ = True
    skip(UNPROVEN, reason)
