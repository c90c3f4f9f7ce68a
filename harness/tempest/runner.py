"""`tempest run` for one target, in a work directory of its own, as a Tempest user runs it.

The work directory holds etc/tempest.conf (0600: the admin's password), the .stestr.conf
`tempest init` would write and the include list; stestr's repository of the run stays there
too. What comes out is the run's subunit v2 stream (`stestr last --subunit`) and its JUnit XML
(`subunit2junitxml`), the two forms `matrix ingest` reads.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import Failure
from harness.lab.private_files import write_private
from harness.run.records import now

STESTR_CONF = "[DEFAULT]\ntest_path={tempest}/test_discover\ntop_dir={tempest}\n" + (
    "group_regex=([^\\.]*\\.)*\n"
)
TEST_LINE = re.compile(r"^\{\d+\} (?P<test>\S+) .*\.\.\. (?P<status>ok|FAILED|SKIPPED)\b")
Progress = Callable[[str], None]


class TempestRunError(Failure):
    """Tempest could not run at all; the message has the end of its output."""


@dataclass(frozen=True)
class TempestOutput:
    subunit: bytes
    junit: bytes
    started_at: str
    ended_at: str
    seconds: float
    counts: dict[str, int]  # ok / FAILED / SKIPPED as Tempest printed them


def tempest_package(python: Path) -> Path:
    done = subprocess.run(
        [str(python), "-c", "import os, tempest; print(os.path.dirname(tempest.__file__))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise TempestRunError(f"Tempest cannot be imported: {done.stderr.strip()[-500:]}")
    return Path(done.stdout.strip())


def run(
    python: Path,
    work_dir: Path,
    conf: str,
    include: str,
    *,
    concurrency: int,
    progress: Progress = lambda _: None,
    timeout: float = 3 * 3600,
) -> TempestOutput:
    """Run the tests `include` selects (None: tempest.api.compute, the `--full` set)."""
    (work_dir / "etc").mkdir(parents=True, exist_ok=True)
    (work_dir / "locks").mkdir(exist_ok=True)
    write_private(work_dir / "etc" / "tempest.conf", conf)
    (work_dir / ".stestr.conf").write_text(STESTR_CONF.format(tempest=tempest_package(python)))
    command = [str(python), "-m", "tempest.cmd.main", "run", "--config-file", "etc/tempest.conf",
               "--concurrency", str(concurrency)]  # fmt: skip
    if include:
        (work_dir / "include.txt").write_text(include)
        command += ["--include-list", "include.txt"]
    else:
        command += ["--regex", r"^tempest\.api\.compute\."]
    started_at, start = now(), time.monotonic()
    counts = {"ok": 0, "FAILED": 0, "SKIPPED": 0}
    tail: list[str] = []
    with (work_dir / "tempest-run.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, cwd=work_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace",
        )  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            tail = [*tail[-29:], line.rstrip()]
            if match := TEST_LINE.match(line.rstrip()):
                status = match["status"]
                counts[status] = counts.get(status, 0) + 1
                done = sum(counts.values())
                short = match["test"].rsplit(".", 1)[-1].split("[", 1)[0]
                progress(f"tempest: {done} done ({counts['FAILED']} failed): {short} {status}")
            if time.monotonic() - start > timeout:
                process.kill()
                break
        process.wait()
    ended_at, seconds = now(), time.monotonic() - start
    stream = subprocess.run(
        [str(python), "-m", "stestr", "last", "--subunit"], cwd=work_dir, capture_output=True,
        check=False,
    )  # fmt: skip
    if stream.returncode != 0 or not stream.stdout:
        raise TempestRunError(
            f"Tempest ran no test (exit {process.returncode}); the end of its output:\n"
            + "\n".join(tail)
        )
    junit = subprocess.run(
        [str(python), "-m", "subunit.filter_scripts.subunit2junitxml"],
        input=stream.stdout, capture_output=True, check=False,
    )  # fmt: skip
    return TempestOutput(stream.stdout, junit.stdout, started_at, ended_at, seconds, counts)
