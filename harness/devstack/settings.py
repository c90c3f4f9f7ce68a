"""The devstack settings of a combination: its values' `devstack:` blocks merged, per node.

Values are merged in axis order (the order of matrix/axes.yaml), each in the order it
declares its settings, and every setting keeps the value it comes from ("storage/ceph-rbd").
Two values that set the same localrc variable, plugin or post-config key to different
values, or of which one enables a service the other disables, are a `Conflict`: never
last-wins, since whichever won would deploy something the other value does not describe.
The same setting given twice alike is no conflict; the first value to give it is its origin.
Values are compared as devstack reads them, the text local.conf holds (`as_devstack`), so
`"True"` and `true` agree.

A subnode (a compute-only node of a multinode devstack) gets what devstack's
`devstack-multinode` job gives one (`harness.devstack.multinode`): only the compute-side
services, localrc that points it at the controller, its values' localrc plus their
`subnode_localrc`, every plugin (devstack-plugin-ceph runs there with REMOTE_CEPH=True), and
post-config only for the files its services read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from harness.declarations.matrix import Matrix
from harness.declarations.model import Devstack, Scalar
from harness.declarations.problems import unknown
from harness.devstack.multinode import (
    COMPUTE_SERVICES,
    CONTROLLER_PLACEHOLDER,
    MULTINODE,
    SUBNODE_FILES,
    SUBNODE_LOCALRC,
    SUBNODE_SERVICES,
)
from harness.errors import BadInput

Origin = str
"""Where a setting comes from: "axis/value", e.g. "storage/ceph-rbd" (or `MULTINODE`)."""

Node = Literal["controller", "subnode"]
NODES: tuple[Node, ...] = ("controller", "subnode")

__all__ = [
    "MULTINODE",
    "NODES",
    "Conflict",
    "DevstackSettings",
    "Node",
    "Origin",
    "Setting",
    "as_devstack",
    "conflicts",
    "devstack_settings",
    "origins",
    "with_controller",
]


@dataclass(frozen=True)
class Setting:
    value: str | int | bool
    origin: Origin


@dataclass(frozen=True)
class DevstackSettings:
    """One node's settings. On a subnode, `services` is every service it runs (its
    local.conf disables all others first); on the controller, changes to devstack's
    default services."""

    localrc: dict[str, Setting]  # VAR -> setting, in merge order
    plugins: dict[str, Setting]  # plugin name -> URL setting
    services: dict[str, Setting]  # service -> Setting(True=enabled / False=disabled)
    post_config: dict[str, dict[str, dict[str, Setting]]]  # file -> section -> key -> setting


def as_devstack(value: Scalar) -> str:
    """A value as local.conf spells it: booleans as devstack's True/False."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


@dataclass(frozen=True)
class Conflict:
    """Two values setting `setting` differently: `first` the earlier in axis order."""

    setting: str  # "localrc VAR", "plugin NAME", "service NAME", "post_config FILE [SECTION] KEY"
    first: Setting
    second: Setting
    scope: str = ""  # " on subnodes" when only a subnode's localrc differs

    def __str__(self) -> str:
        first, second = self.first, self.second
        if self.setting.startswith("service "):
            name = self.setting.removeprefix("service ")
            if first.origin == second.origin:
                return f"{first.origin} both enables and disables service {name}"
            return (
                f"{second.origin} {_verb(second)} service {name} but {first.origin} "
                f"{_verb(first)} it"
            )
        return (
            f"{second.origin} sets {self.setting}={as_devstack(second.value)}{self.scope} "
            f"but {first.origin} sets it to {as_devstack(first.value)}"
        )


def _verb(setting: Setting) -> str:
    return "enables" if setting.value is True else "disables"


def origins(matrix: Matrix, combination: str) -> dict[Origin, Devstack]:
    """The `devstack:` block of each value of a declared combination, in axis order."""
    found = matrix.combinations.get(combination)
    if found is None:
        raise BadInput(unknown("combination", combination, list(matrix.combinations)))
    return {
        f"{axis}/{found.values[axis]}": matrix.value(axis, found.values[axis]).devstack
        for axis in matrix.axes
    }


def devstack_settings(
    matrix: Matrix, combination: str, node: Literal["controller", "subnode"] = "controller"
) -> DevstackSettings:
    """The merged devstack settings of `combination` on a `node`. Raises BadInput for an
    unknown combination id (with the nearest one) and for values that conflict (naming both,
    the setting and both values); `matrix validate` reports the latter too."""
    values = origins(matrix, combination)
    found = conflicts(values)
    if found:
        raise BadInput(f"{combination}: " + "; ".join(str(c) for c in found))
    merged = _merge(values, node).settings
    if node == "controller":
        return merged
    localrc = {name: Setting(value, MULTINODE) for name, value in SUBNODE_LOCALRC.items()}
    services = {name: Setting(True, MULTINODE) for name in SUBNODE_SERVICES}
    return replace(merged, localrc=localrc | merged.localrc, services=services | merged.services)


def conflicts(values: Mapping[Origin, Devstack]) -> list[Conflict]:
    """Every setting two of `values` (origin -> devstack block, in axis order) give
    differently, on the controller and then, for localrc, on a subnode (where
    `subnode_localrc` applies too); a value that enables and disables one service conflicts
    with itself."""
    found = _merge(values, "controller").conflicts
    seen = {(c.setting, c.first.origin, c.second.origin) for c in found}
    found += [
        c
        for c in _merge(values, "subnode").conflicts
        if (c.setting, c.first.origin, c.second.origin) not in seen
    ]
    return found


def with_controller(settings: DevstackSettings, address: str) -> DevstackSettings:
    """A subnode's settings with the controller's address in place of the placeholder that
    `devstack_settings` leaves in SERVICE_HOST (which the other *_HOST variables name)."""
    localrc = {
        name: Setting(address, s.origin) if s.value == CONTROLLER_PLACEHOLDER else s
        for name, s in settings.localrc.items()
    }
    return replace(settings, localrc=localrc)


@dataclass
class _Merged:
    settings: DevstackSettings = field(default_factory=lambda: DevstackSettings({}, {}, {}, {}))
    conflicts: list[Conflict] = field(default_factory=list)

    def put(
        self, into: dict[str, Setting], key: str, setting: Setting, what: str, scope: str = ""
    ) -> None:
        held = into.get(key)
        if held is None:
            into[key] = setting
        elif as_devstack(held.value) != as_devstack(setting.value):
            self.conflicts.append(Conflict(what, held, setting, scope))


def _merge(values: Mapping[Origin, Devstack], node: Node) -> _Merged:
    """The values' settings for `node`, in order, with the conflicts met on the way."""
    merged = _Merged()
    into = merged.settings
    subnode = node == "subnode"
    scope = " on subnodes" if subnode else ""
    for origin, devstack in values.items():
        localrc = {**devstack.localrc, **devstack.subnode_localrc} if subnode else devstack.localrc
        for name, value in localrc.items():
            merged.put(into.localrc, name, Setting(value, origin), f"localrc {name}", scope)
        for name, url in devstack.plugins.items():
            merged.put(into.plugins, name, Setting(url, origin), f"plugin {name}")
        switches = [(True, devstack.enable_services), (False, devstack.disable_services)]
        for wanted, services in switches:
            for name in services:
                if not subnode or name in COMPUTE_SERVICES:
                    merged.put(into.services, name, Setting(wanted, origin), f"service {name}")
        for file, sections in devstack.post_config.items():
            if subnode and file not in SUBNODE_FILES:
                continue
            for section, keys in sections.items():
                held = into.post_config.setdefault(file, {}).setdefault(section, {})
                for key, value in keys.items():
                    what = f"post_config {file} [{section}] {key}"
                    merged.put(held, key, Setting(value, origin), what)
    return merged
