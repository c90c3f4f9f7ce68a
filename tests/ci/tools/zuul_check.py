"""Parse Zuul configuration files with Zuul's own configuration loader, offline.

Run with the Zuul virtualenv's python (scripts/ci-tools.sh): `python zuul_check.py FILE...`.
Each item goes through the parser Zuul's scheduler uses for it (its voluptuous schema, then
building the model object); prints one line per item parsed, and exits 1 on the first error.
Pipelines and tenants need a running Zuul's connections, so only jobs, project-templates,
projects, nodesets, secrets and semaphores are accepted here.
"""

from __future__ import annotations

import sys
from typing import ClassVar

from zuul import configloader, model


class NoConnections:
    """The parse context asks for the connections' drivers only to build pipeline schemas."""

    connections: ClassVar[dict[str, object]] = {}


def check(path: str) -> None:
    with open(path) as stream:
        text = stream.read()
    source = model.SourceContext("example.org/org/project", "org/project", "gerrit", "master", path)
    context = configloader.ParseContext(NoConnections(), None, None, None)
    parsers = {
        "job": context.job_parser,
        "project-template": context.project_template_parser,
        "project": context.project_parser,
        "nodeset": context.nodeset_parser,
        "secret": context.secret_parser,
        "semaphore": context.semaphore_parser,
    }
    for item in configloader.safe_load_yaml(text, source):
        ((kind, conf),) = item.items()
        parsed = parsers[kind].fromYaml(conf)
        print(f"{kind} {getattr(parsed, 'name', '')}")
    if context.error_list:
        raise SystemExit(f"{path}: {context.error_list}")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        try:
            check(name)
        except SystemExit:
            raise
        except Exception as error:  # Zuul's parsers raise voluptuous and their own errors
            raise SystemExit(f"{name}: {type(error).__name__}: {error}") from None
