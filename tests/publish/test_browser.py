"""The site in a real headless Chromium (Debian's, driven by Playwright), opened from file://:
the matrix renders, the filters hide columns and levels, cells lead to their pages, and a
message from a run that carries a script shows as text and runs nothing.

These tests fail (never skip) without /usr/bin/chromium: CI installs it through
scripts/system-packages.sh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

from harness.publish.site import cell_path, combination_file
from tests.publish.conftest import BROKEN, GATED, SCRIPT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the site's browser tests need Debian's chromium "
            "(scripts/system-packages.sh installs it)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Watched:
    """A page with what it did behind our back: dialogs, script errors, requests."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def watched(browser: Browser, site: Path) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = Watched(context.new_page())
    page.page.goto((site / "index.html").as_uri())
    yield page
    context.close()
    assert page.errors == [], "no script error on any page"
    assert page.dialogs == [], "no dialog opened"
    assert all(url.startswith("file://") for url in page.requests), page.requests


def column(combination: str) -> str:
    return f'#matrix thead th[data-values="{tokens(combination)}"]'


def tokens(combination: str) -> str:
    hypervisor, storage, network = combination.split("/")
    return f"hypervisor={hypervisor} storage={storage} network={network}"


def cell(feature: str, combination: str) -> str:
    return f'#matrix a[href="{cell_path(feature, combination)}"]'


def test_the_matrix_renders_every_cell(watched: Watched) -> None:
    page = watched.page
    cells = page.locator("#matrix tbody td[data-level]")
    assert cells.count() == 3 * 7
    assert all(cells.nth(i).is_visible() for i in range(cells.count()))
    assert page.locator("#matrix td[data-level=gated]").count() == 2
    assert page.locator("#shown").inner_text() == "7 of 7 combinations shown"  # site.js ran
    assert page.locator(cell("live-snapshot", BROKEN)).inner_text() == "failing"


def test_an_axis_filter_hides_the_columns_that_do_not_match(watched: Watched) -> None:
    page = watched.page
    page.select_option("select[data-axis=hypervisor]", "libvirt-qemu")
    assert page.locator("#shown").inner_text() == "2 of 7 combinations shown"
    assert not page.locator(column(GATED)).is_visible()
    assert not page.locator(cell("live-migration", GATED)).is_visible()
    assert page.locator(column("libvirt-qemu/local-qcow2/ovs")).is_visible()
    assert page.locator(cell("live-snapshot", "libvirt-qemu/ceph-rbd/ovs")).is_visible()
    visible = page.locator("#matrix tbody td[data-level]:visible")
    assert visible.count() == 3 * 2
    page.select_option("select[data-axis=storage]", "ceph-rbd")
    assert page.locator("#shown").inner_text() == "1 of 7 combinations shown"
    assert visible.count() == 3
    page.click("#filters button[type=reset]")
    page.wait_for_function("document.getElementById('shown').textContent.startsWith('7 of 7')")
    assert visible.count() == 3 * 7
    assert page.locator(column(GATED)).is_visible() and page.locator(column(BROKEN)).is_visible()


def test_a_level_filter_hides_the_cells_of_that_level(watched: Watched) -> None:
    page = watched.page
    unknown = page.locator("#matrix td[data-level=unknown]")
    assert unknown.first.is_visible()
    page.uncheck("input[data-level-filter=unknown]")
    assert unknown.count() == 15
    assert not any(unknown.nth(i).is_visible() for i in range(unknown.count()))
    assert page.locator(cell("live-migration", GATED)).is_visible()
    assert page.locator(cell("live-snapshot", BROKEN)).is_visible()
    page.check("input[data-level-filter=unknown]")
    assert all(unknown.nth(i).is_visible() for i in range(unknown.count()))


def test_clicking_a_cell_opens_its_page_where_a_script_in_a_message_is_text(
    watched: Watched,
) -> None:
    page = watched.page
    page.click(cell("live-snapshot", BROKEN))
    page.wait_for_load_state()
    assert page.url.endswith("/" + cell_path("live-snapshot", BROKEN))
    assert page.locator("h1 .badge").inner_text() == "failing"
    assert SCRIPT in page.locator("body").inner_text()
    assert SCRIPT in page.locator("table.evidence pre").first.inner_text()
    assert page.evaluate("document.scripts.length") == 0, "no script element on a cell page"
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.locator("svg.plot circle").count() == 6
    page.click("nav.crumbs a >> text=matrix")
    page.wait_for_load_state()
    assert page.url.endswith("/index.html")


def test_column_and_row_headings_lead_to_combination_and_feature_pages(
    watched: Watched,
) -> None:
    page = watched.page
    page.click(f"{column(BROKEN)} a")
    page.wait_for_load_state()
    assert page.url.endswith("/combinations/" + combination_file(BROKEN))
    assert page.locator("h1").inner_text() == BROKEN
    page.go_back()
    page.click('#matrix tbody th a[href="features/live-snapshot.html"]')
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Snapshot a running server"
