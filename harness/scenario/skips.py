"""Skips that say why, in a category a run record can count (DESIGN.md section 5).

A skip never counts as a pass. Plain `pytest.skip` in a scenario has no category and is
recorded as `uncategorised`, which reviews should treat as a bug in the scenario.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

NOT_APPLICABLE = "not-applicable"  # the combination cannot do this by design
NOT_CONFIGURED = "not-configured"  # the target lacks a requirement (computes, flavor, service)
FLAGGED = "flagged"  # a known bug, with a link
UNCATEGORISED = "uncategorised"
CATEGORIES = (NOT_APPLICABLE, NOT_CONFIGURED, FLAGGED)


class CategorisedSkip(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """pytest's skip, carrying its category for the report."""

    def __init__(self, category: str, reason: str) -> None:
        super().__init__(f"[{category}] {reason}", allow_module_level=False)
        self.category = category
        self.reason = reason


def not_applicable(reason: str) -> NoReturn:
    """By design: a declared not_applicable rule, or Nova's documented by-design refusal."""
    raise CategorisedSkip(NOT_APPLICABLE, reason)


def not_configured(reason: str) -> NoReturn:
    """The target lacks something the scenario needs; a better-equipped target could run it."""
    raise CategorisedSkip(NOT_CONFIGURED, reason)


def flagged(reason: str, bug: str) -> NoReturn:
    raise CategorisedSkip(FLAGGED, f"{reason} ({bug})")
