"""feature-matrix-harness.ini: the matrix in the INI format Nova's support matrix is written in.

The file is for the `support_matrix` directive of sphinx-feature-classification, the renderer
of Nova's doc/source/user/support-matrix.ini: combinations are its targets (`[driver.<id>]`
sections), features its operations (`[operation.<feature>]`), and each operation gives every
target a support value, `driver.<id>=complete|partial|missing|unknown`, with
`driver-notes.<id>=` saying why. The keys of Nova's feature classification that the directive
does not read (`maturity`, `tempest_test_uuids`) are carried too, for readers and other tools.

Support value of a cell, from its level (the ladder level's `nova_rating` in levels.yaml, so a
policy with other level ids maps the same way):

    level (shipped ladder)      Nova rating        support
    gated                       Checked            complete
    tested                      Regularly tested   complete
    reported                    Implemented        partial
    any other ladder level      (other or none)    partial
    failing, once passed        -                  partial
    failing, never passed       -                  unknown
    n/a                         Not implemented    missing
    unknown                     Unknown            unknown

`complete` drops to `partial` when the cell is flaky or flagged (a known bug applies): those are
the caveats Nova's `partial` stands for. `reported` is `partial` because a pass on a verified
target, without consistent CI runs, is Nova's "Implemented" (self-declared), not a tested
feature. `failing` is never `missing`, which is Nova's word for "not implemented": a cell that
has passed before is `partial` (implemented, and broken now: Nova's caveat value), one that
never passed is `unknown` (its failures do not say whether it is implemented); the notes start
with "failing" and the date and run of the last failure. `n/a` is `missing` as Nova writes it
for what a driver cannot do.

An operation's `maturity` (Nova's incomplete | experimental | complete | deprecated) is derived
from its best level over the real combinations (the embedded lab's fake drivers say nothing
about real deployments; they count only in a matrix of nothing else): `complete` when some
combination is rated complete by its level (gated or tested), `experimental` when the best is
another ladder level (reported: it works somewhere, with little or no CI behind it),
`incomplete` when no combination reaches the ladder. `deprecated` is never derived: evidence
cannot say it.

Ids: a combination's id has '/' in it; its target key joins the value ids with '_' instead
(value ids are slugs, which never hold '_', so the key is unique and reversible). Values are one
line, and '%' is written '%%', because the directive reads the file with configparser's
`ConfigParser`, whose interpolation would otherwise take it.
"""

from __future__ import annotations

import re

from harness.declarations.matrix import COMBINATION_SEPARATOR, Matrix
from harness.declarations.model import Feature
from harness.levels.compute import LEVEL_FAILING, LEVEL_NA, LEVEL_UNKNOWN, Cell, LevelMatrix

INI_NAME = "feature-matrix-harness.ini"

COMPLETE, PARTIAL, MISSING, UNKNOWN = "complete", "partial", "missing", "unknown"
SUPPORT_BY_RATING = {"Checked": COMPLETE, "Regularly tested": COMPLETE, "Implemented": PARTIAL}
SUPPORT_BY_COMPUTED_LEVEL = {LEVEL_NA: MISSING, LEVEL_UNKNOWN: UNKNOWN}
MATURITY_COMPLETE, MATURITY_EXPERIMENTAL, MATURITY_INCOMPLETE = (
    "complete",
    "experimental",
    "incomplete",
)
TARGET_SEPARATOR = "_"
_SAFE_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_STATUS = re.compile(r"^(choice|condition)\((.*)\)$")
_SPACE = re.compile(r"\s+")


def target_key(combination_id: str) -> str:
    """The key of a combination as a target: 'libvirt-kvm_ceph-rbd_ovn'."""
    key = combination_id.replace(COMBINATION_SEPARATOR, TARGET_SEPARATOR)
    if not _SAFE_KEY.match(key):
        raise ValueError(f"combination id {combination_id!r} cannot be an INI target key")
    return key


def ladder_support(levels: LevelMatrix) -> dict[str, str]:
    """Support value of each ladder level, before flaky and flagged cells are marked down."""
    return {
        level.id: SUPPORT_BY_RATING.get(level.nova_rating or "", PARTIAL)
        for level in levels.policy.ladder
    }


def support(cell: Cell, levels: LevelMatrix) -> str:
    """The support value of one cell: complete, partial, missing or unknown."""
    if cell.level == LEVEL_FAILING:
        return PARTIAL if cell.last_pass is not None else UNKNOWN
    computed = SUPPORT_BY_COMPUTED_LEVEL.get(cell.level)
    if computed is not None:
        return computed
    value = ladder_support(levels)[cell.level]
    if value == COMPLETE and (cell.flaky or cell.flagged):
        return PARTIAL
    return value


def maturity(feature: str, levels: LevelMatrix, matrix: Matrix) -> str:
    """A feature's maturity from its best level over the real combinations (embedded ones
    only when there are no others: fake drivers say nothing about real deployments)."""
    real = [c for c in levels.combinations if not matrix.combinations[c].embedded]
    by_level = ladder_support(levels)
    seen = {levels.cell(feature, c).level for c in real or levels.combinations}
    reached = seen & set(by_level)
    if any(by_level[level] == COMPLETE for level in reached):
        return MATURITY_COMPLETE
    return MATURITY_EXPERIMENTAL if reached else MATURITY_INCOMPLETE


def nova_status(status: str) -> str:
    """Our status as the directive reads it: 'choice(group)' and 'condition(expr)' may hold
    no parentheses inside, so inner ones become brackets."""
    match = _STATUS.match(status)
    if match is None:
        return status
    inner = match.group(2).replace("(", "[").replace(")", "]")
    return f"{match.group(1)}({inner})"


def value(text: str) -> str:
    """Text as a one-line INI value that ConfigParser (with interpolation) reads back as is."""
    return _SPACE.sub(" ", text).strip().replace("%", "%%")


def driver_notes(cell: Cell, levels: LevelMatrix) -> str:
    """Level, score and flags of a cell, one line. URLs are followed by a space, so the
    directive's link detection (a URL runs to the next space) takes nothing else."""
    if cell.level == LEVEL_NA:
        parts = [f"n/a: not applicable by design: {cell.why_not_applicable or 'declared'}"]
    else:
        ratings = {level.id: level.nova_rating for level in levels.policy.ladder}
        rating = ratings.get(cell.level)
        top = sum(c.weight for c in levels.policy.criteria.values())
        head = cell.level + (f" ({rating})" if rating else "")
        parts = [f"{head}, score {cell.score} of {top}: {cell.reason}"]
        if cell.flaky:
            parts.append("flaky: the window holds failures")
        if cell.last_pass is not None:
            parts.append(f"last pass {cell.last_pass.started_at[:10]} ({cell.last_pass.run_id})")
        if cell.last_failure is not None:
            failure = cell.last_failure
            parts.append(f"last failure {failure.started_at[:10]} ({failure.run_id})")
    parts += [f"known bug {flag.bug} ({flag.why})" for flag in cell.flags]
    if cell.flagged_results:
        parts.append(f"{cell.flagged_results} result(s) skipped as a known bug")
    return "; ".join(parts)


def operation_notes(feature: Feature) -> str:
    """Every operation has notes: the feature's own, the Nova operation it covers, the
    microversion it needs, and the scenario family that proves it."""
    notes = [feature.notes or ""]
    if feature.nova:
        notes.append(f"Nova support-matrix operation: {feature.nova}.")
    if feature.microversion:
        notes.append(f"Needs compute API microversion {feature.microversion}.")
    notes.append(f"Proven by the harness's {feature.family} scenarios.")
    return " ".join(part for part in notes if part)


def render_ini(levels: LevelMatrix, matrix: Matrix) -> str:
    keys = {c: target_key(c) for c in levels.combinations}
    if len(set(keys.values())) != len(keys):
        raise ValueError("two combinations share an INI target key")
    lines = [
        "# The feature-support matrix harness's known-to-work levels, in the format of Nova's",
        "# support-matrix.ini (render with sphinx-feature-classification: .. support_matrix::).",
        f"# Generated by `matrix publish` as of {levels.computed_at}; do not edit.",
        "#",
        "# Targets are combinations (axis values joined by '_'); operations are features.",
        "# Support per cell: gated and tested (Checked, Regularly tested) -> complete,",
        "# reported (Implemented) -> partial, failing -> partial if it passed before, else",
        "# unknown, n/a -> missing, unknown -> unknown; complete becomes partial when the cell",
        "# is flaky or flagged.",
        "# maturity, over real (not embedded-lab) combinations: complete if one is complete by",
        "# level, experimental if the best is another ladder level, incomplete if none is.",
        "",
    ]
    for combination_id in levels.combinations:
        combination = matrix.combinations[combination_id]
        title = combination.title or combination_id
        if combination.embedded:
            title += " (embedded lab)"
        lines += [
            f"[driver.{keys[combination_id]}]",
            f"title={value(title)}",
            f"combination={value(combination_id)}",
            "",
        ]
    for feature_id in levels.features:
        feature = matrix.features[feature_id]
        lines += [
            f"[operation.{feature_id}]",
            f"title={value(feature.title)}",
            f"status={value(nova_status(feature.status))}",
            f"notes={value(operation_notes(feature))}",
        ]
        if feature.cli:
            lines.append(f"cli={value(feature.cli)}")
        lines += [
            f"maturity={maturity(feature_id, levels, matrix)}",
            f"tempest_test_uuids={';'.join(feature.tempest)}",
        ]
        for combination_id in levels.combinations:
            cell = levels.cell(feature_id, combination_id)
            key = keys[combination_id]
            lines.append(f"driver.{key}={support(cell, levels)}")
            lines.append(f"driver-notes.{key}={value(driver_notes(cell, levels))}")
        lines.append("")
    return "\n".join(lines)
