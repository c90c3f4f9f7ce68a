"""How long loading and checking declarations takes for a large lab.

Generates a matrix of 4 axes x 5-8 values (a product of 1,600 combinations, minus excludes,
plus includes), 40 features with rules, and a lab with 300 targets, then times
`load_matrix` and the applicability of every feature to every combination.

    python benchmarks/declarations.py [--combinations-scale N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

from harness.declarations.applicability import verdicts
from harness.declarations.loading import load_matrix


def write_matrix(root: Path, scale: int) -> None:
    axes = {
        "hypervisor": [f"hv{i}" for i in range(5 * scale)],
        "storage": [f"st{i}" for i in range(8)],
        "network": [f"net{i}" for i in range(5)],
        "cells": [f"cells{i}" for i in range(8)],
    }
    (root / "labs").mkdir(parents=True)
    (root / "axes.yaml").write_text(
        yaml.safe_dump(
            sort_keys=False,
            data={
                axis: {
                    v: {
                        "title": f"Value {v}",
                        "attributes": {"shared": i % 2 == 0},
                        "verify": [
                            {
                                "ini": {
                                    "path": "/etc/nova/nova-cpu.conf",
                                    "section": "libvirt",
                                    "key": "k",
                                    "equals": v,
                                }
                            }
                        ],
                        "facts": {"version": "echo 1"},
                    }
                    for i, v in enumerate(values)
                }
                for axis, values in axes.items()
            },
        )
    )
    features = {
        f"feature-{i}": {
            "title": f"Feature {i}",
            "family": "f",
            "nova": "live-migrate",
            "tempest": ["1dce86b8-eb04-4c03-a9d8-9c1dc3ee0c7b"],
            "not_applicable": [
                {"when": {"storage": {"shared": True}, "hypervisor": ["hv0", "hv1"]}, "why": "x"}
            ],
            "flagged": [
                {"when": {"network": "net1"}, "bug": "https://bugs.example.org/1", "why": "y"}
            ],
        }
        for i in range(40)
    }
    (root / "features.yaml").write_text(yaml.safe_dump(sort_keys=False, data=features))
    (root / "combinations.yaml").write_text(
        yaml.safe_dump(
            sort_keys=False,
            data={
                "product": axes,
                "exclude": [{"hypervisor": "hv0", "network": "net4"}],
                "include": [{"storage": "st1", "reference": "some-job"}],
            },
        )
    )
    (root / "levels.yaml").write_text(
        "criteria: {passing: {name: P, weight: 50, description: d}}\n"
        "ladder: [{id: reported, title: R, needs: [passing]}]\n"
    )
    targets = [
        {
            "combination": f"hv{i % (5 * scale)}/st{i % 8}/net{i % 4}/cells{i % 8}",
            "cloud": f"c{i}",
            "name": f"t{i}",
        }
        for i in range(300)
    ]
    (root / "labs" / "big.yaml").write_text(
        yaml.safe_dump(sort_keys=False, data={"targets": targets})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--combinations-scale", type=int, default=1, help="multiply hypervisors")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "matrix"
        write_matrix(root, args.combinations_scale)
        tracemalloc.start()
        started = time.perf_counter()
        matrix = load_matrix(root)
        loaded = time.perf_counter()
        cells = sum(len(verdicts(matrix, c)) for c in matrix.combinations.values())
        finished = time.perf_counter()
        _, peak = tracemalloc.get_traced_memory()
    print(f"combinations:           {len(matrix.combinations):>8,}")
    print(f"features:               {len(matrix.features):>8,}")
    print(f"lab targets:            {sum(len(lab.targets) for lab in matrix.labs.values()):>8,}")
    print(f"load + validate:        {loaded - started:>8.2f} s")
    print(f"applicability, {cells:,} cells: {finished - loaded:>6.2f} s")
    print(f"peak traced memory:     {peak / 2**20:>8.1f} MiB")


if __name__ == "__main__":
    main()
