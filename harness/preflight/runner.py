"""Preflight: prove that a target really is the combination it claims, before any scenario runs.

For the target's combination, every axis value's `verify` checks run (through testinfra) on the
target's hosts whose roles include the check's role, and every value's `facts` commands run on
every host; the lab file's image, flavors and network are looked up in the cloud (`names`). A
host that cannot be reached fails all its checks with the error; nothing raises. The result is
a `PreflightResult`: `passed`, `failed`, or `skipped` when the target declares no hosts
(nothing could be verified, which is not the same as verified) and its names were found.

Only reading commands are run, and what is shown has passwords in URLs and secret-looking ini
keys hidden (`harness.run.secrets`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import testinfra

from harness.declarations.matrix import COMBINATION_SEPARATOR, Matrix
from harness.declarations.model import Check, Host, Target
from harness.preflight import names
from harness.preflight.checks import CHECKS, in_workdir, shorten
from harness.preflight.outcome import NOT_CHECKED, CheckOutcome, describe_error
from harness.run.secrets import hide_url_credentials

Status = Literal["passed", "failed", "skipped"]
Connect = Callable[[str], Any]
"""spec -> testinfra.host.Host (testinfra is untyped)."""


@dataclass(frozen=True)
class PreflightResult:
    status: Status
    outcomes: list[CheckOutcome] = field(default_factory=list)
    facts: dict[str, dict[str, str]] = field(default_factory=dict)
    duration_s: float = 0.0
    found: names.Found = field(default_factory=dict)  # not recorded: handed to the scenarios

    @property
    def failures(self) -> list[CheckOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "outcomes": [asdict(outcome) for outcome in self.outcomes],
            "facts": {host: dict(facts) for host, facts in self.facts.items()},
            "duration_s": round(self.duration_s, 3),
        }


def run_preflight(
    matrix: Matrix,
    target: Target,
    connect: Connect = testinfra.get_host,
    cloud: Callable[[], Any] | None = None,
) -> PreflightResult:
    """Verify `target` against the checks and facts of its combination's values and, given a
    way to open its cloud, that the lab file's image, flavors and network exist there."""
    started = time.monotonic()
    if target.combination not in matrix.combinations:
        name, combination = target.target_name, target.combination
        raise ValueError(f"target {name!r}: unknown combination {combination!r}")
    # The cloud's names are looked up while the hosts are checked: both mostly wait.
    with ThreadPoolExecutor(1, thread_name_prefix="preflight-names") as pool:
        named = pool.submit(names.check_names, cloud, target) if cloud is not None else None
        checked, facts = _check_hosts(matrix, target, connect)
        looked_up, found = named.result() if named is not None else ([], {})
        outcomes = looked_up + checked
    if not target.host_entries:  # nothing verified the combination: skipped, unless a name
        status: Status = "failed" if any(not o.passed for o in outcomes) else "skipped"
        spent = time.monotonic() - started
        return PreflightResult(status, outcomes, duration_s=spent, found=found)
    status = "failed" if any(not o.passed for o in outcomes) else "passed"
    return PreflightResult(status, outcomes, facts, time.monotonic() - started, found)


def _check_hosts(
    matrix: Matrix, target: Target, connect: Connect
) -> tuple[list[CheckOutcome], dict[str, dict[str, str]]]:
    """Every applicable check on every host of the target, and each host's facts."""
    values = list(_values(matrix, target.combination))
    outcomes: list[CheckOutcome] = []
    facts: dict[str, dict[str, str]] = {}
    for host in target.host_entries:
        connection, unreachable = _connect(connect, host.spec)
        for value, check in ((v, c) for v, checks, _ in values for c in checks):
            if not _applies(check, host):
                continue
            outcomes.append(_run_check(connection, unreachable, host, value, check))
        if host.label not in facts:  # hosts sharing a spec and root are one host
            commands = {name: cmd for _, _, value_facts in values for name, cmd in value_facts}
            facts[host.label] = _facts(connection, unreachable, host.root, commands)
    return outcomes, facts


def _values(
    matrix: Matrix, combination_id: str
) -> Iterator[tuple[str, list[Check], list[tuple[str, str]]]]:
    """("axis/value", its checks, its facts) for every value of the combination, in axis order."""
    for axis, value_id in matrix.combinations[combination_id].values.items():
        value = matrix.value(axis, value_id)
        yield f"{axis}{COMBINATION_SEPARATOR}{value_id}", value.verify, list(value.facts.items())


def _applies(check: Check, host: Host) -> bool:
    return check.role == "all" or check.role in host.roles


def _connect(connect: Connect, spec: str) -> tuple[Any, str | None]:
    """The testinfra host and, when it cannot be reached, why (one probe, not one per check)."""
    try:
        connection = connect(spec)
        probe = connection.run("true")
        if probe.rc != 0:
            return connection, f"host unreachable: probe 'true' exited {probe.rc}"
    except Exception as error:  # any backend failure means the host cannot be checked
        return None, f"host unreachable: {describe_error(error)}"
    return connection, None


def _run_check(
    connection: Any, unreachable: str | None, host: Host, value: str, check: Check
) -> CheckOutcome:
    kind = check.kind
    spec = getattr(check, kind)
    outcome = CheckOutcome(host.label, value, kind, CHECKS[kind].describe(spec), False, NOT_CHECKED)
    if unreachable is not None:
        return replace(outcome, error=unreachable)
    try:
        verdict = CHECKS[kind].run(connection, spec, host.root)
    except Exception as error:  # a check that cannot run fails with the reason, never raises
        return replace(outcome, error=describe_error(error))
    return replace(outcome, passed=verdict.passed, found=verdict.found)


def _facts(
    connection: Any, unreachable: str | None, root: str | None, commands: dict[str, str]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, command in commands.items():
        if unreachable is not None:
            found[name] = f"error: {unreachable}"
            continue
        try:
            result = connection.run(in_workdir(root, command))
        except Exception as error:
            found[name] = f"error: {describe_error(error)}"
            continue
        if result.rc == 0:
            found[name] = hide_url_credentials(str(result.stdout).strip())
        else:
            found[name] = f"exit {result.rc}: {shorten(str(result.stderr))}"
    return found
