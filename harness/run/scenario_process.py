"""A target's pytest process, started before `matrix run` knows what it will run.

`matrix run` starts one as its first step, and one per further target as that target starts
(`python -m harness.run.scenario_process FD`). It imports what every scenario session needs
(pytest, openstacksdk, the declarations' models, the harness's scenario modules) while the run
loads the declarations and the preflight checks the target, then reads its pytest arguments
from the pipe FD (one JSON list) and runs them. A pipe closed without them means nothing is to
run (no target took it, the preflight failed, the run was stopped): it ends at once.

The harness's plugin modules are not imported here: pytest must import them itself to rewrite
their asserts. Only the modules they import are.
"""

from __future__ import annotations

import importlib
import json
import sys

WARM_IMPORTS = (
    "pytest",
    "openstack.connection",
    "harness.declarations.loading",
    "harness.run.cloud",
    "harness.run.records",
    "harness.scenario.gate",
    "harness.scenario.recorder",
    "harness.scenario.resources",
    "harness.scenario.target",
    "harness.scenario.waiters",
)
NOT_STARTED = "not started: the preflight did not pass, or the run was stopped"


def main(fd: int) -> int:
    for module in WARM_IMPORTS:
        importlib.import_module(module)
    try:
        with open(fd, "rb") as pipe:
            order = pipe.read()
    except KeyboardInterrupt:  # `matrix run` was stopped while this waited
        order = b""
    if not order:
        print(NOT_STARTED, flush=True)
        return 2
    import pytest

    return int(pytest.main(json.loads(order)))


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
