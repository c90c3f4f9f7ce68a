"""Whatever is written in a declaration file, `matrix validate` answers 0 or 2, never a traceback.

Three generators: arbitrary text, arbitrary YAML-shaped data, and small mutations of the
valid test matrix (where real mistakes are most likely to hide).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli.main import main
from tests.conftest import DATA

FILES = ["axes.yaml", "features.yaml", "combinations.yaml", "levels.yaml", "labs/small.yaml"]
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def matrix_copy() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "matrix"
        shutil.copytree(DATA / "small", root)
        yield root


def validate(root: Path) -> tuple[int, str]:
    output = io.StringIO()
    with redirect_stdout(output), redirect_stderr(output):
        try:
            main(["--matrix", str(root), "validate"])
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
    return code, output.getvalue()


def assert_clean_answer(code: int, output: str) -> None:
    assert code in (0, 2), output
    assert "Traceback" not in output and "internal error" not in output, output
    if code == 2:
        assert output.rstrip().splitlines()[-1].endswith(("file", "files")), output


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=12),
    st.sampled_from(["ceph-rbd", "libvirt-kvm", "ovs", "title", "verify", "when", "2.25", "/etc/x"]),
)  # fmt: skip
yaml_data = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=10), st.sampled_from(["title", "when", "targets"])),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@SETTINGS
@given(file=st.sampled_from(FILES), text=st.text(max_size=300))
def test_random_text(file: str, text: str) -> None:
    with matrix_copy() as root:
        (root / file).write_text(text, encoding="utf-8", errors="surrogatepass")
        assert_clean_answer(*validate(root))


@SETTINGS
@given(file=st.sampled_from(FILES), data=yaml_data)
def test_random_yaml_data(file: str, data: object) -> None:
    with matrix_copy() as root:
        (root / file).write_text(yaml.safe_dump(data, allow_unicode=True))
        code, output = validate(root)
        assert_clean_answer(code, output)
        if not isinstance(data, dict):
            assert code == 2


TOKENS = [
    "",
    " ",
    "-",
    ":",
    "{",
    "}",
    "[",
    "]",
    "&a",
    "*a",
    "!!str",
    "!x",
    "<<",
    "#",
    "'",
    '"',
    "\t",
    "\n",
    "null",
    "true",
    "on",
    "0x1",
    "1e3",
    "~",
    "|",
    ">",
    "cepf-rbd",
    "ceph-rbd",
    "/",
]


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, str]:
    """A valid file of the test matrix with one to three small edits."""
    file = draw(st.sampled_from(FILES))
    text = (DATA / "small" / file).read_text()
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        at = draw(st.integers(0, max(len(lines) - 1, 0)))
        kind = draw(
            st.sampled_from(["delete", "duplicate", "insert", "dedent", "indent", "splice"])
        )
        if kind == "delete":
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "dedent":
            lines[at] = lines[at][2:]
        elif kind == "indent":
            lines[at] = "  " + lines[at]
        else:
            line = lines[at]
            col = draw(st.integers(0, len(line)))
            token = draw(st.sampled_from(TOKENS))
            cut = col + draw(st.integers(0, 3)) if kind == "splice" else col
            lines[at] = line[:col] + token + line[cut:]
        text = "\n".join(lines)
    return file, text


@SETTINGS
@given(change=mutation())
def test_mutations_of_valid_files(change: tuple[str, str]) -> None:
    file, text = change
    with matrix_copy() as root:
        (root / file).write_text(text)
        assert_clean_answer(*validate(root))
