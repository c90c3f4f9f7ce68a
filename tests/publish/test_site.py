"""The published site's files and HTML: one cell per feature x combination, escaping of what
runs recorded, links only to http(s), and replacing only the files the site owns."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli.options import Settings
from harness.cli.publish import publish as publish_command
from harness.history.evidence import Evidence
from harness.levels.compute import Week, compute_levels
from harness.publish import MANIFEST, publish
from harness.publish.files import FileWriter
from harness.publish.fragments import Fragments
from harness.publish.plot import merge_weeks, pass_rate_svg
from harness.publish.site import Site, abbreviations, cell_path, combination_file, safe_url
from tests.publish.conftest import (
    BROKEN,
    DATA,
    EVIL_LINK,
    GATED,
    JOB,
    NOW,
    SCRIPT,
    add_run,
    levels_and_matrix,
)


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str, attribute: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag and attribute in attrs]


def matrix_cells(index: Path) -> dict[tuple[str, str], str]:
    """(feature, combination file) -> data-level of each matrix cell, read from the index."""
    parser = Elements(index.read_text())
    cells: dict[tuple[str, str], str] = {}
    tags = parser.tags
    for i, (name, attrs) in enumerate(tags):
        if name == "td" and "data-level" in attrs:
            link_name, link = tags[i + 1]
            assert link_name == "a", "every matrix cell links to its page"
            _, feature, page = str(link["href"]).split("/")
            assert (feature, page) not in cells
            cells[(feature, page)] = str(attrs["data-level"])
    return cells


def test_every_page_and_asset_is_written(site: Path, tmp_path: Path) -> None:
    levels, _ = levels_and_matrix(tmp_path)
    for name in ("index.html", "style.css", "site.js", "matrix.json", MANIFEST):
        assert (site / name).is_file(), name
    for (feature, combination), _cell in levels.cells.items():
        assert (site / cell_path(feature, combination)).is_file()
    for combination in levels.combinations:
        assert (site / "combinations" / combination_file(combination)).is_file()
    for feature in levels.features:
        assert (site / "features" / f"{feature}.html").is_file()


def test_the_matrix_has_one_cell_per_feature_and_combination_with_its_level(
    site: Path, tmp_path: Path
) -> None:
    levels, _ = levels_and_matrix(tmp_path)
    cells = matrix_cells(site / "index.html")
    expected = {
        (feature, combination_file(combination)): cell.level
        for (feature, combination), cell in levels.cells.items()
    }
    assert cells == expected
    assert len(cells) == 3 * 7
    assert cells[("live-migration", combination_file(GATED))] == "gated"
    assert cells[("live-snapshot", combination_file(BROKEN))] == "failing"
    assert cells[("block-live-migration", combination_file(BROKEN))] == "n/a"


def test_the_index_has_filters_legend_counts_and_export_links(site: Path) -> None:
    html = (site / "index.html").read_text()
    parser = Elements(html)
    assert [a["data-axis"] for a in parser.all("select", "data-axis")] == [
        "hypervisor",
        "storage",
        "network",
    ]
    levels = [a["data-level-filter"] for a in parser.all("input", "data-level-filter")]
    assert levels == ["gated", "tested", "reported", "failing", "unknown", "n/a"]
    columns = parser.all("th", "data-values")
    assert len(columns) == 7
    assert columns[0]["data-values"] == "hypervisor=libvirt-kvm storage=local-qcow2 network=ovs"
    links = {a["href"] for a in parser.all("a", "href")}
    assert {"matrix.json", "matrix.md", "matrix.rst", "style.css"} - links == {"style.css"}
    assert '<script src="site.js"></script>' in html
    assert "Checked in the gate" in html and "window_days=30" in html
    assert "2026-11-21T12:00:00+00:00" in html
    assert re.search(r"failing <b>1</b>", html)
    assert "http://" not in html.replace("http-equiv", "") and "https://" not in html, (
        "no external resource"
    )


def test_a_message_from_a_run_is_escaped_and_a_javascript_link_is_not_a_link(
    site: Path,
) -> None:
    page = (site / cell_path("live-snapshot", BROKEN)).read_text()
    assert SCRIPT not in page
    assert "server went ERROR: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<pre>" in page
    hrefs = [a["href"] for a in Elements(page).all("a", "href")]
    assert not any(h and "javascript" in h.lower() for h in hrefs)
    assert EVIL_LINK in page  # shown, as text
    gated = (site / cell_path("live-migration", GATED)).read_text()
    assert f'<a href="{JOB}" rel="nofollow">job</a>' in gated
    assert "proof: the migration record says completed &amp; the server moved" in gated


def test_a_cell_page_explains_its_level(site: Path) -> None:
    page = (site / cell_path("live-snapshot", BROKEN)).read_text()
    assert "&#10007; missed" in page and "latest valid result failed (2026-11-14)" in page
    assert 'id="run-periodic-5"' in page and 'href="#run-periodic-5"' in page
    assert "<svg" in page and "Weekly pass rate" in page
    assert "libvirt 10.0.0, nova 34.0.0" in page
    na = (site / cell_path("block-live-migration", BROKEN)).read_text()
    assert "Not applicable: disks on shared storage are not copied" in na
    flagged = (site / cell_path("live-snapshot", "libvirt-qemu/local-qcow2/ovs")).read_text()
    assert 'href="https://bugs.launchpad.net/nova/+bug/1"' in flagged


def test_combination_and_feature_pages(site: Path) -> None:
    combination = (site / "combinations" / combination_file(BROKEN)).read_text()
    assert "nova-live-migration-ceph" in combination and "Ceph RBD" in combination
    assert f'href="../cells/live-snapshot/{combination_file(BROKEN)}"' in combination
    feature = (site / "features" / "block-live-migration.html").read_text()
    for text in ("migration", "operation.live-migrate", "1dce86b8-eb04-4c03-a9d8-9c1dc3ee0c7b"):
        assert text in feature
    assert "disks on shared storage are not copied" in feature


def test_publishing_again_replaces_only_what_the_site_owns(tmp_path: Path) -> None:
    levels, matrix = levels_and_matrix(tmp_path)
    out = tmp_path / "site"
    out.mkdir()
    (out / "CNAME").write_text("matrix.example.org\n")
    publish(levels, matrix, out)
    (out / "old-export.txt").write_text("from an earlier publish")
    with (out / MANIFEST).open("a") as manifest:
        manifest.write("old-export.txt\n../CNAME\n")
    stale = out / "cells" / "removed-feature"
    stale.mkdir()
    publish(levels, matrix, out)
    assert (out / "CNAME").read_text() == "matrix.example.org\n"
    assert not (out / "old-export.txt").exists()
    assert not stale.exists(), "the cells directory is replaced whole"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [MANIFEST]


def test_publishing_again_keeps_the_files_of_pages_that_did_not_change(tmp_path: Path) -> None:
    """An unchanged page is the previous file, linked (same inode: rsync sends nothing for
    it); a page whose cell got new evidence is a new file with the new text."""
    levels, matrix = levels_and_matrix(tmp_path)
    out = tmp_path / "site"
    publish(levels, matrix, out)
    pages = {p: (p.stat().st_ino, p.read_bytes()) for p in out.rglob("*.html")}
    changed = out / cell_path("live-snapshot", BROKEN)
    untouched = out / cell_path("live-migration", GATED)
    assert changed in pages and untouched in pages

    add_run(tmp_path / "history.sqlite", "periodic-late", BROKEN, NOW, {"live-snapshot": "passed"})
    later = NOW + timedelta(hours=1)  # later the same day: pages show the day, not the time
    publish(compute_levels(matrix, tmp_path / "history.sqlite", now=later), matrix, out)
    assert untouched.stat().st_ino == pages[untouched][0]
    assert changed.stat().st_ino != pages[changed][0]
    assert changed.read_bytes() != pages[changed][1]
    kept = [p for p, (inode, _) in pages.items() if p.exists() and p.stat().st_ino == inode]
    assert len(kept) > len(pages) // 2
    fresh = tmp_path / "fresh"  # the same history published from nothing: the same site
    publish(compute_levels(matrix, tmp_path / "history.sqlite", now=later), matrix, fresh)
    files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    for name in files:
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


def test_a_failed_publish_leaves_the_previous_site_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels, matrix = levels_and_matrix(tmp_path)
    out = tmp_path / "site"
    publish(levels, matrix, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("harness.publish.site.Site._index", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        publish(levels, matrix, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(out.glob(".matrix-site-staging-*")), "the staging directory is removed"


def test_only_http_links_are_safe() -> None:
    assert safe_url("https://ci.example.org/job/1") == "https://ci.example.org/job/1"
    assert safe_url("HTTP://ci.example.org/") == "HTTP://ci.example.org/"
    for bad in (EVIL_LINK, " javascript:x", "JaVaScRiPt:alert(1)", "data:text/html,x", "//evil",
                "https://", "https://a b", "https://a\nb", "ftp://x", None, 7):  # fmt: skip
        assert safe_url(bad) is None, bad


def test_ids_that_cannot_name_files_are_refused() -> None:
    assert combination_file("a/b-c/d") == "a__b-c__d.html"
    for bad in ("../x/y", "a/../b", "a/B", "a//b", "a/b c"):
        with pytest.raises(ValueError, match="cannot name a file"):
            combination_file(bad)


def test_abbreviations_drop_a_shared_first_word_unless_labels_clash(tmp_path: Path) -> None:
    _, matrix = levels_and_matrix(tmp_path)
    short = abbreviations(matrix)
    assert short[("hypervisor", "libvirt-kvm")] == "kvm"
    assert short[("hypervisor", "fake-live-migrate")] == "fake-live-migrate"
    assert short[("storage", "ceph-rbd")] == "ceph-rbd"


def test_the_plot_draws_weeks_by_date_with_labels_and_escapes_its_title() -> None:
    weeks = (Week("2026-10-05", 3, 0), Week("2026-10-19", 1, 1), Week("2026-11-16", 0, 2))
    svg = str(pass_rate_svg(weeks, title="<b>rate</b>"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;b&gt;rate&lt;/b&gt;" in svg and "<b>" not in svg
    assert svg.count("<circle") == 3 and "pass rate" in svg and "week (Monday, UTC)" in svg
    assert "2026-10-05" in svg and "2026-11-16" in svg
    assert "week of 2026-10-19: 1 of 2 passed" in svg
    assert "No valid results" in str(pass_rate_svg(()))
    assert merge_weeks([weeks[:1], (Week("2026-10-05", 0, 1),)]) == (Week("2026-10-05", 3, 1),)


def test_the_command_prints_the_index_path_and_says_when_there_is_no_history(
    tmp_path: Path,
) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(
        publish_command,
        ["--out", str(out), "--db", str(tmp_path / "none.sqlite"), "--at", "2026-11-21T12:00:00Z"],
        obj=Settings(DATA, False),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{(out / 'index.html').resolve()}\n"
    assert "no history yet" in result.stderr
    assert set(matrix_cells(out / "index.html").values()) == {"unknown", "n/a"}


def test_every_link_of_a_site_published_to_a_relative_directory_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tox -e matrix` publishes to `results/site`, a relative path: the download links once
    pointed into the staging directory, which is gone by then."""
    monkeypatch.chdir(tmp_path)
    args = ["--out", "results/site", "--db", "none.sqlite", "--at", "2026-11-21T12:00:00Z"]
    result = CliRunner().invoke(publish_command, args, obj=Settings(DATA.resolve(), False))
    assert result.exit_code == 0, result.output
    site = tmp_path / "results" / "site"
    exports = [
        a["href"]
        for a in Elements((site / "index.html").read_text()).all("a", "class")
        if a["class"] == "export"
    ]
    assert "matrix.json" in exports and "matrix.md" in exports
    links = {a["href"] for a in Elements((site / "index.html").read_text()).all("a", "href")}
    for link in sorted(str(href) for href in links):
        assert (site / link).is_file(), f"index.html links to {link}, which is not in the site"


def test_the_command_publishes_levels_as_of_the_time_asked(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    add_run(db, "gate-0", GATED, NOW, {"live-migration": "passed"})
    out = tmp_path / "site"
    args = ["--out", str(out), "--db", str(db), "--at", "2026-11-21T13:00:00Z"]
    result = CliRunner().invoke(publish_command, args, obj=Settings(DATA, False))
    assert result.exit_code == 0, result.output
    assert "1 reported" in result.stderr
    cells = matrix_cells(out / "index.html")
    assert cells[("live-migration", combination_file(GATED))] == "reported"
    later = ["--out", str(out), "--db", str(db), "--at", "2027-06-01T00:00:00Z"]
    assert CliRunner().invoke(publish_command, later, obj=Settings(DATA, False)).exit_code == 0
    assert matrix_cells(out / "index.html")[("live-migration", combination_file(GATED))] == (
        "unknown"
    )


def test_a_file_that_cannot_be_written_fails_the_writer(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), FileWriter() as files:
        files.write(tmp_path / "page.html", "<p>ok</p>")
        files.write(tmp_path / "missing" / "page.html", "<p>lost</p>")
    assert (tmp_path / "page.html").read_text() == "<p>ok</p>"


def test_every_field_a_run_recorded_is_escaped_in_the_cell_fragments() -> None:
    evil = '"><img src=x onerror=alert(1)>'
    evidence = Evidence(
        run_id=f"run{evil}", started_at=f"2026-11-20T10:00:00{evil}", outcome="failed",
        scenario=f"s/t.py::t{evil}", duration_s=1.0, message=f"{SCRIPT}{evil}",
        microversion=f"2.1{evil}", kind=f"gate{evil}", voting=True, lab=f"lab{evil}",
        target=f"t{evil}", job_url='https://ci.example.org/"><b>x</b>', versions=f"nova 1{evil}",
        proof=f"log{evil}",
    )  # fmt: skip
    fragments = Fragments(safe_url)
    html = "".join(
        str(part)
        for part in (
            fragments.evidence([evidence]),
            fragments.timeline([evidence]),
            fragments.link(f"javascript:{evil}"),
        )
    )
    tags = {name for name, _ in Elements(html).tags}
    assert tags == {"tr", "td", "pre", "wbr", "span", "a"}, "nothing injected"
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 11  # times are cut to length
    links = Elements(html).all("a", "href")
    assert [a["href"] for a in links] == ['https://ci.example.org/"><b>x</b>']  # one attribute
    assert 'href="https://ci.example.org/&#34;&gt;&lt;b&gt;x&lt;/b&gt;"' in html


def test_cell_pages_written_by_worker_processes_are_the_same(tmp_path: Path) -> None:
    levels, matrix = levels_and_matrix(tmp_path)
    pages = {}
    for workers in (0, 3):
        root = tmp_path / f"site-{workers}"
        root.mkdir()
        Site(levels, matrix).write(root, workers=workers)
        pages[workers] = {p.relative_to(root): p.read_bytes() for p in root.rglob("*.html")}
    assert len(pages[0]) == 3 * 7 + 7 + 3 + 1
    assert pages[3] == pages[0]


def test_an_error_in_a_worker_process_fails_the_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels, matrix = levels_and_matrix(tmp_path)

    def broken(*_args: object) -> None:
        raise RuntimeError("worker failed")

    monkeypatch.setattr(Site, "_cell_pages", broken)
    root = tmp_path / "site"
    root.mkdir()
    with pytest.raises(RuntimeError, match="worker failed"):
        Site(levels, matrix).write(root, workers=2)
