"""CI job definitions from the declarations: one job per combination (or lab target), and a
publish job that merges what they recorded.

`jobs` says which run jobs there are and what each needs (two nodes for migrations);
`commands` is the one place the shell commands every engine's jobs run are spelt; `zuul`,
`github` and `gitlab` render them in each engine's own format (`output`: their YAML).
`ENGINES` is the registry `matrix ci ENGINE` looks an engine up in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.ci.jobs import Files, Request

ENGINES: dict[str, str] = {
    "zuul": "harness.ci.zuul",
    "github": "harness.ci.github",
    "gitlab": "harness.ci.gitlab",
}
"""Engine name -> the module whose `render(request) -> files` writes its configuration; a
module is imported only when its engine is asked for."""


def renderer(engine: str) -> Callable[[Request], Files]:
    render: Callable[[Request], Files] = importlib.import_module(ENGINES[engine]).render
    return render
