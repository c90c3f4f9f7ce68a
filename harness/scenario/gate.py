"""The requirement gate: before a scenario starts, skip it in a category when the combination
cannot do its feature by design (not-applicable, with the declared why), a known bug is
flagged for it, or the target lacks what it needs (not-configured: destructive scenarios off,
no flavor_alt, too few computes up and enabled, no block storage, no multiattach type).

Requirements are the feature's `requires` in features.yaml, overridden by a scenario's own
`@pytest.mark.requires(...)`; the cloud is asked only when a requirement needs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from harness.declarations.model import Requires, Target
from harness.scenario import skips
from harness.scenario.target import TargetContext


def feature_of(item: pytest.Item) -> str | None:
    """The feature a scenario proves (its `feature` marker), or None for other tests."""
    marker = item.get_closest_marker("feature")
    return str(marker.args[0]) if marker and marker.args else None


def gate(request: pytest.FixtureRequest) -> None:
    """Skip, in a category, a scenario this combination or target cannot run."""
    feature_id = feature_of(request.node)
    if feature_id is None:
        return
    context: TargetContext = request.getfixturevalue("target_context")
    verdict = context.verdicts[feature_id]
    if not verdict.applicable:
        skips.not_applicable(verdict.why or "declared not applicable")
    for flag in verdict.flags:
        skips.flagged(flag.why, flag.bug)
    check_requirements(needs_of(request.node, context, feature_id), context.target, request)


def needs_of(item: pytest.Item, context: TargetContext, feature_id: str) -> Requires:
    """The feature's declared requirements, with the scenario's own marker over them."""
    marker = item.get_closest_marker("requires")
    declared = context.matrix.features[feature_id].requires
    return declared.model_copy(update=dict(marker.kwargs) if marker else {})


def check_requirements(needs: Requires, target: Target, request: pytest.FixtureRequest) -> None:
    if needs.destructive and not target.destructive:
        skips.not_configured("destructive scenarios are off for this target (destructive: false)")
    if needs.flavor_alt and not target.flavor_alt:
        skips.not_configured("the target declares no flavor_alt")
    if needs.computes <= 1 and not (needs.volume or needs.multiattach):
        return  # nothing left that needs asking the cloud
    cloud = request.getfixturevalue("cloud")
    if needs.computes > 1:
        usable = usable_computes(cloud.compute.services(binary="nova-compute"))
        if usable < needs.computes:
            skips.not_configured(
                f"needs {needs.computes} compute hosts up; the target has {usable}"
            )
    if (needs.volume or needs.multiattach) and not cloud.endpoint_for("block-storage"):
        skips.not_configured("the target has no block-storage service")
    if needs.multiattach and not any(is_multiattach(t) for t in cloud.block_storage.types()):
        skips.not_configured("the target has no multiattach volume type")


def usable_computes(services: Iterable[Any]) -> int:
    """Compute services the scheduler can place on: up and enabled (a host that is down, or
    disabled by an operator or a scenario, is no migration destination)."""
    return sum(1 for s in services if s.state == "up" and s.status == "enabled")


def is_multiattach(volume_type: Any) -> bool:
    """Cinder marks multiattach types with the extra spec multiattach='<is> True'."""
    value = str((volume_type.extra_specs or {}).get("multiattach", ""))
    return value.replace(" ", "").lower() == "<is>true"
