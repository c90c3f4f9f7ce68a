"""Matrix expansion with GitHub Actions semantics: product, then exclude, then include.

As GitHub documents it: an exclude entry removes every product combination it partially
matches. Each include entry is then added to every product combination whose *original*
values it does not overwrite (values added by earlier includes may be overwritten); an
include entry that fits no product combination becomes a combination of its own, which
later includes do not extend. Kept generic (plain string mappings) so the semantics can be
tested against GitHub's own examples.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Expanded:
    """One resulting combination and where it came from (for error locations)."""

    values: dict[str, str]
    origin: tuple[str, int] | None = None  # ("include", index) for combinations an include made
    original_keys: frozenset[str] = field(default_factory=frozenset)


@dataclass
class Expansion:
    combinations: list[Expanded]
    unused_excludes: list[int]  # exclude entries that removed nothing: likely mistakes


def expand(
    product: Mapping[str, Sequence[str]],
    exclude: Sequence[Mapping[str, str]] = (),
    include: Sequence[Mapping[str, str]] = (),
) -> Expansion:
    keys = list(product)
    base = (
        [
            Expanded(dict(zip(keys, choice, strict=True)), None, frozenset(keys))
            for choice in itertools.product(*(product[k] for k in keys))
        ]
        if keys
        else []
    )

    used = [False] * len(exclude)
    kept = []
    for combo in base:
        hits = [i for i, rule in enumerate(exclude) if _matches(combo.values, rule)]
        for i in hits:
            used[i] = True
        if not hits:
            kept.append(combo)

    created: list[Expanded] = []
    for index, entry in enumerate(include):
        extended = False
        for combo in kept:
            if all(combo.values.get(k) == v for k, v in entry.items() if k in combo.original_keys):
                combo.values.update(entry)
                extended = True
        if not extended:
            created.append(Expanded(dict(entry), ("include", index)))

    return Expansion(kept + created, [i for i, hit in enumerate(used) if not hit])


def _matches(values: Mapping[str, str], rule: Mapping[str, str]) -> bool:
    return all(values.get(k) == v for k, v in rule.items())
