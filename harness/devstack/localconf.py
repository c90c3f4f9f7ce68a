"""A devstack local.conf for a combination, on a controller or a subnode (`matrix localconf`).

Layout: comment lines (what this is, what it leaves out), `[[local|localrc]]` with the
localrc variables, the `enable_plugin` lines and the service lines (a subnode's first
`disable_all_services`), then one `[[post-config|FILE]]` block per file with `[section]` and
`key = value` lines. Every setting names the value it comes from: a localrc line in a
trailing comment (it is shell), a post-config line in the comment line above it (devstack
would read a trailing one as part of the value). The same settings give the same bytes.

devstack evaluates what local.conf holds: it sources localrc, and `eval`s an `iniset` line
for every post-config key (inc/meta-config merge_config_file). So values may name devstack
variables (`$DEST`, `${HOST_IP}`), but any other shell syntax (quotes, backslashes,
backquotes, `$(...)`), a line break, or a name a line cannot carry is refused, naming the value
it comes from.

Secrets are never declared: passwords (ADMIN_PASSWORD and the others) are the user's or the
job's to add, as devstack's own jobs do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.declarations.matrix import Lab, Matrix
from harness.declarations.model import Host, Target
from harness.declarations.problems import display_path, unknown
from harness.devstack.multinode import (
    CONTROLLER_PLACEHOLDER,
    CONTROLLER_VARIABLE,
    MULTINODE,
)
from harness.devstack.settings import (
    DevstackSettings,
    Node,
    Setting,
    as_devstack,
    devstack_settings,
    with_controller,
)
from harness.errors import BadInput

SECRETS = ("ADMIN_PASSWORD", "DATABASE_PASSWORD", "RABBIT_PASSWORD", "SERVICE_PASSWORD")
"""What every devstack needs and no declaration holds (devstack-base's job sets them)."""

COMMENT_COLUMN = 40
"""Trailing comments start here, or two spaces after a longer line."""

_VARIABLE = r"\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\}"
_VALUE = re.compile(rf"(?:[^\"\\`$\x00-\x1f\x7f]|{_VARIABLE})*")
_FILE = re.compile(rf"(?:[A-Za-z0-9_./-]|{_VARIABLE})+")
_SECTION = re.compile(r"[A-Za-z0-9_.:-]+")
_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#@%+=,-]+")
_ADDRESS = re.compile(r"[A-Za-z0-9._:%-]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")  # declared text in a comment stays one line


@dataclass(frozen=True)
class Controller:
    """Where a subnode finds the controller, and where that was read."""

    address: str
    source: str  # e.g. "lab example-devstack, target t, host ssh://stack@10.0.0.1"


def local_conf(
    matrix: Matrix,
    combination: str,
    node: Node = "controller",
    controller: Controller | None = None,
) -> str:
    """The local.conf of `combination` on `node`; a subnode's SERVICE_HOST is `controller`'s
    address when given, else a placeholder that stops stack.sh until CONTROLLER_IP is set."""
    settings = devstack_settings(matrix, combination, node)
    found = matrix.combinations[combination]
    if found.embedded:
        raise BadInput(
            f"'{combination}' is an embedded-lab combination: `matrix lab up` runs it, "
            "not devstack, so it has no local.conf"
        )
    if node == "subnode" and controller is not None:
        settings = with_controller(settings, controller.address)
    return render(settings, node, _header(combination, found.reference, node, controller))


def _header(
    combination: str, reference: str | None, node: Node, controller: Controller | None
) -> list[str]:
    where = "the controller" if node == "controller" else "a compute-only subnode"
    lines = [f"devstack local.conf for {combination} on {where}, by matrix localconf."]
    if reference:
        lines.append(f"Modelled on {reference}.")
    lines.append("Each setting names the axis value it comes from (axis/value).")
    if node == "subnode":
        lines += [
            f"It gets what devstack's {MULTINODE} job gives its subnode (the settings marked",
            f"{MULTINODE}): it runs only the services enabled below and reaches the",
            "controller at SERVICE_HOST.",
        ]
        if controller is None:
            lines += [
                f"SERVICE_HOST: export {CONTROLLER_VARIABLE}=<the controller's address> before",
                "./stack.sh, or edit its line (`matrix localconf --lab FILE --target T` fills it",
                "in from a lab file).",
            ]
        else:
            lines += ["SERVICE_HOST: the address of the controller of", f"  {controller.source}."]
        lines += [
            "HOST_IP, this node's own address, devstack guesses from the default route: set it",
            "if the node has several.",
        ]
    return [
        *lines,
        "Not declared, so not here: passwords and other site secrets. Add them, the same on",
        f"every node ({', '.join(SECRETS)}),",
        "or let your job set them, as devstack's own jobs do.",
    ]


def render(settings: DevstackSettings, node: Node, header: list[str]) -> str:
    """`settings` as local.conf text, after `header` as comment lines."""
    local: list[tuple[str, str]] = []  # (line, the origin its comment names)
    for name, setting in settings.localrc.items():
        value = as_devstack(setting.value)
        if value != CONTROLLER_PLACEHOLDER:
            _check(_VALUE, value, f"localrc {name}", setting)
        local.append((f'{name}="{value}"', setting.origin))
    for name, setting in settings.plugins.items():
        _check(_URL, as_devstack(setting.value), f"plugin {name}", setting)
        local.append((f"enable_plugin {name} {setting.value}", setting.origin))
    if node == "subnode":
        local.append(("disable_all_services", f"{MULTINODE}: only the services below"))
    for name, setting in settings.services.items():
        _check(_SERVICE, name, "service", setting)
        verb = "enable" if setting.value is True else "disable"
        local.append((f"{verb}_service {name}", setting.origin))

    lines = [f"# {_CONTROLS.sub(' ', line)}" for line in header]
    lines.append("[[local|localrc]]")
    lines += [f"{line:<{COMMENT_COLUMN - 2}}  # {origin}" for line, origin in local]
    for file, sections in settings.post_config.items():
        block = _post_config(file, sections)
        if block:
            lines += ["", f"[[post-config|{file}]]", *block]
    return "\n".join(lines) + "\n"


def _post_config(file: str, sections: dict[str, dict[str, Setting]]) -> list[str]:
    lines: list[str] = []
    for section, keys in sections.items():
        if not keys:
            continue
        lines.append(f"[{section}]")
        for key, setting in keys.items():
            value = as_devstack(setting.value)
            what = f"post_config {file} [{section}] {key}"
            for pattern, text in ((_FILE, file), (_SECTION, section), (_KEY, key)):
                _check(pattern, text, what, setting)
            _check(_VALUE, value, what, setting)
            lines += [f"# {setting.origin}", f"{key} = {value}"]
    return lines


def _check(pattern: re.Pattern[str], text: str, what: str, setting: Setting) -> None:
    if pattern.fullmatch(text) is None:
        raise BadInput(
            f"{setting.origin}: {what}: {text!r} cannot be written to local.conf, which "
            "devstack evaluates as shell: use plain text, naming devstack variables as $NAME "
            "or ${NAME}"
        )


# --- a lab's controller ----------------------------------------------------------------------


def find_target(lab: Lab, name: str) -> Target:
    found = {t.target_name: t for t in lab.targets}
    if name not in found:
        raise BadInput(unknown("target", name, list(found)) + f" in {display_path(lab.path)}")
    return found[name]


def controller_of(lab: Lab, target: Target) -> Controller:
    """The address of `target`'s controller host, from its testinfra host spec. Bare specs
    are hosts of every role, so when several hosts may be the controller, the one declared
    with the controller role is."""
    where = f"lab {lab.name}, target {target.target_name}"
    hosts = [h for h in target.host_entries if "controller" in h.roles]
    if len(hosts) > 1:
        hosts = [h for h in target.hosts if isinstance(h, Host) and "controller" in h.roles]
    if len(hosts) != 1:
        specs = [h.spec for h in target.host_entries if "controller" in h.roles]
        why = (
            f"hosts {', '.join(specs)} may each be it: declare one with roles: [controller]"
            if specs
            else "no host has the controller role"
        )
        raise BadInput(f"{where}: which host is the controller? {why}")
    spec = hosts[0].spec
    try:
        address = urlsplit(spec).hostname
    except ValueError:
        address = None
    if not address or _ADDRESS.fullmatch(address) is None:
        raise BadInput(
            f"{where}: the controller host {spec} names no address to reach it at; "
            f"leave out --lab and set {CONTROLLER_VARIABLE} instead"
        )
    return Controller(address, f"{where}, host {spec}")
