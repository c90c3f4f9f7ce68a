"""One root for every error a user can act on, and the exit codes they become.

Every module raises a subclass of `MatrixError` for what the user must fix or know (bad
declarations, a lab that will not start, a clouds.yaml entry that is missing, a malformed
record); the command line catches it once, at the top (`harness.cli.main`), prints its lines
and exits with its code. Anything else that escapes is a bug: one line, exit 70, the
traceback only under `--debug`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_FAILED: "a scenario or preflight failed, or a failure the message explains",
    EXIT_USAGE: "bad input or usage (declarations, lab file, records, options)",
    EXIT_INTERNAL: "a bug in the harness (rerun with --debug for the traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); what finished is recorded",
}
"""The contract scripts and CI rely on; the CLI's help and the README print this table."""


class MatrixError(Exception):
    """An error whose message says everything the user needs; no traceback."""

    exit_code = EXIT_FAILED

    def lines(self) -> list[str]:
        """What the user reads, one line each (most errors are a single line)."""
        return str(self).splitlines() or [type(self).__name__]


class BadInput(MatrixError):
    """The input is wrong: nothing was changed, fix it and try again (exit 2)."""

    exit_code = EXIT_USAGE


class Failure(MatrixError):
    """The input was fine but something it asked for could not be done (exit 1)."""

    exit_code = EXIT_FAILED
