"""One preflight check's outcome, shared by the host checks (`runner`) and the cloud's name
lookups (`names`)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.preflight.checks import shorten

NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class CheckOutcome:
    host: str  # the host's testinfra spec
    value: str  # "axis/value"
    kind: str
    description: str
    passed: bool
    found: str
    error: str | None = None  # the check could not run (host unreachable, ...)


def describe_error(error: BaseException) -> str:
    """One line: testinfra's ssh backend raises RuntimeError(CommandResult) on exit 255."""
    arg = error.args[0] if error.args else None
    if arg is not None and hasattr(arg, "stderr") and hasattr(arg, "rc"):
        text = shorten(str(arg.stderr)) or f"exit {arg.rc}"
    else:
        text = shorten(str(error)) or type(error).__name__
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())
