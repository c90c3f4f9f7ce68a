"""The exports `matrix publish` writes beside its site: JSON (+ schema), Markdown, RST, Nova INI.

One constructed history puts cells of the small matrix on every level (gated, tested, reported,
failing, unknown, n/a), one flaky and one flagged, and every export is read back and checked
against the levels computed from it.
"""

from __future__ import annotations

import configparser
import io
import json
import re
import shutil
import time
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from markdown_it import MarkdownIt

from harness.declarations.loading import load_matrix
from harness.declarations.matrix import Combination, Matrix
from harness.declarations.model import Feature
from harness.levels.compute import LevelMatrix, compute_levels
from harness.publish import markdown, nova_ini, rst
from harness.publish.export_schema import MatrixExport
from harness.publish.exports import write_exports
from tests.builder import NOW, History
from tests.conftest import SHIPPED, edit

KVM_OVS = "libvirt-kvm/local-qcow2/ovs"
KVM_OVN = "libvirt-kvm/local-qcow2/ovn"
KVM_CEPH_OVS = "libvirt-kvm/ceph-rbd/ovs"
KVM_CEPH_OVN = "libvirt-kvm/ceph-rbd/ovn"
QEMU_OVS = "libvirt-qemu/local-qcow2/ovs"
QEMU_CEPH = "libvirt-qemu/ceph-rbd/ovs"
EMBEDDED = "fake-live-migrate/fake-local/fake-net"
LM, BLM, SNAP = "live-migration", "block-live-migration", "live-snapshot"

# Data text that is active in Markdown, RST and INI alike.
TITLE = "Live | migrate *a* `server` [x](y) _now_ 100% <b>"
UUIDS = ["0a1b2c3d-0000-4000-8000-000000000001", "0a1b2c3d-0000-4000-8000-000000000002"]

EXPECTED_LEVELS = {
    (LM, KVM_OVS): "gated",
    (LM, KVM_OVN): "tested",
    (LM, KVM_CEPH_OVS): "reported",
    (LM, KVM_CEPH_OVN): "failing",  # passed before
    (SNAP, KVM_CEPH_OVN): "failing",  # never passed
    (LM, QEMU_CEPH): "unknown",
    (BLM, QEMU_CEPH): "n/a",
    (BLM, KVM_OVS): "reported",  # flaky
    (SNAP, QEMU_OVS): "gated",  # flagged
    (LM, EMBEDDED): "reported",
}
EXPECTED_SUPPORT = {
    (LM, KVM_OVS): "complete",
    (LM, KVM_OVN): "complete",
    (LM, KVM_CEPH_OVS): "partial",
    (LM, KVM_CEPH_OVN): "partial",  # implemented, broken now: never Nova's "missing"
    (SNAP, KVM_CEPH_OVN): "unknown",  # failures alone do not say it is implemented
    (LM, QEMU_CEPH): "unknown",
    (BLM, QEMU_CEPH): "missing",
    (BLM, KVM_OVS): "partial",
    (SNAP, QEMU_OVS): "partial",  # complete, marked down: a known bug applies
    (LM, EMBEDDED): "partial",
}


@pytest.fixture
def matrix(small: Path) -> Matrix:
    shutil.copy(SHIPPED / "levels.yaml", small / "levels.yaml")
    features = small / "features.yaml"
    edit(
        features,
        "  title: Live migrate a server\n",
        f"  title: '{TITLE}'\n  tempest: [{', '.join(UUIDS)}]\n"
        "  notes: 'Works 100% of the time;\n    see   (x).'\n"
        "  cli: openstack server migrate --live-migration SERVER\n",
    )
    edit(
        features,
        "  title: Live migrate with block migration\n",
        "  title: Live migrate with block migration\n  status: condition(hypervisor (libvirt))\n",
    )
    return load_matrix(small)


@pytest.fixture
def levels(matrix: Matrix, tmp_path: Path) -> LevelMatrix:
    history = History(tmp_path / "history.sqlite")
    for day in (3, 2, 1):
        history.run(
            KVM_OVS,
            {LM: "passed", BLM: "failed" if day == 2 else "passed", SNAP: "passed"},
            days_ago=day, kind="gate", voting=True, job_url=f"https://ci.example/job/{day}?x=%41",
            facts={"compute1": {"libvirt": f"10.{day}.0"}},
        )  # fmt: skip
        history.run(KVM_OVN, {LM: "passed"}, days_ago=day, kind="periodic")
        history.run(QEMU_OVS, {SNAP: "passed"}, days_ago=day, kind="gate", voting=True)
    history.run(KVM_CEPH_OVS, {LM: "passed"}, days_ago=1)
    history.run(KVM_CEPH_OVN, {LM: "passed"}, days_ago=2)
    history.run(KVM_CEPH_OVN, {LM: "failed"}, days_ago=1)
    history.run(KVM_CEPH_OVN, {SNAP: "failed"}, days_ago=1)
    history.run(EMBEDDED, {LM: "passed"}, days_ago=1, kind="embedded", embedded=True)
    found = compute_levels(matrix, history.db, now=NOW)
    assert {key: found.cell(*key).level for key in EXPECTED_LEVELS} == EXPECTED_LEVELS
    assert found.cell(BLM, KVM_OVS).flaky
    assert found.cell(SNAP, QEMU_OVS).flagged
    return found


@pytest.fixture
def out(levels: LevelMatrix, matrix: Matrix, tmp_path: Path) -> Path:
    target = tmp_path / "site"
    target.mkdir()
    written = write_exports(levels, matrix, target)
    assert sorted(p.name for p in written) == sorted(
        [
            "matrix.json",
            "matrix.schema.json",
            "matrix.md",
            "matrix.rst",
            "feature-matrix-harness.ini",
        ]
    )
    assert all(p.parent == target and p.stat().st_size > 0 for p in written)
    return target


# --- JSON --------------------------------------------------------------------------------------


def test_json_validates_against_its_schema(out: Path) -> None:
    schema = json.loads((out / "matrix.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    document = json.loads((out / "matrix.json").read_text())
    errors = sorted(Draft202012Validator(schema).iter_errors(document), key=str)
    assert errors == []
    MatrixExport.model_validate(document)  # the models forbid keys they do not describe


def test_json_schema_documents_every_field(out: Path) -> None:
    schema = json.loads((out / "matrix.schema.json").read_text())
    undocumented = [
        f"{name}.{field}"
        for name, definition in [("MatrixExport", schema), *schema["$defs"].items()]
        for field, spec in definition["properties"].items()
        if "description" not in spec and "$ref" not in spec
    ]
    assert undocumented == []
    # and the schema catches what it should: an unknown level key, a missing field
    validator = Draft202012Validator(schema)
    document = json.loads((out / "matrix.json").read_text())
    document["cells"][0]["colour"] = "green"
    del document["cells"][1]["score"]
    document["format"] = 2
    assert len(list(validator.iter_errors(document))) == 3


def test_json_cells_equal_the_computed_levels(out: Path, levels: LevelMatrix) -> None:
    document = json.loads((out / "matrix.json").read_text())
    assert document["format"] == 1
    assert document["computed_at"] == NOW.isoformat(timespec="seconds") == levels.computed_at
    assert document["policy"]["levels"] == levels.levels
    assert document["policy"]["max_score"] == 100
    assert [c["id"] for c in document["policy"]["criteria"]] == list(levels.policy.criteria)
    assert [c["id"] for c in document["combinations"]] == levels.combinations
    assert [f["id"] for f in document["features"]] == levels.features
    assert len(document["cells"]) == len(levels.cells) == 7 * 3
    for data in document["cells"]:
        cell = levels.cell(data["feature"], data["combination"])
        assert data["level"] == cell.level
        assert data["score"] == cell.score
        assert data["reason"] == cell.reason
        assert (data["flaky"], data["flagged"]) == (cell.flaky, cell.flagged)
        assert data["flags"] == [{"bug": f.bug, "why": f.why} for f in cell.flags]
        assert data["not_applicable"] == cell.why_not_applicable
        assert data["criteria"]["met"] == [c.id for c in cell.criteria if c.met]
        assert data["criteria"]["missed"] == {c.id: c.why for c in cell.criteria if not c.met}
        assert (data["passed"], data["failed"], data["ignored"]) == (
            cell.passed, cell.failed, cell.ignored,
        )  # fmt: skip
        assert data["pass_rate"] == (None if cell.pass_rate is None else round(cell.pass_rate, 4))
        for key, evidence in (("last_pass", cell.last_pass), ("last_failure", cell.last_failure)):
            if evidence is None:
                assert data[key] is None
            else:
                assert (data[key]["run_id"], data[key]["started_at"], data[key]["job_url"]) == (
                    evidence.run_id, evidence.started_at, evidence.job_url,
                )  # fmt: skip
        assert data["versions"] == {k: list(v) for k, v in cell.versions.items()}
        assert data["labs"] == list(cell.labs)


def test_json_spot_values(out: Path, matrix: Matrix) -> None:
    document = json.loads((out / "matrix.json").read_text())
    cells = {(c["feature"], c["combination"]): c for c in document["cells"]}
    gated = cells[(LM, KVM_OVS)]
    assert gated["last_pass"]["job_url"] == "https://ci.example/job/1?x=%41"
    assert gated["versions"] == {"libvirt": ["10.1.0", "10.2.0", "10.3.0"]}
    assert (gated["passed"], gated["failed"], gated["pass_rate"]) == (3, 0, 1.0)
    flaky = cells[(BLM, KVM_OVS)]
    assert (flaky["passed"], flaky["failed"], flaky["pass_rate"]) == (2, 1, 0.6667)
    assert "consistent" in flaky["criteria"]["missed"]
    assert flaky["last_failure"]["outcome"] == "failed"
    na = cells[(BLM, QEMU_CEPH)]
    assert na["not_applicable"] == "disks on shared storage are not copied"
    assert na["criteria"] == {"met": [], "missed": {}}
    flagged = cells[(SNAP, QEMU_OVS)]
    assert flagged["flags"] == [
        {"bug": "https://bugs.launchpad.net/nova/+bug/1", "why": "example flag"}
    ]
    features = {f["id"]: f for f in document["features"]}
    assert features[LM]["title"] == TITLE
    assert features[LM]["tempest"] == UUIDS
    assert features[LM]["nova"] == "live-migrate"
    combinations = {c["id"]: c for c in document["combinations"]}
    assert combinations[EMBEDDED]["embedded"] is True
    assert combinations[KVM_CEPH_OVS]["reference"] == "nova-live-migration-ceph"
    assert combinations[KVM_OVS]["values"] == {
        "hypervisor": "libvirt-kvm", "storage": "local-qcow2", "network": "ovs",
    }  # fmt: skip
    assert [a["id"] for a in document["axes"]] == ["hypervisor", "storage", "network"]


# --- Nova INI ----------------------------------------------------------------------------------


def read_ini(path: Path) -> configparser.ConfigParser:
    """As sphinx-feature-classification reads it: ConfigParser, with its % interpolation."""
    parser = configparser.ConfigParser()
    parser.read_string(path.read_text())
    return parser


def test_ini_has_every_target_and_operation(out: Path, levels: LevelMatrix, matrix: Matrix) -> None:
    ini = read_ini(out / "feature-matrix-harness.ini")
    keys = {c: c.replace("/", "_") for c in levels.combinations}
    drivers = [s for s in ini.sections() if s.startswith("driver.")]
    assert drivers == [f"driver.{keys[c]}" for c in levels.combinations]
    for combination_id in levels.combinations:
        section = ini[f"driver.{keys[combination_id]}"]
        assert section["combination"] == combination_id
        title = matrix.combinations[combination_id].title or combination_id
        assert section["title"] == title + (" (embedded lab)" if combination_id == EMBEDDED else "")
    operations = [s for s in ini.sections() if s.startswith("operation.")]
    assert operations == [f"operation.{f}" for f in levels.features]
    assert set(ini.sections()) == set(drivers) | set(operations)
    for feature_id in levels.features:
        feature = matrix.features[feature_id]
        section = ini[f"operation.{feature_id}"]
        assert section["title"] == feature.title
        assert section["tempest_test_uuids"].split(";") == (feature.tempest or [""])
        # what the directive insists on: a known status, every target given a known value
        assert re.match(r"^([^(]+)(?:\(([^)]+)\))?$", section["status"])
        assert section["status"].partition("(")[0] in (
            "mandatory",
            "optional",
            "choice",
            "condition",
        )
        assert section["maturity"] in ("incomplete", "experimental", "complete", "deprecated")
        for combination_id in levels.combinations:
            key = keys[combination_id]
            assert section[f"driver.{key}"] in ("complete", "partial", "missing", "unknown")
            assert section[f"driver-notes.{key}"]
        assert {o for o in section if o.startswith("driver.")} == {
            f"driver.{k}" for k in keys.values()
        }


def test_ini_values_follow_the_documented_mapping(out: Path) -> None:
    ini = read_ini(out / "feature-matrix-harness.ini")
    found = {
        (feature, combination): ini[f"operation.{feature}"][
            f"driver.{combination.replace('/', '_')}"
        ]
        for feature, combination in EXPECTED_SUPPORT
    }
    assert found == EXPECTED_SUPPORT
    live = ini[f"operation.{LM}"]
    assert live["title"] == TITLE  # '%' survives interpolation
    assert live["status"] == "optional"
    assert live["tempest_test_uuids"] == ";".join(UUIDS)
    assert live["notes"] == (
        "Works 100% of the time; see (x). Nova support-matrix operation: live-migrate. "
        "Proven by the harness's migration scenarios."
    )
    assert live["cli"] == "openstack server migrate --live-migration SERVER"
    assert live["maturity"] == "complete"  # gated on KVM_OVS
    assert ini[f"operation.{BLM}"]["maturity"] == "experimental"  # reported at best
    assert ini[f"operation.{BLM}"]["status"] == "condition(hypervisor [libvirt])"
    assert ini[f"operation.{SNAP}"]["maturity"] == "complete"
    notes = {
        key: ini[f"operation.{key[0]}"][f"driver-notes.{key[1].replace('/', '_')}"]
        for key in EXPECTED_SUPPORT
    }
    assert notes[(LM, KVM_OVS)].startswith("gated (Checked), score ")
    assert "last pass 2026-11-20" in notes[(LM, KVM_OVS)]
    assert notes[(LM, KVM_OVN)].startswith("tested (Regularly tested), score ")
    # verified and passing and fresh; no Tempest result for it, so `tempest` is missed
    assert notes[(LM, KVM_CEPH_OVS)].startswith("reported (Implemented), score 50 of 100")
    assert notes[(LM, KVM_CEPH_OVN)].startswith("failing, score ")
    assert "last failure 2026-11-20" in notes[(LM, KVM_CEPH_OVN)]
    assert notes[(LM, QEMU_CEPH)] == "unknown, score 0 of 100: no valid evidence"
    assert (
        notes[(BLM, QEMU_CEPH)]
        == "n/a: not applicable by design: disks on shared storage are not copied"
    )
    assert "; flaky" in notes[(BLM, KVM_OVS)]
    assert notes[(SNAP, QEMU_OVS)].endswith(
        "; known bug https://bugs.launchpad.net/nova/+bug/1 (example flag)"
    )


@pytest.mark.parametrize(
    ("combinations", "expected"),
    [
        ([QEMU_CEPH], ["incomplete"] * 3),  # unknown and n/a only
        ([QEMU_CEPH, EMBEDDED], ["incomplete"] * 3),  # fake drivers do not make a feature mature
        ([EMBEDDED], ["experimental", "incomplete", "incomplete"]),  # unless there is nothing else
        ([KVM_CEPH_OVN, KVM_OVN], ["complete", "incomplete", "incomplete"]),  # failing, tested
    ],
)
def test_ini_maturity_is_the_best_level_over_real_combinations(
    levels: LevelMatrix,
    matrix: Matrix,
    tmp_path: Path,
    combinations: list[str],
    expected: list[str],
) -> None:
    some = compute_levels(matrix, tmp_path / "history.sqlite", now=NOW, combinations=combinations)
    path = tmp_path / "some.ini"
    path.write_text(nova_ini.render_ini(some, matrix))
    ini = read_ini(path)
    assert [ini[f"operation.{f}"]["maturity"] for f in some.features] == expected


def test_ini_keys_and_statuses() -> None:
    assert nova_ini.target_key("libvirt-kvm/ceph-rbd/ovn") == "libvirt-kvm_ceph-rbd_ovn"
    with pytest.raises(ValueError, match="cannot be an INI target key"):
        nova_ini.target_key("Libvirt/ceph rbd")
    assert nova_ini.nova_status("choice(console)") == "choice(console)"
    assert nova_ini.nova_status("choice(guest.setup)") == "choice(guest.setup)"
    Feature.model_validate({"title": "t", "family": "f", "status": "choice(guest.setup)"})
    assert nova_ini.nova_status("condition(a (b) c)") == "condition(a [b] c)"
    assert nova_ini.nova_status("mandatory") == "mandatory"
    assert nova_ini.value("50%\n  done") == "50%% done"


# --- Markdown ----------------------------------------------------------------------------------


class Tables(HTMLParser):
    """The rows of every table in some HTML, as lists of cell texts; and the tags seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def render_markdown(text: str) -> Tables:
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)
    tables = Tables()
    tables.feed(html)
    return tables


def test_markdown_has_one_row_per_feature_with_titles_escaped(
    out: Path, levels: LevelMatrix, matrix: Matrix
) -> None:
    text = (out / "matrix.md").read_text()
    assert "\\|" in text and "100%" in text
    tables = render_markdown(text)
    header, *rows = tables.rows
    assert header == ["Feature", *[str(n) for n in range(1, len(levels.combinations) + 1)]]
    assert [row[0] for row in rows] == [matrix.features[f].title for f in levels.features]
    assert rows[0][0] == TITLE  # the pipe did not split the row; nothing became markup
    assert all(len(row) == len(header) for row in rows)
    assert not tables.tags & {"em", "strong", "code", "a", "del", "b"} - {"strong"}
    by_feature = dict(zip(levels.features, rows, strict=True))
    column = {c: i + 1 for i, c in enumerate(levels.combinations)}
    assert by_feature[LM][column[KVM_OVS]] == "gated"
    assert by_feature[BLM][column[KVM_OVS]] == "reported~"
    assert by_feature[SNAP][column[QEMU_OVS]] == "gated!"
    assert by_feature[BLM][column[QEMU_CEPH]] == "n/a"
    assert f"as of {levels.computed_at}" in text
    for number, combination in enumerate(levels.combinations, start=1):
        assert f"- **{number}**: {combination}" in text
    for level in levels.levels:
        assert f"- **{level}** (" in text


def test_markdown_escape() -> None:
    raw = "a|b *c* _d_ `e` [f](g) <h> &amp; ~~i~~ $j$ \\k"
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown.escape(raw))
    assert html == "<p>a|b *c* _d_ `e` [f](g) &lt;h&gt; &amp;amp; ~~i~~ $j$ \\k</p>\n"
    assert markdown.escape("two\n  lines ") == "two lines"


# --- reStructuredText --------------------------------------------------------------------------


def docutils_tree(text: str) -> tuple[object, str]:
    """The doctree and every message docutils reported, from level info up."""
    from docutils.core import publish_doctree  # docutils is a test dependency (test extras)

    messages = io.StringIO()
    tree = publish_doctree(
        text,
        settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": messages},
    )
    return tree, messages.getvalue()


def test_rst_renders_without_warnings(out: Path, levels: LevelMatrix, matrix: Matrix) -> None:
    from docutils import nodes

    tree, messages = docutils_tree((out / "matrix.rst").read_text())
    assert messages == ""
    assert not list(tree.findall(nodes.system_message))
    (table,) = tree.findall(nodes.table)
    rows = [
        [entry.astext() for entry in row.findall(nodes.entry)] for row in table.findall(nodes.row)
    ]
    header, *body = rows
    assert header == ["Feature", *[str(n) for n in range(1, len(levels.combinations) + 1)]]
    assert [row[0] for row in body] == [matrix.features[f].title for f in levels.features]
    assert body[0][0] == TITLE
    column = {c: i + 1 for i, c in enumerate(levels.combinations)}
    assert body[1][column[KVM_OVS]] == "reported~"
    assert body[2][column[QEMU_OVS]] == "gated!"
    text = tree.astext()
    for number, combination in enumerate(levels.combinations, start=1):
        assert f"{number}: {combination}" in text


@pytest.mark.parametrize(
    "raw",
    [
        "a|b|", "*c* **d**", "_e_ f_ `g` ``h``", "[1]_ [#]_", ":role:`x`", "end::",
        "- list", "1. enumerated", "#. auto", "a) b", ".. comment", "====", "--all option",
        ">>> doctest", "| line", "http://example.com/x_y_", "\\back\\slash", "<tag>",
    ],
)  # fmt: skip
def test_rst_escape_renders_text_as_written(raw: str) -> None:
    from docutils import nodes

    document = "\n".join(
        [
            ".. list-table::",
            "",
            f"   * - {rst.escape_block(raw)}",
            f"     - x {rst.escape(raw)} y",
            "",
        ]
    )
    tree, messages = docutils_tree(document)
    assert messages == ""
    entries = [e.astext() for e in tree.findall(nodes.entry)]
    assert entries == [raw, f"x {raw} y"]


# --- size and speed ----------------------------------------------------------------------------


def test_a_large_matrix_stays_small_and_fast(
    levels: LevelMatrix, matrix: Matrix, tmp_path: Path
) -> None:
    """200 combinations x 40 features, cells copied from real ones: gated, reported (four
    criteria missed, with evidence) and unknown (no evidence), in equal parts."""
    models = [levels.cell(LM, KVM_OVS), levels.cell(LM, KVM_CEPH_OVS), levels.cell(LM, QEMU_CEPH)]
    ids = [f"libvirt-kvm-{i % 10}/ceph-rbd-{i // 10 % 5}/ml2-ovn-{i // 50}" for i in range(200)]
    big = Matrix(
        root=tmp_path,
        axes=matrix.axes,
        features={
            f"feature-number-{n}": Feature(title=f"Feature number {n}", family="f", tempest=UUIDS)
            for n in range(40)
        },
        combinations={
            cid: Combination(
                cid,
                dict(zip(("hypervisor", "storage", "network"), cid.split("/"), strict=True)),
                title=f"Combination {cid}",
            )
            for cid in ids
        },
        policy=levels.policy,
    )
    large = LevelMatrix(levels.computed_at, levels.policy, list(big.features), ids)
    for n, (feature, combination) in enumerate(
        (feature, combination) for feature in big.features for combination in ids
    ):
        model = models[n % 3]
        large.cells[(feature, combination)] = replace(
            model, feature=feature, combination=combination,
            versions={"nova": ("34.0.0", "33.0.0"), "libvirt": ("10.1.0",)} if model.passed else {},
        )  # fmt: skip
    target = tmp_path / "large"
    target.mkdir()
    start = time.perf_counter()
    write_exports(large, big, target)
    elapsed = time.perf_counter() - start
    size = (target / "matrix.json").stat().st_size
    assert size < 8_000_000, size  # about 5.6 MB: 700 bytes a cell
    assert elapsed < 5, elapsed
    assert len(json.loads((target / "matrix.json").read_text())["cells"]) == 8000
