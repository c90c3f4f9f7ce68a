"""The files that describe a running embedded lab, under one directory (default `.lab/`).

    .lab/clouds.yaml                    two entries per running cell, admin and member
                                        (0600: it holds passwords)
    .lab/lab.yaml                       a lab file for the running cells, pointing at clouds.yaml
                                        and at each host's configuration
    .lab/keystone/                      the lab's Keystone (harness/lab/keystone.py)
    .lab/cells/<cell>/pid               written by the harness when it starts the cell
    .lab/cells/<cell>/identity.json     the cell's Keystone service user (0600), read by the cell
    .lab/cells/<cell>/endpoint.json     written by the cell once it serves
    .lab/cells/<cell>/cell.log          the cell's output
    .lab/cells/<cell>/hosts/<host>/etc/nova/nova-cpu.conf   each host's effective config

The lab file is generated rather than shipped because ports and paths change on every `up`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.lab import keystone, processes
from harness.lab.cells import CellSpec
from harness.lab.private_files import write_private

DEFAULT_DIR = Path(".lab")
CLOUDS_FILE = "clouds.yaml"
LAB_FILE = "lab.yaml"


@dataclass(frozen=True)
class Endpoint:
    """What a cell reports once it serves (its endpoint.json)."""

    name: str
    pid: int
    url: str
    compute: str
    volume: str
    image: str
    network: str
    hosts: tuple[str, ...]
    ready_seconds: float
    rss_mb: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoint:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            url=str(data["url"]),
            compute=str(data["compute"]),
            volume=str(data["volume"]),
            image=str(data["image"]),
            network=str(data["network"]),
            hosts=tuple(data["hosts"]),
            ready_seconds=float(data.get("ready_seconds", 0.0)),
            rss_mb=int(data.get("rss_mb", 0)),
        )


class LabState:
    def __init__(self, root: Path = DEFAULT_DIR) -> None:
        self.root = root

    @property
    def clouds_file(self) -> Path:
        return self.root / CLOUDS_FILE

    @property
    def lab_file(self) -> Path:
        return self.root / LAB_FILE

    def cell_dir(self, name: str) -> Path:
        return self.root / "cells" / name

    def cell_names(self) -> list[str]:
        cells = self.root / "cells"
        return sorted(p.name for p in cells.iterdir() if p.is_dir()) if cells.is_dir() else []

    def pid(self, name: str) -> int | None:
        return processes.read_pid(self.cell_dir(name))

    def endpoint(self, name: str) -> Endpoint | None:
        try:
            return Endpoint.from_json(
                json.loads((self.cell_dir(name) / "endpoint.json").read_text())
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def spec(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.cell_dir(name) / "spec.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def log_tail(self, name: str, lines: int = 25) -> str:
        return processes.log_tail(self.cell_dir(name), "cell.log", lines)

    def prepare_cell(self, cell: CellSpec) -> Path:
        """A clean directory for a cell about to start, keeping nothing from an earlier run."""
        directory = self.cell_dir(cell.name)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in ("pid", "endpoint.json", "endpoint.json.tmp", "cell.log", "exit-status"):
            (directory / stale).unlink(missing_ok=True)
        keystone.write_cell_identity(self, cell.name)
        spec = {
            "combination": cell.combination,
            "cloud": cell.cloud,
            "hosts": list(cell.hosts),
            "target": cell.target.model_dump(mode="json", exclude_none=True),
        }
        (directory / "spec.json").write_text(json.dumps(spec, indent=2) + "\n")
        return directory

    def forget(self, name: str) -> None:
        """After a stop: the cell is gone, its log and host configs stay for reading."""
        for stale in ("pid", "endpoint.json", "endpoint.json.tmp", "identity.json"):
            (self.cell_dir(name) / stale).unlink(missing_ok=True)

    def write_client_files(self, running: Iterable[str]) -> None:
        """Rewrite clouds.yaml and lab.yaml for exactly the cells that are running."""
        clouds: dict[str, Any] = {}
        targets = []
        for name in running:
            endpoint, spec = self.endpoint(name), self.spec(name)
            if endpoint is None or not spec:
                continue
            clouds |= keystone.cloud_entries(self, spec["cloud"], region=name)
            target = dict(spec["target"])
            target["hosts"] = [
                {
                    "spec": "local://",
                    "roles": ["controller", "compute"] if i == 0 else ["compute"],
                    "root": str((self.cell_dir(name) / "hosts" / host).resolve()),
                }
                for i, host in enumerate(endpoint.hosts)
            ]
            targets.append(target)
        if not targets:
            self.clouds_file.unlink(missing_ok=True)
            self.lab_file.unlink(missing_ok=True)
            return
        write_private(self.clouds_file, yaml.safe_dump({"clouds": clouds}, sort_keys=False))
        lab = {
            "name": "embedded",
            "description": "The running embedded lab (written by `matrix lab up`).",
            "clouds_yaml": CLOUDS_FILE,
            "targets": targets,
        }
        header = "# yaml-language-server: $schema=../matrix/schemas/lab.schema.json\n"
        self.lab_file.write_text(header + yaml.safe_dump(lab, sort_keys=False))
