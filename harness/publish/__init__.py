"""`matrix publish`: the static site and the export formats, written into one directory.

Everything is built in a fresh staging directory inside `out` (so on the same file system,
even when `out` is a mount point) and then renamed into place, so a failure while rendering
leaves `out` as it was and no reader ever finds a half-written file. Only the
entries the site owns are replaced: a manifest (`.matrix-site`) names them, so an entry an
earlier publish wrote and this one does not is removed, while files others keep in `out`
(a CNAME, a README) are left alone. A page the previous site has byte for byte is hard-linked
from it rather than written (`files`), so only changed pages are new files.

The pages are `site` (Jinja2 templates/ and static/, with `fragments` for rows repeated
thousands of times and `plot` for the pass-rate SVG); the exports are `exports`:
`json_export` (shaped by `export_schema`), `markdown` and `rst` (from `text_table`) and
`nova_ini`. `files` and `workers` keep a big lab's site fast to write.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from harness.declarations.matrix import Matrix
from harness.levels.compute import LevelMatrix
from harness.publish.exports import write_exports
from harness.publish.site import INDEX, Site

MANIFEST = ".matrix-site"
STAGING_PREFIX = ".matrix-site-staging-"


def publish(levels: LevelMatrix, matrix: Matrix, out: Path) -> Path:
    """Write the site and the exports into `out` (created if missing); the index's path."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))

    def exports() -> list[str]:
        return [_relative(path, staging) for path in write_exports(levels, matrix, staging)]

    try:
        Site(levels, matrix).write(staging, meanwhile=exports, previous=out)
        _move_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / INDEX


def _relative(path: Path, staging: Path) -> str:
    """The link to an export from the index: its path inside the staging directory, which
    becomes `out` (a relative path is relative to the working directory, like `staging`)."""
    return path.resolve().relative_to(staging.resolve()).as_posix()


def _move_in(staging: Path, out: Path) -> None:
    """Replace the owned entries of `out` by the staged ones, the index last (so it never
    links to pages not there yet), then drop owned entries this publish did not write."""
    new = sorted(os.listdir(staging), key=lambda name: (name == INDEX, name))
    old = _owned(out)
    (staging / MANIFEST).write_text("".join(f"{name}\n" for name in new), encoding="utf-8")
    trash = staging / ".replaced"
    trash.mkdir()
    for name in new:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            target.rename(trash / name)
        elif (staging / name).is_dir() and (target.exists() or target.is_symlink()):
            target.unlink()
        os.replace(staging / name, target)
    for name in sorted(old - set(new)):
        target = out / name
        if target.is_dir() and not target.is_symlink():
            target.rename(trash / name)
        elif target.exists() or target.is_symlink():
            target.unlink()
    os.replace(staging / MANIFEST, out / MANIFEST)


def _owned(out: Path) -> set[str]:
    """Names an earlier publish wrote, as its manifest says; only plain names are trusted."""
    try:
        lines = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return set()
    return {
        name
        for name in lines
        if name
        and name not in (".", "..", MANIFEST)
        and not name.startswith(STAGING_PREFIX)
        and "/" not in name
        and "\\" not in name
    }
