"""What the plugin keeps on pytest's config (and item) stash for one scenario session."""

from __future__ import annotations

from typing import Any

import pytest

from harness.scenario.accounting import RequestLog
from harness.scenario.recorder import Recorder
from harness.scenario.target import TargetContext

CONTEXT = pytest.StashKey[TargetContext]()
RECORDER = pytest.StashKey[Recorder]()
OWNS_HEADER = pytest.StashKey[bool]()
RUN_ID = pytest.StashKey[str]()
REQUESTS = pytest.StashKey[RequestLog]()
REQUESTS_BEFORE = pytest.StashKey[int]()
FOUND = pytest.StashKey[dict[str, dict[str, Any]]]()
"""The lab file's names as `matrix run`'s preflight found them (`launcher.described`)."""
CONNECTION = pytest.StashKey[Any]()
"""The target's cloud, opened while the session collected (`fixtures.connect_early`)."""
