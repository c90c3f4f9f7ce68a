"""Nova's database schemas, migrated once per lab virtualenv and replayed by every cell after.

Nova's Database fixture migrates the first database of each kind (api, main) in a process
with alembic, a third of a second, keeps the resulting SQL in `DB_SCHEMA` and replays it for
every later database of that process. A cell is a process of its own, so each cell paid for
the migrations again. The SQL is kept in the lab's virtualenv instead, beside Keystone's seed,
for the Nova version installed there: a cell whose setUp finds it puts it into `DB_SCHEMA`
first, so the fixture replays it; one that does not migrates as before and leaves it for the
next. Imported after nova.tests.functional (server.py's import-order trap).
"""

import importlib
import importlib.metadata
import json
import os
import sys

SEED = os.path.join(sys.prefix, "nova-schema-seed.json")
KINDS = ("api", "main")  # the databases a cell's fixtures create; version None: the newest


def load(path=SEED):
    """Put the seed's schemas into Nova's fixture cache; whether there was a seed for this
    Nova (one for another version, or a damaged file, counts as none)."""
    nova_fixtures = _fixtures()
    try:
        with open(path, encoding="utf-8") as f:
            seed = json.load(f)
    except (OSError, ValueError):
        return False
    if not isinstance(seed, dict) or seed.get("nova") != _nova_version():
        return False
    schemas = seed.get("schemas")
    if not isinstance(schemas, dict) or sorted(schemas) != sorted(KINDS):
        return False
    if not all(isinstance(sql, str) and sql for sql in schemas.values()):
        return False
    for kind, sql in schemas.items():
        nova_fixtures.DB_SCHEMA[(kind, None)] = sql
    return True


def keep(path=SEED):
    """Write what the fixture migrated to the seed, atomically (cells starting together may
    all write it; each writes the same)."""
    nova_fixtures = _fixtures()
    schemas = {kind: nova_fixtures.DB_SCHEMA.get((kind, None), "") for kind in KINDS}
    if not all(schemas.values()):
        return False
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump({"nova": _nova_version(), "schemas": schemas}, f)
    os.replace(partial, path)
    return True


def _fixtures():
    """nova.tests.fixtures.nova (the package's own `nova` attribute is not that module)."""
    return importlib.import_module("nova.tests.fixtures.nova")


def _nova_version():
    return importlib.metadata.version("nova")
