"""The commands of `matrix`: where each lives and the line `matrix --help` shows for it.

The one source of both: the command's decorator takes its short help from here, and the
group (`main.LazyGroup`) lists them from here without importing a single command module. A
command may have a prelude: what starts before its module is imported.
"""

from __future__ import annotations

COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("declarations", "validate", "Check the declarations (and lab files)."),
    "list": ("declarations", "list_", "List combinations (or, with --features, features)."),
    "show": ("declarations", "show", "Show a combination's values and what applies there."),
    "schema": ("declarations", "schema_", "Write the JSON Schemas of the declaration files."),
    "localconf": ("localconf", "localconf", "The devstack local.conf for a combination."),
    "lab": ("lab", "lab", "The embedded lab: real Nova cells on 127.0.0.1."),
    "run": ("run", "run", "Preflight, scenarios, run records and JUnit per target."),
    "cleanup": ("cleanup", "cleanup", "Delete what runs made and left behind in the clouds."),
    "tempest": ("tempest", "tempest", "Tempest's tests on a target, beside the harness's own."),
    "ingest": ("ingest", "ingest_", "Add run records (directories or archives) to the history."),
    "levels": ("levels", "levels", "The known-to-work level of every feature and combination."),
    "check": ("check", "check", "What is known to work on a combination, with its evidence."),
    "diff": ("diff", "diff", "What changed between two states of the matrix (for CI)."),
    "publish": ("publish", "publish", "Write the static site and the exports."),
    "ci": ("ci", "ci", "CI jobs (Zuul, GitHub, GitLab): a job per combination, publish."),
}
"""Command name -> (module of harness.cli, the command's attribute there, its short help)."""

PRELUDES: dict[str, tuple[str, str]] = {
    "run": ("harness.run.launcher", "start_ahead"),
}
"""Command name -> (module, function) called with the click context as soon as the command is
chosen, before its module is imported: work that should overlap that import and the command's
first steps (`matrix run`'s first pytest process imports for half a second)."""


def short_help(name: str) -> str:
    """The line `matrix --help` shows for command `name`."""
    return COMMANDS[name][2]
