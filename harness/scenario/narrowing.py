"""Which scenario modules a run of a few features needs to import at all.

Collecting imports every module (with pytest's assertion rewriting) before `--feature`
deselects: thirty of them for one feature, a tenth of a second on the path to the first
scenario. A module whose feature marks, read from its text, all name other declared
features cannot hold a wanted scenario, so it is not imported. Reading is conservative: a mark
written other than `mark.feature("id")` (a computed id, a mark imported from elsewhere) or
naming an undeclared feature leaves the module to be collected, and judged, as before.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_ANY_MARK = re.compile(r"mark\s*\.\s*feature\s*\(")
_LITERAL_MARK = re.compile(r"""mark\s*\.\s*feature\s*\(\s*(['"])([^'"\\]+)\1\s*\)""")


def marked_features(source: str) -> set[str] | None:
    """The features a module's marks name, or None when a mark's id is not a plain string (or
    there is no mark to read): then only importing the module tells."""
    named = [match.group(2) for match in _LITERAL_MARK.finditer(source)]
    if not named or len(named) != len(_ANY_MARK.findall(source)):
        return None
    return set(named)


def needless(source: str, wanted: Collection[str], declared: Collection[str]) -> bool:
    """Whether a module with this text holds no scenario of the `wanted` features."""
    marked = marked_features(source)
    return marked is not None and marked <= set(declared) and not marked & set(wanted)
