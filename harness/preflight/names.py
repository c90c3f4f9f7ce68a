"""Preflight of the lab file's names: the image, flavors and network every scenario boots with
must exist in the target's cloud.

A typo there would otherwise turn every scenario into the same failure or skip, thirty times
over; looked up once before any scenario runs, it is one preflight failure that names what is
missing and the nearest name the cloud has.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from harness.declarations.model import Target
from harness.declarations.problems import did_you_mean
from harness.preflight.outcome import NOT_CHECKED, CheckOutcome, describe_error

KIND = "name"
LOOKUPS: dict[str, tuple[str, str, str]] = {
    "image": ("image", "find_image", "images"),
    "flavor": ("compute", "find_flavor", "flavors"),
    "flavor_alt": ("compute", "find_flavor", "flavors"),
    "network": ("network", "find_network", "networks"),
}
"""Lab-file field -> (openstacksdk proxy, its finder by name or id, its listing)."""


Found = dict[str, Any]
"""Lab-file field -> the openstacksdk resource its name or id found: what the target's scenario
session is handed, so that it does not look them up again (`harness.run.launcher`)."""


def check_names(connect: Callable[[], Any], target: Target) -> tuple[list[CheckOutcome], Found]:
    """One outcome per name the target gives, and what was found; `connect` opens the cloud
    (once, if needed)."""
    wanted = {field: getattr(target, field) for field in LOOKUPS if getattr(target, field)}
    where = f"cloud {target.cloud}"
    outcomes = {field: _unchecked(where, field, name) for field, name in wanted.items()}
    if not wanted:
        return [], {}
    try:
        cloud = connect()
    except Exception as error:  # an unusable cloud fails every lookup with the reason
        return [replace(o, error=describe_error(error)) for o in outcomes.values()], {}
    by_service: dict[str, list[str]] = {}
    for field in outcomes:
        by_service.setdefault(LOOKUPS[field][0], []).append(field)

    def look_up_all(fields: list[str]) -> list[tuple[str, Any, CheckOutcome]]:
        return [(f, *_look_up(cloud, f, wanted[f], outcomes[f])) for f in fields]

    # Each service in a thread of its own (its proxy made and its endpoint found by that thread
    # alone): a lookup mostly waits for the cloud, and a name not found by id costs a listing.
    with ThreadPoolExecutor(len(by_service), thread_name_prefix="preflight-lookup") as pool:
        looked_up = {
            field: (resource, outcome)
            for done in pool.map(look_up_all, by_service.values())
            for field, resource, outcome in done
        }
    checked = [looked_up[field][1] for field in outcomes]  # in the order of LOOKUPS
    found = {field: r for field, (r, _) in looked_up.items() if r is not None}
    return checked, found


def _unchecked(where: str, field: str, name: str) -> CheckOutcome:
    return CheckOutcome(
        where, f"lab/{field}", KIND, f"the lab's {field} '{name}' exists", False, NOT_CHECKED
    )


def _look_up(cloud: Any, field: str, name: str, outcome: CheckOutcome) -> tuple[Any, CheckOutcome]:
    """The resource found (None if not) and the outcome."""
    proxy_name, find, listing = LOOKUPS[field]
    try:
        proxy = getattr(cloud, proxy_name)  # may discover the service's endpoint: may fail
        found = getattr(proxy, find)(name, ignore_missing=True)
        if found is not None:
            text = f"{found.name or '(no name)'} {found.id}"
            return found, replace(outcome, passed=True, found=text)
        names = sorted({item.name for item in getattr(proxy, listing)() if item.name})
    except Exception as error:  # a lookup that cannot run fails with the reason, never raises
        return None, replace(outcome, error=describe_error(error))
    missing = f"no {field} of that name or id{did_you_mean(name, names)}"
    return None, replace(outcome, found=missing)
