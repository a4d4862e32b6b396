"""The report as a person sees it: opened from disk in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium). Skips only where no browser can be had; .ci/run installs
them and sets ``FASTXAI_REQUIRE_BROWSER=1`` once they are there, which turns any skip into a
failure. Saves a screenshot (``$FASTXAI_SCREENSHOT_DIR`` or pytest's tmp folder).
"""
import os
import shutil
from pathlib import Path

import pytest

from tests.report.fake_run import MARKUP_GROUP

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "/usr/lib/chromium/chromedriver")


def _which(names):
    for n in names:
        p = shutil.which(n) or (n if os.path.isabs(n) and os.access(n, os.X_OK) else None)
        if p:
            return p
    return None


def _skip(reason):
    """Skip, or fail where CI says the browser is installed (FASTXAI_REQUIRE_BROWSER=1)."""
    if os.environ.get("FASTXAI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"FASTXAI_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def open_browser():
    """A headless Chromium driver, or a skip naming what is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        _skip(f"selenium is not installed ({exc}); pip install -e '.[test]'")
    browser, driver = _which(BROWSERS), _which(DRIVERS)
    if browser is None or driver is None:
        _skip(f"no Chromium here (browser: {browser}, driver: {driver}); apt-get install chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,2400"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


@pytest.fixture(scope="module")
def page(markup_report):
    d = markup_report.parent
    path = markup_report
    drv = open_browser()
    try:
        drv.get(path.resolve().as_uri())
        drv.execute_script("document.querySelectorAll('details').forEach(e => e.open = true);")
        yield drv, d
    finally:
        drv.quit()


def test_every_image_decodes(page):
    drv, _ = page
    sizes = drv.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);")
    assert len(sizes) >= 5
    assert all(c and w > 0 and h > 0 for c, w, h in sizes), sizes


def test_tables_and_findings_present(page):
    drv, _ = page
    n_tables = drv.execute_script("return document.querySelectorAll('table.data').length;")
    n_findings = drv.execute_script("return document.querySelectorAll('#findings li.finding').length;")
    assert n_tables >= 5 and n_findings >= 5
    text = drv.find_element("id", "findings").text
    assert "Sensitivity is" in text and "95 % CI" in text


def test_no_script_errors_and_no_scripts(page):
    drv, _ = page
    severe = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe
    assert drv.execute_script("return document.scripts.length;") == 0


def test_markup_in_labels_and_file_names_renders_as_text(page):
    drv, _ = page
    audit = drv.find_element("id", "audit").text
    assert f"sex = {MARKUP_GROUP}" in audit or MARKUP_GROUP in audit
    assert drv.execute_script("return document.querySelectorAll('td b, li b, td img, li img').length;") == 0
    body = drv.find_element("tag name", "body").text
    assert "<i>img</i>_" in body  # the overlays' case file names, listed as text
    assert drv.execute_script("return document.querySelectorAll('figcaption i, details i').length;") == 0


def test_screenshot(page):
    drv, d = page
    out = Path(os.environ.get("FASTXAI_SCREENSHOT_DIR", d)) / "report_screenshot.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    assert drv.save_screenshot(str(out))
    from PIL import Image

    with Image.open(out) as im:
        assert im.size[0] > 500 and im.getextrema() != ((255, 255), (255, 255), (255, 255))
