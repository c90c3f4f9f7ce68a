"""One error root: every command turns the same mistake into the same message and exit code,
and shared options mean the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from harness.cli import lab, run
from harness.cli.main import EPILOG, cli
from harness.errors import EXIT_CODES
from tests.conftest import edit

REAL_TARGET_LAB = """targets:
  - name: not-a-cell
    combination: libvirt-kvm/ceph-rbd/ovn
    cloud: devstack-admin
"""


def test_a_real_combination_in_the_embedded_lab_is_bad_input_for_lab_up_and_run(
    run: object, small: Path
) -> None:
    """`lab up` and `run` meet the same lab mistake the same way: one line, exit 2."""
    (small / "labs" / "embedded.yaml").write_text(REAL_TARGET_LAB)
    expected = (
        "matrix: target 'not-a-cell' in {path} is 'libvirt-kvm/ceph-rbd/ovn', which is not an "
        "embedded combination; the embedded lab can only emulate embedded ones\n"
    )
    up = run("--matrix", str(small), "lab", "up", "--lab", str(small / "labs" / "embedded.yaml"))  # type: ignore[operator]
    whole_run = run("--matrix", str(small), "run")  # type: ignore[operator]
    for result in (up, whole_run):
        assert result.code == 2, result.err
        assert result.err == expected.format(path=small / "labs" / "embedded.yaml")
        assert "internal error" not in result.err


def test_a_missing_cloud_entry_is_bad_input_not_a_bug(
    run: object, small: Path, tmp_path: Path
) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {other: {auth_type: none}}\n")
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(
        f"clouds_yaml: {clouds}\ntargets:\n"
        "  - {combination: libvirt-kvm/ceph-rbd/ovn, cloud: devstack-admin}\n"
    )
    out = tmp_path / "out"
    result = run("--matrix", str(small), "run", "--lab", str(lab_file), "--out", str(out))  # type: ignore[operator]
    assert result.code == 2, result.err
    assert result.err.startswith("matrix: target 'libvirt-kvm-ceph-rbd-ovn': ")
    assert "devstack-admin" in result.err and "internal error" not in result.err
    assert list((out / "runs").iterdir()) == []  # its session was stopped, its run removed


@pytest.mark.parametrize(
    ("group", "command"),
    [(lab.lab, "up"), (lab.lab, "status"), (lab.lab, "down"), (None, "run")],
)
def test_every_command_that_uses_the_lab_dir_reads_matrix_lab_dir(
    group: click.Group | None, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATRIX_LAB_DIR", str(tmp_path / "elsewhere"))
    chosen = run.run if group is None else group.commands[command]
    with chosen.make_context(command, []) as ctx:
        assert ctx.params["lab_dir"] == tmp_path / "elsewhere"
    with chosen.make_context(command, ["--lab-dir", str(tmp_path / "given")]) as ctx:
        assert ctx.params["lab_dir"] == tmp_path / "given"  # the option wins over the variable


def test_lab_status_looks_in_matrix_lab_dir(
    run: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATRIX_LAB_DIR", str(tmp_path / "state"))
    result = run("lab", "status")  # type: ignore[operator]
    assert result.code == 0, result.err
    assert f"no cells in {tmp_path / 'state'}" in result.out


def test_declaration_problems_exit_2_from_every_command_that_loads_them(
    run: object, small: Path, tmp_path: Path
) -> None:
    edit(small / "features.yaml", "  nova: snapshot\n", "  nova: snapshoot\n")
    for args in (
        ("validate",),
        ("list",),
        ("levels", "--db", str(tmp_path / "h.sqlite")),
        ("check", "libvirt-kvm/ceph-rbd/ovn", "--db", str(tmp_path / "h.sqlite")),
        ("publish", "--out", str(tmp_path / "site"), "--db", str(tmp_path / "h.sqlite")),
        ("run", "--feature", "live-snapshot"),
    ):
        result = run("--matrix", str(small), *args)  # type: ignore[operator]
        assert result.code == 2, (args, result.err)
        assert result.err.splitlines()[-1] == "1 problem in 1 file", args
    assert not (tmp_path / "site").exists()  # bad input changes nothing


def test_a_bug_is_one_line_exit_70_and_a_traceback_only_under_debug(
    run: object, small: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("harness.cli.declarations.verdicts", broken)
    result = run("--matrix", str(small), "list")  # type: ignore[operator]
    assert result.code == 70
    assert result.err == (
        "matrix: internal error: ZeroDivisionError('a bug') (rerun with --debug for details)\n"
    )
    with pytest.raises(ZeroDivisionError):
        run("--matrix", str(small), "--debug", "list")  # type: ignore[operator]


def test_the_exit_codes_are_in_the_help_and_the_readme(run: object) -> None:
    result = run("--help")  # type: ignore[operator]
    assert result.code == 0
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in result.out
        assert f"| {code} | {meaning} |" in readme
    assert EPILOG.splitlines()[0] in cli.epilog  # type: ignore[operator]


def test_every_command_is_listed_without_importing_it_and_says_what_it_is(run: object) -> None:
    """`matrix --help` lists the registry's commands and imports none of them; each command
    looked up is the one registered, with the registry's line as its own short help."""
    import subprocess
    import sys

    from harness.cli.registry import COMMANDS

    probe = (
        "import sys; from harness.cli.main import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('harness.cli.', 'openstack'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "['harness.cli.main', 'harness.cli.registry']"
    for name, (_, _, short) in COMMANDS.items():
        assert f"  {name}" in done.stdout and short in done.stdout
        with cli.make_context("matrix", [name, "--help"], resilient_parsing=True) as ctx:
            command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(limit=200) == short
