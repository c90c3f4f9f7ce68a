"""`matrix ci zuul|github|gitlab [--lab FILE] [--out DIR]`: CI job definitions from the
declarations, one job per combination (or lab target) and a publish job that merges them.

Without --out the files are printed, each after a `# file: PATH` line; with --out they are
written below DIR (the repository's root), replacing only themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from harness.ci import ENGINES, renderer
from harness.cli.options import OutputPath, Settings, feature_option
from harness.cli.output import say
from harness.cli.registry import short_help
from harness.declarations.problems import display_path
from harness.errors import Failure


@click.command("ci", short_help=short_help("ci"))
@click.argument("engine", type=click.Choice(list(ENGINES)))
@click.option(
    "--lab",
    "lab_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="One job per target of this lab file (runners that reach its clouds); without it, "
    "one job per combination, each deploying its own devstack (what Zuul jobs do).",
)
@feature_option("Only this feature's scenarios in every job (repeatable; default: all).")
@click.option(
    "--voting/--non-voting",
    default=False,
    help="Whether the run jobs vote (default: non-voting; a failed scenario then fails no job).",
)
@click.option("--runs-on", help="GitHub: the runner label of the run jobs.")
@click.option(
    "--zuul-web",
    default="https://zuul.opendev.org",
    show_default=True,
    help="Zuul: the web root build URLs are recorded under.",
)
@click.option(
    "--out",
    type=OutputPath(directory=True),
    help="The repository's root: the files are written below it instead of printed.",
)
@click.pass_context
def ci(
    ctx: click.Context,
    /,
    engine: str,
    lab_file: Path | None,
    features: tuple[str, ...],
    voting: bool,
    runs_on: str | None,
    zuul_web: str,
    out: Path | None,
) -> None:
    """CI job definitions: one job per combination or lab target, plus the publish job."""
    from harness.ci.jobs import Request, repository_path

    settings: Settings = ctx.obj
    root = Path.cwd()
    lab, lab_path, embedded = None, None, False
    if lab_file is None:
        matrix = settings.declarations()
    else:
        matrix, lab = settings.lab(lab_file)
        lab_path = repository_path(lab_file, root)
        embedded = lab_file.resolve() == settings.embedded_lab_file.resolve()
    request = Request(
        matrix, lab, lab_path, embedded,
        features=features, voting=voting, runs_on=runs_on, zuul_web=zuul_web,
    )  # fmt: skip
    files = renderer(engine)(request)
    if out is None:
        for path, text in files.items():
            click.echo(f"# file: {path}\n{text}", nl=False)
        return
    for path, text in files.items():
        _write(out / path, text)
        say(f"wrote {display_path(out / path)}")


def _write(path: Path, text: str) -> None:
    """Replace one file whole (a half-written job definition is never left behind)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(text)
        partial.replace(path)
    except OSError as error:
        raise Failure(f"cannot write {display_path(path)}: {error.strerror or error}") from None
