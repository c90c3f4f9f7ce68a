"""Preflight of the lab file's names: the image, flavors and network every scenario boots with
must exist in the target's cloud.

A typo there would otherwise turn every scenario into the same failure or skip, thirty times
over; looked up once before any scenario runs, it is one preflight failure that names what is
missing and the nearest name the cloud has.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from harness.declarations.model import Target
from harness.declarations.problems import did_you_mean
from harness.preflight.outcome import NOT_CHECKED, CheckOutcome, describe_error

KIND = "name"


@dataclass(frozen=True)
class Lookup:
    """How a lab-file field is looked up in the cloud."""

    proxy: str  # openstacksdk's proxy for the service
    find: str  # its finder by name or id (a GET by id, then a listing by name)
    listing: str  # its listing: what a name is matched in, and what "did you mean" reads
    uuid_ids: bool
    """The service's ids are UUIDs (Glance's and Neutron's are): a name that is not one is
    looked up by the cloud's own name filter alone, without the GET by id the finder would
    start with, which could only answer 404. Otherwise (Nova's flavor ids are any string) one
    listing answers every name of the service, by id or by name, and its did-you-mean."""


FLAVOR = Lookup("compute", "find_flavor", "flavors", uuid_ids=False)
LOOKUPS: dict[str, Lookup] = {
    "image": Lookup("image", "find_image", "images", uuid_ids=True),
    "flavor": FLAVOR,
    "flavor_alt": FLAVOR,
    "network": Lookup("network", "find_network", "networks", uuid_ids=True),
}
"""Lab-file field -> how it is looked up (the fields of one service, the same way)."""


class Finder:
    """Finds one service's names as openstacksdk's finders do (by id, else by name; a name
    several resources have is an error), in as few requests as the service allows."""

    def __init__(self, cloud: Any, lookup: Lookup) -> None:
        self.lookup = lookup
        self.proxy = getattr(cloud, lookup.proxy)  # may discover the endpoint: may fail
        self._listed: list[Any] | None = None

    def find(self, name: str) -> Any | None:
        """The resource with this id or name, or None."""
        if not self.lookup.uuid_ids:
            return _one(self.lookup, name, [r for r in self.listed() if name in (r.id, r.name)])
        if _is_uuid(name):
            return getattr(self.proxy, self.lookup.find)(name, ignore_missing=True)
        return _one(self.lookup, name, [r for r in self._list(name=name) if r.name == name])

    def names(self) -> list[str]:
        """Every name the service has, for "did you mean"."""
        listed = self._list() if self.lookup.uuid_ids else self.listed()
        return sorted({item.name for item in listed if item.name})

    def listed(self) -> list[Any]:
        """The whole listing, asked for once."""
        if self._listed is None:
            self._listed = self._list()
        return self._listed

    def _list(self, **query: str) -> list[Any]:
        return list(getattr(self.proxy, self.lookup.listing)(**query))


class AmbiguousName(LookupError):
    """Several resources have the name: which one the lab file means is unknowable."""


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _one(lookup: Lookup, name: str, found: list[Any]) -> Any | None:
    if len(found) > 1:
        kind = lookup.listing.removesuffix("s")
        raise AmbiguousName(f"more than one {kind} has the name or id '{name}'")
    return found[0] if found else None


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
        by_service.setdefault(LOOKUPS[field].proxy, []).append(field)

    def look_up_all(fields: list[str]) -> list[tuple[str, Any, CheckOutcome]]:
        try:
            finder = Finder(cloud, LOOKUPS[fields[0]])
        except Exception as error:  # the service's endpoint cannot be found
            return [(f, None, replace(outcomes[f], error=describe_error(error))) for f in fields]
        return [(f, *_look_up(finder, f, wanted[f], outcomes[f])) for f in fields]

    # Each service in a thread of its own (its proxy made and its endpoint found by that thread
    # alone): a lookup mostly waits for the cloud.
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


def _look_up(
    finder: Finder, field: str, name: str, outcome: CheckOutcome
) -> tuple[Any, CheckOutcome]:
    """The resource found (None if not) and the outcome."""
    try:
        found = finder.find(name)
        if found is not None:
            text = f"{found.name or '(no name)'} {found.id}"
            return found, replace(outcome, passed=True, found=text)
        names = finder.names()
    except Exception as error:  # a lookup that cannot run fails with the reason, never raises
        return None, replace(outcome, error=describe_error(error))
    missing = f"no {field} of that name or id{did_you_mean(name, names)}"
    return None, replace(outcome, found=missing)
