"""`matrix publish --out DIR`: compute every cell's level and write the site and exports.

Stdout is only the absolute path of the index, so a CI job can capture it; progress goes to
stderr.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import click

from harness.cli.options import OutputPath, Settings, history_options
from harness.cli.output import say
from harness.cli.registry import short_help
from harness.declarations.problems import display_path
from harness.errors import BadInput, Failure
from harness.levels.compute import compute_levels
from harness.publish import publish as publish_site


@click.command("publish", short_help=short_help("publish"))
@click.option(
    "--out",
    required=True,
    type=OutputPath(directory=True),
    help="Directory to write the site into (created if missing; only its own files replaced).",
)
@history_options
@click.pass_context
def publish(ctx: click.Context, out: Path, db: Path, at: datetime | None) -> None:
    """Publish the matrix as a static site (with JSON, Markdown, RST and Nova INI exports)."""
    settings: Settings = ctx.obj
    matrix = settings.matrix()
    if matrix.policy is None:
        raise BadInput(f"{display_path(settings.matrix_dir)}: no level policy (levels.yaml)")
    if not db.exists():
        say(f"{display_path(db)}: no history yet, so every cell is unknown or n/a")
    levels = compute_levels(matrix, db, now=at)
    counts = Counter(cell.level for cell in levels.cells.values())
    say(
        f"levels of {len(levels.features)} features x {len(levels.combinations)} combinations "
        f"as of {levels.computed_at}: "
        + ", ".join(f"{counts[level]} {level}" for level in levels.levels if counts[level])
    )
    try:
        index = publish_site(levels, matrix, out)
    except OSError as error:
        raise Failure(f"cannot write the site into {display_path(out)}: {error}") from None
    say(f"wrote the site into {display_path(out)}")
    click.echo(str(index.resolve()))
