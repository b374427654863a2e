"""The operators' pages in a real headless Chromium (Playwright), served live on 127.0.0.1
from a database that the pipeline filled (see `web_support.build_site`).

One server and one browser serve the whole module; each test gets a fresh browser context,
and a screenshot of its page is written (and its path printed) when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from conftest import require_chromium
from sqlalchemy import func, select
from web_support import EVIL_NAME, FIELD_EPOCHS, TOKEN, build_site, live_server

from dsa110_contimg.catalog.sources import resolve_source
from dsa110_contimg.database.models import BatchJob
from dsa110_contimg.database.products import light_curve, photometry_count, photometry_for_product
from dsa110_contimg.database.registry import get_data, list_data
from dsa110_contimg.database.session import session_scope
from dsa110_contimg.jobs.params import PhotometryParams
from dsa110_contimg.jobs.service import create_batch_photometry_job, get_job
from dsa110_contimg.variability.candidates import list_candidates

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Counting the points of a named Bokeh glyph renderer in any document of the page.
COUNT_POINTS = """(name) => {
  for (const doc of Bokeh.documents) {
    const renderer = doc.get_model_by_name(name);
    if (renderer === null) continue;
    const data = renderer.data_source.data;
    const columns = data instanceof Map ? Array.from(data.values()) : Object.values(data);
    return columns.length ? columns[0].length : 0;
  }
  return -1;
}"""
BOKEH_READY = "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
#: Where point ``index`` of a named glyph renderer is drawn, in viewport pixels (the plot is
#: scrolled into view first).
POINT_ON_SCREEN = """([name, index]) => {
  for (const view of Object.values(Bokeh.index)) {
    if (!view.renderer_views) continue;
    for (const renderer of view.renderer_views.values()) {
      if (renderer.model.name !== name) continue;
      const canvas = view.canvas_view.el;
      canvas.scrollIntoView({block: "center"});
      const rect = canvas.getBoundingClientRect();
      return [rect.left + renderer.glyph.sx[index], rect.top + renderer.glyph.sy[index]];
    }
  }
  return null;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site(tmp_path_factory.mktemp("web-site"))


@pytest.fixture(scope="module")
def server(site):
    with live_server(site.settings) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A page and everything it reported: console errors, failed or refused requests,
    requests to other hosts, dialogs opened."""

    page: object
    base: str
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, path: str, *, plots: bool = False) -> None:
        """Load ``path`` (waiting until the network is idle, and for Bokeh's documents)."""
        response = self.page.goto(self.base + path, wait_until="networkidle")
        assert response is not None and response.status == 200, (path, response and response.status)
        if plots:
            self.page.wait_for_function(BOKEH_READY, timeout=15_000)

    def points(self, name: str) -> int:
        return int(self.page.evaluate(COUNT_POINTS, name))

    def assert_clean(self) -> None:
        assert not self.console_errors, self.console_errors
        assert not self.failed, self.failed
        assert not self.foreign, self.foreign
        assert not self.dialogs, self.dialogs


@pytest.fixture
def tab(browser, server, request, tmp_path):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    tab = Tab(page, server)
    host = urlparse(server).netloc
    page.on("console", lambda m: tab.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: tab.console_errors.append(str(e)))
    page.on("requestfailed", lambda r: tab.failed.append(f"{r.url}: {r.failure}"))
    page.on(
        "response",
        lambda r: tab.failed.append(f"{r.url}: {r.status}")
        if r.status >= 400 and "/api/" not in r.url
        else None,
    )
    page.on(
        "request",
        lambda r: tab.foreign.append(r.url)
        if urlparse(r.url).scheme in ("http", "https", "ws", "wss")
        and urlparse(r.url).netloc != host
        else None,
    )

    def on_dialog(dialog):
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / f"{request.node.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed page ({page.url}): {shot}")
    context.close()


def _products(site, **filters) -> list[dict]:
    return list_data(url=site.url, **filters)[0]


def test_every_page_loads_with_no_error_and_no_outside_request(site, tab):
    image = _products(site, data_type="image", photometry_status="completed")[0]["data_id"]
    mosaic = _products(site, data_type="mosaic")[0]["data_id"]
    dipper_id, _ = resolve_source(site.dipper, url=site.url)
    pages = [
        ("/", True),
        ("/products", False),
        (f"/products/{image}", True),
        (f"/products/{mosaic}", True),
        (f"/products/{site.failed_data_id}", False),
        ("/sources", False),
        ("/sources?name=SIM%20J&catalog=sim", False),
        ("/sources?ra=150&dec=37.2&radius=0.1&catalog=sim", False),
        (f"/sources/{dipper_id}", True),
        (f"/sources/{site.evil_source_id}", True),
        ("/candidates", False),
        ("/candidates?kind=ese&order=name&direction=asc", False),
        ("/jobs", False),
        ("/jobs/1", False),
    ]
    for path, plots in pages:
        tab.open(path, plots=plots)
        assert tab.page.locator("h1").count() == 1, path
        tab.assert_clean()
    # The overview shows the failures with their reasons, from all three sources.
    tab.open("/")
    observations = tab.page.get_by_test_id("failed-observations").inner_text()
    assert "broken" in observations and "none" not in observations.split("\n")[-1]
    products = tab.page.get_by_test_id("failed-products").inner_text()
    assert site.failed_data_id in products
    reason = get_data(site.failed_data_id, url=site.url)["photometry_error"]
    assert reason and reason[:40] in products
    assert site.failed_data_id in tab.page.get_by_test_id("failed-items").inner_text()
    assert tab.page.get_by_test_id("count-failed").inner_text() == "1"


def test_light_curve_draws_every_measurement_of_the_database(site, tab):
    source_id, _ = resolve_source(site.dipper, url=site.url)
    curve = light_curve(source_id, url=site.url)
    tab.open(f"/sources/{source_id}", plots=True)
    assert tab.points("lc-raw") == len(curve) == FIELD_EPOCHS
    normalized = (
        int((~curve["peak_norm_jyb"].mask).sum())
        if hasattr(curve["peak_norm_jyb"], "mask")
        else len(curve)
    )
    assert tab.points("lc-normalized") == len(curve) and normalized == len(curve)
    assert tab.points("lc-flagged") == int((curve["flags"] != 0).sum())
    assert tab.page.get_by_test_id("n-points").inner_text().startswith(f"{FIELD_EPOCHS} products")
    # The mouse on a point shows that measurement's product and MJD.
    curve.sort("mjd_mid")
    for index in (0, len(curve) - 1):
        x, y = tab.page.evaluate(POINT_ON_SCREEN, ["lc-raw", index])
        tab.page.mouse.move(x - 40, y - 40)
        tab.page.mouse.move(x, y, steps=4)
        tooltip = tab.page.locator(".bk-tooltip-content").first
        tooltip.wait_for(state="visible", timeout=5_000)
        text = tooltip.inner_text()
        assert str(curve["data_id"][index]) in text, text
        assert f"{curve['mjd_mid'][index]:.5f}" in text, text
    tab.assert_clean()


def test_filters_and_paging_change_what_is_listed(site, tab):
    total = list_data(url=site.url, limit=1)[1]
    assert total > 5
    tab.open("/products?limit=5")
    rows = tab.page.locator("[data-testid=products] tbody tr")
    assert rows.count() == 5
    assert tab.page.get_by_test_id("page-range").first.inner_text() == f"1–5 of {total}"
    first_page = rows.first.inner_text()
    tab.page.click("a[rel=next] >> nth=0")
    tab.page.wait_for_load_state("networkidle")
    assert (
        tab.page.get_by_test_id("page-range").first.inner_text() == f"6–{min(10, total)} of {total}"
    )
    assert rows.first.inner_text() != first_page
    tab.page.select_option("select[name=type]", "mosaic")
    tab.page.click("form.filters button[type=submit]")
    tab.page.wait_for_load_state("networkidle")
    mosaics = _products(site, data_type="mosaic")
    assert rows.count() == len(mosaics) == 2
    assert {rows.nth(k).locator("td").nth(1).inner_text() for k in range(2)} == {"mosaic"}
    tab.page.select_option("select[name=type]", "")
    tab.page.select_option("select[name=photometry]", "failed")
    tab.page.click("form.filters button[type=submit]")
    tab.page.wait_for_load_state("networkidle")
    assert rows.count() == 1 and site.failed_data_id in rows.first.inner_text()
    # Source search by name prefix and by position.
    tab.open("/sources")
    tab.page.fill("[data-testid=name-search] input[name=name]", site.dipper[:9])
    tab.page.click("[data-testid=name-search] button")
    tab.page.wait_for_load_state("networkidle")
    assert site.dipper in tab.page.get_by_test_id("sources").inner_text()
    tab.assert_clean()


def test_product_preview_marks_every_measured_position(site, tab):
    image = site.sim_images[0]
    data_id = next(
        r["data_id"] for r in _products(site, data_type="image") if r["path"] == str(image)
    )
    rows = photometry_for_product(data_id, url=site.url)
    n_flagged = int((rows["flags"] != 0).sum())
    tab.open(f"/products/{data_id}", plots=True)
    assert (
        tab.points("markers-ok") + tab.points("markers-flagged")
        == photometry_count(data_id, url=site.url)
        == len(rows)
        > 20
    )
    assert tab.points("markers-flagged") == n_flagged
    assert tab.page.locator("[data-testid=photometry] tbody tr").count() == len(rows)
    # Sorting by S/N puts the highest first on the second click.
    tab.page.click("[data-testid=photometry] th:has-text('S/N')")
    tab.page.click("[data-testid=photometry] th:has-text('S/N')")
    best = rows["name"][int(rows["snr"].argmax())]
    assert (
        tab.page.locator("[data-testid=photometry] tbody tr")
        .first.inner_text()
        .startswith(str(best))
    )
    with tab.page.expect_download() as download:
        tab.page.get_by_test_id("csv").click()
    text = Path(download.value.path()).read_text().splitlines()
    assert len(text) == len(rows) + 1 and text[0].startswith("source_id,name")
    assert "C = " in tab.page.get_by_test_id("correction").inner_text()
    tab.assert_clean()


def test_dismissing_a_candidate_needs_the_token_and_changes_the_database(site, tab):
    source_id, _ = resolve_source(site.dipper, url=site.url)
    assert list_candidates(source_id=source_id, url=site.url)[0][0]["status"] == "active"
    tab.open("/candidates?kind=ese")
    row = tab.page.locator(f"tr[data-source-id='{source_id}']")
    # Without the token: the page asks for it; declining leaves the candidate as it was.
    row.locator("button", has_text="dismiss").click()
    form = tab.page.locator("#token-form")
    form.wait_for(state="visible")
    form.locator("[data-cancel]").click()
    tab.page.wait_for_function(
        "() => document.getElementById('message').textContent.includes('401')"
    )
    assert list_candidates(source_id=source_id, url=site.url)[0][0]["status"] == "active"
    # A wrong token is refused too.
    row.locator("button", has_text="dismiss").click()
    form.locator("input[name=token]").fill("wrong")
    form.locator("button[type=submit]").click()
    tab.page.wait_for_function(
        "() => document.getElementById('message').textContent.includes('invalid API token')"
    )
    assert list_candidates(source_id=source_id, url=site.url)[0][0]["status"] == "active"
    # With the right one (kept for the session only) the status changes, in the page and in
    # the database.
    tab.page.evaluate("() => sessionStorage.clear()")
    row.locator("button", has_text="dismiss").click()
    form.locator("input[name=token]").fill(TOKEN)
    form.locator("button[type=submit]").click()
    row.locator("[data-status]", has_text="dismissed").wait_for()
    assert list_candidates(source_id=source_id, url=site.url)[0][0]["status"] == "dismissed"
    assert tab.page.evaluate("() => sessionStorage.getItem('contimg-api-token')") == TOKEN
    tab.open("/candidates?status=dismissed")
    assert site.dipper in tab.page.get_by_test_id("candidates").inner_text()
    assert not tab.console_errors or all("401" in e for e in tab.console_errors)
    assert not tab.foreign and not tab.dialogs


def test_cancelling_a_job_from_its_page(site, tab):
    job_id = create_batch_photometry_job(
        site.sim_images[:2], url=site.url, params=PhotometryParams(catalog="sim", radius_deg=0.05)
    )
    tab.page.add_init_script(f"sessionStorage.setItem('contimg-api-token', '{TOKEN}')")
    tab.open(f"/jobs/{job_id}")
    assert tab.page.get_by_test_id("job-status").inner_text() == "pending"
    tab.page.get_by_test_id("cancel").click()
    tab.page.get_by_test_id("job-status").filter(has_text="cancelled").wait_for()
    assert get_job(job_id, url=site.url).status == "cancelled"
    tab.assert_clean()


def test_overview_refreshes_by_itself(site, tab):
    tab.open("/?refresh=1", plots=True)
    before = int(tab.page.get_by_test_id("queue-depth").inner_text())
    job_id = create_batch_photometry_job(
        site.sim_images[2:], url=site.url, params=PhotometryParams(catalog="sim", radius_deg=0.07)
    )
    n_new = len(get_job(job_id, url=site.url).items)
    tab.page.wait_for_function(
        f"() => document.querySelector('[data-testid=queue-depth]').textContent.trim() "
        f"== '{before + n_new}'",
        timeout=10_000,
    )
    with session_scope(site.url) as session:
        assert session.scalar(select(func.count()).select_from(BatchJob)) >= job_id
    tab.assert_clean()


def test_catalogue_names_are_escaped(site, tab):
    tab.open(f"/sources/{site.evil_source_id}", plots=True)
    assert tab.page.get_by_test_id("source-name").inner_text() == EVIL_NAME
    assert tab.page.locator("#evil").count() == 0
    assert tab.page.evaluate("() => window.pwned === undefined")
    tab.open(f"/sources?name={quote('<script>')}&catalog=evil")
    assert EVIL_NAME in tab.page.get_by_test_id("sources").inner_text()
    assert tab.page.locator("#evil").count() == 0
    assert tab.page.evaluate("() => window.pwned === undefined")
    tab.assert_clean()
