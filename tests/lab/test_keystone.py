"""The lab's Keystone (the real keystone package, served by harness/lab/identity/server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from keystoneauth1 import session
from keystoneauth1.identity import v3

from harness.lab import keystone
from harness.lab.state import LabState

AT_ONCE = 8


@pytest.fixture
def lab(tmp_path: Path, lab_python: Path) -> Iterator[LabState]:
    state = LabState(tmp_path / "lab")
    try:
        process = keystone.start(state, lab_python)
        assert process is not None
        keystone.wait_up(state, process)
        yield state
    finally:
        keystone.stop(state)


def test_the_first_requests_at_once_are_all_authorised(lab: LabState) -> None:
    """Keystone makes its policy enforcer on the first request that needs it and publishes it
    before registering its rules, so requests racing to be that first one found no rule and
    were refused: one cell's GET of its region got a 403 while five cells registered at once,
    and the main job stopped. The server makes the enforcer before it serves."""
    entry = keystone.cloud_entries(lab, "lab", "RegionOne")["lab"]
    admin = session.Session(auth=v3.Password(**entry["auth"]))
    admin.get_token()  # issuing a token enforces no policy: the GETs below are the first
    region = f"{entry['auth']['auth_url'].rstrip('/')}/v3/regions/RegionOne"

    def status(_: int) -> int:
        return admin.get(region, raise_exc=False).status_code

    with ThreadPoolExecutor(AT_ONCE) as pool:
        assert list(pool.map(status, range(AT_ONCE))) == [200] * AT_ONCE
