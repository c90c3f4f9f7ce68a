"""Cleanup runs newest first, runs everything, and reports failures without hiding others."""

from __future__ import annotations

import pytest

from harness.scenario.cleanup import Cleanup, CleanupFailed


def test_undo_runs_in_reverse_order() -> None:
    order: list[str] = []
    registry = Cleanup()
    for name in ("network port", "volume", "server"):
        registry.add(name, lambda name=name: order.append(name))
    registry.run()
    assert order == ["server", "volume", "network port"]
    assert registry.done == ["server", "volume", "network port"]


def test_a_failing_undo_does_not_stop_the_others() -> None:
    order: list[str] = []
    registry = Cleanup()
    registry.add("volume v1", lambda: order.append("volume"))
    registry.add("server s1", lambda: (_ for _ in ()).throw(RuntimeError("409 Conflict")))
    registry.add("image i1", lambda: order.append("image"))
    with pytest.raises(CleanupFailed) as caught:
        registry.run()
    assert order == ["image", "volume"]
    assert (
        str(caught.value)
        == "cleanup left resources behind:\n  server s1: RuntimeError: 409 Conflict"
    )


def test_an_interrupt_during_cleanup_finishes_cleaning_then_propagates() -> None:
    order: list[str] = []
    registry = Cleanup()
    registry.add("volume", lambda: order.append("volume"))
    registry.add("server", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    registry.add("image", lambda: order.append("image"))
    with pytest.raises(KeyboardInterrupt):
        registry.run()
    assert order == ["image", "volume"]
    registry.run()  # nothing left to do twice
    assert order == ["image", "volume"]
