"""The preflight check kinds: what each one reads on a host and how it judges what it found.

Every implementation takes a testinfra host, the check's own model
(`harness.declarations.model.IniCheck`, `FileCheck`, ...) and the host's root (or None), and
returns a `Verdict`. Implementations only
read: files through `host.file`, services through `host.service`, packages through
`host.package`, and the declared command through `host.run`. An exception means the check could
not run; `harness.preflight.runner` turns it into an outcome with an error.

`CHECKS` maps each kind to its implementation and its one-line description: a plain mapping,
like the other registries of the harness.
"""

from __future__ import annotations

import configparser
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.declarations.model import (
    CommandCheck,
    FileCheck,
    IniCheck,
    PackageCheck,
    ServiceCheck,
    rooted,
)
from harness.run.secrets import MASK, hide_url_credentials, is_secret_key

SHOWN_OUTPUT = 200
"""How much of a command's output a failed check quotes."""

_BOOLS = ("true", "false")


@dataclass(frozen=True)
class Verdict:
    passed: bool
    found: str


def in_workdir(root: str | None, command: str) -> str:
    """`command` run from `root`, or from / on a host without one."""
    return f"cd {shlex.quote(root or '/')} && {command}"


def shorten(text: str, limit: int = SHOWN_OUTPUT) -> str:
    text = hide_url_credentials(text.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- ini ----------------------------------------------------------------------------------


def parse_ini(text: str) -> configparser.ConfigParser:
    """Parse an oslo.config file: no interpolation, repeated keys allowed (last wins), keys
    case-insensitive, and [DEFAULT] an ordinary section (configparser would otherwise copy its
    keys into every other section, which oslo.config does not)."""
    parser = configparser.ConfigParser(
        interpolation=None, strict=False, default_section="\x00no default section"
    )
    parser.read_string(text)
    return parser


def _unquote(value: str) -> str:
    """oslo.config strips one pair of matching quotes around a value."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _expected_text(expected: str | int | bool) -> str:
    return str(expected).lower() if isinstance(expected, bool) else str(expected)


def ini_equals(found: str, expected: str | int | bool) -> bool:
    """String equality; booleans compare case-insensitively (True == true == TRUE)."""
    want = _expected_text(expected)
    if want.lower() in _BOOLS and found.lower() in _BOOLS:
        return found.lower() == want.lower()
    return found == want


def ini_contains(found: str, item: str) -> bool:
    """A member of the comma-separated list, or a substring."""
    return item in [part.strip() for part in found.split(",")] or item in found


def check_ini(host: Any, check: IniCheck, root: str | None) -> Verdict:
    target = host.file(rooted(root, check.path))
    if not target.exists:
        return Verdict(False, "file missing")
    try:
        parser = parse_ini(target.content_string)
    except configparser.Error as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return Verdict(False, f"not an INI file: {shorten(first)}")
    absent = check.absent is True
    if not parser.has_section(check.section):
        if absent:
            return Verdict(True, f"section [{check.section}] missing")
        return Verdict(False, f"section [{check.section}] missing")
    if not parser.has_option(check.section, check.key):
        if absent:
            return Verdict(True, f"{check.key} not set")
        return Verdict(False, f"key {check.key} missing in [{check.section}]")
    value = _unquote(parser.get(check.section, check.key))
    shown = MASK if is_secret_key(check.key) else shorten(value)
    found = f"{check.key} = {shown}"
    if absent:
        return Verdict(False, found)
    if check.equals is not None:
        return Verdict(ini_equals(value, check.equals), found)
    if check.matches is not None:
        return Verdict(re.search(check.matches, value) is not None, found)
    if check.contains is not None:
        return Verdict(ini_contains(value, check.contains), found)
    return Verdict(True, found)


def describe_ini(check: IniCheck) -> str:
    head = f"ini {check.path} [{check.section}] {check.key}"
    if check.equals is not None:
        return f"{head} == {_expected_text(check.equals)}"
    if check.matches is not None:
        return f"{head} matches /{check.matches}/"
    if check.contains is not None:
        return f"{head} contains {check.contains}"
    if check.absent is True:
        return f"{head} absent"
    return f"{head} is set"


# --- file ---------------------------------------------------------------------------------

# test(1) flags in the order a path's type is named (a symlink first: test -f follows links).
_TYPE_FLAGS = {
    "symlink": "-L",
    "file": "-f",
    "directory": "-d",
    "char": "-c",
    "block": "-b",
    "socket": "-S",
}
_TYPE_NAMES = {
    "symlink": "a symlink",
    "file": "a regular file",
    "directory": "a directory",
    "char": "a character device",
    "block": "a block device",
    "socket": "a socket",
}


def _is_type(host: Any, path: str, kind: str) -> bool:
    return bool(host.run("test %s %s", _TYPE_FLAGS[kind], path).rc == 0)


def _type_of(host: Any, path: str) -> str:
    for kind in _TYPE_FLAGS:
        if _is_type(host, path, kind):
            return _TYPE_NAMES[kind]
    return "another kind of file"


def check_file(host: Any, check: FileCheck, root: str | None) -> Verdict:
    path = rooted(root, check.path)
    target = host.file(path)
    # a dangling symlink does not "exist" for test -e, but it is there
    if not target.exists and not (check.type == "symlink" and target.is_symlink):
        return Verdict(False, "file missing")
    if check.type is not None and not _is_type(host, path, check.type):
        return Verdict(False, _type_of(host, path))
    if check.contains is not None:
        # reading a device or a fifo could block forever: only regular files are read
        if not target.is_file:
            return Verdict(False, f"{_type_of(host, path)}, not read")
        if check.contains not in target.content_string:
            return Verdict(False, f"does not contain {check.contains!r}")
        return Verdict(True, f"contains {check.contains!r}")
    return Verdict(True, "exists" if check.type is None else _TYPE_NAMES[check.type])


def describe_file(check: FileCheck) -> str:
    text = f"file {check.path}"
    if check.type is not None:
        text += f" is {_TYPE_NAMES[check.type]}"
    else:
        text += " exists"
    if check.contains is not None:
        text += f" and contains {check.contains!r}"
    return text


# --- service ------------------------------------------------------------------------------


def check_service(host: Any, check: ServiceCheck, _root: str | None) -> Verdict:
    service = host.service(check.name)
    running = bool(service.is_running)
    found = "service running" if running else "service not running"
    if running != check.running:
        return Verdict(False, found)
    if check.enabled is not None:
        enabled = bool(service.is_enabled)
        found += ", enabled" if enabled else ", not enabled"
        if enabled != check.enabled:
            return Verdict(False, found)
    return Verdict(True, found)


def describe_service(check: ServiceCheck) -> str:
    text = f"service {check.name} {'running' if check.running else 'not running'}"
    if check.enabled is not None:
        text += ", enabled" if check.enabled else ", not enabled"
    return text


# --- package ------------------------------------------------------------------------------


def check_package(host: Any, check: PackageCheck, _root: str | None) -> Verdict:
    package = host.package(check.name)
    if not package.is_installed:
        return Verdict(False, "package not installed")
    if check.version is None:
        return Verdict(True, "installed")
    version = str(package.version)
    return Verdict(version.startswith(check.version), f"version {version}")


def describe_package(check: PackageCheck) -> str:
    text = f"package {check.name} installed"
    if check.version is not None:
        text += f", version {check.version}*"
    return text


# --- command ------------------------------------------------------------------------------


def check_command(host: Any, check: CommandCheck, root: str | None) -> Verdict:
    """The command runs from the host's root (`/` on a real host): see `Host.workdir`."""
    result = host.run(in_workdir(root, check.run))
    rc, stdout = int(result.rc), str(result.stdout)
    if rc != check.exit_status:
        stderr = shorten(str(result.stderr))
        return Verdict(False, f"exit {rc}" + (f": {stderr}" if stderr else ""))
    if check.matches is not None and re.search(check.matches, stdout) is None:
        return Verdict(False, f"stdout: {shorten(stdout)!r}")
    return Verdict(True, f"exit {rc}" + (f", stdout: {shorten(stdout)!r}" if check.matches else ""))


def describe_command(check: CommandCheck) -> str:
    text = f"command {check.run!r} exits {check.exit_status}"
    if check.matches is not None:
        text += f" and stdout matches /{check.matches}/"
    return text


CheckFunction = Callable[[Any, Any, str | None], Verdict]


@dataclass(frozen=True)
class CheckKind:
    """One kind of check: how to run it on a host and how to say what it expects."""

    run: CheckFunction
    describe: Callable[[Any], str]


CHECKS: dict[str, CheckKind] = {
    "ini": CheckKind(check_ini, describe_ini),
    "file": CheckKind(check_file, describe_file),
    "service": CheckKind(check_service, describe_service),
    "package": CheckKind(check_package, describe_package),
    "command": CheckKind(check_command, describe_command),
}
"""The registry: its keys are exactly the kinds the `Check` model accepts (a test holds that)."""
