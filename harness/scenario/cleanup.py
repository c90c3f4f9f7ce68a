"""Undo what a scenario created, newest first, whatever happened to the scenario.

Resources are registered the moment they exist, so an interrupted or failing scenario still
cleans up. Every undo runs even if an earlier one fails; the failures are collected and
raised together afterwards, so pytest reports them as a teardown error next to the
scenario's own result instead of in place of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class CleanupFailed(Exception):
    """Some resources could not be removed; the message lists each with its error."""


@dataclass
class Cleanup:
    _undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    def add(self, what: str, undo: Callable[[], None]) -> None:
        self._undo.append((what, undo))

    def run(self) -> None:
        failures = []
        interrupted: BaseException | None = None
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
                self.done.append(what)
            except KeyboardInterrupt as stop:  # finish cleaning, then honour the interrupt
                interrupted = stop
                failures.append(f"{what}: interrupted")
            except Exception as error:  # report every failure, not just the first
                failures.append(f"{what}: {type(error).__name__}: {error}")
        if interrupted is not None:
            raise interrupted
        if failures:
            raise CleanupFailed("cleanup left resources behind:\n  " + "\n  ".join(failures))
