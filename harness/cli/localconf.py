"""`matrix localconf`: the devstack local.conf that deploys a combination, on either node."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import click

from harness.cli.options import OutputPath, Settings, lab_file_option
from harness.cli.registry import short_help
from harness.declarations.problems import display_path
from harness.devstack.localconf import Controller, controller_of, find_target, local_conf
from harness.devstack.settings import Node, origins
from harness.errors import BadInput, Failure


@click.command("localconf", short_help=short_help("localconf"))
@click.argument("combination_id", metavar="COMBINATION")
@click.option(
    "--node",
    type=click.Choice(get_args(Node)),
    default="controller",
    show_default=True,
    help="The controller, or a compute-only subnode of a multinode devstack.",
)
@lab_file_option("A lab file whose --target's controller host gives a subnode its SERVICE_HOST.")
@click.option("--target", "target_name", help="The lab file's target (with --lab).")
@click.option(
    "--out",
    type=OutputPath(directory=False),
    help="Write the local.conf here (default: print it).",
)
@click.pass_context
def localconf(
    ctx: click.Context,
    combination_id: str,
    node: Node,
    lab_file: Path | None,
    target_name: str | None,
    out: Path | None,
) -> None:
    """The devstack local.conf for COMBINATION: its values' localrc, plugins, services and
    post-config, each line naming the value it comes from. A subnode gets what devstack's
    devstack-multinode job gives one; its SERVICE_HOST is the lab target's controller, or
    $CONTROLLER_IP. Passwords are not declared: add them, or let the job set them."""
    settings: Settings = ctx.obj
    controller: Controller | None = None
    if (lab_file is None) != (target_name is None):
        raise click.UsageError("--lab and --target go together")
    if lab_file is not None and target_name is not None:
        matrix, lab = settings.lab(lab_file)
        origins(matrix, combination_id)  # an unknown id first, with the nearest one
        target = find_target(lab, target_name)
        if target.combination != combination_id:
            raise BadInput(
                f"target {target_name} of {display_path(lab_file)} deploys "
                f"{target.combination}, not {combination_id}"
            )
        controller = controller_of(lab, target) if node == "subnode" else None
    else:
        matrix = settings.declarations()
    text = local_conf(matrix, combination_id, node, controller)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise Failure(f"cannot write {display_path(out)}: {error.strerror or error}") from None
    click.echo(f"wrote {display_path(out)}")
