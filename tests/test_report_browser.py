"""The HTML report in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by Selenium. The page must load without a console error, draw every chart, and the family
filter must change which rows of the results table are visible. Nothing may come from the network:
Chromium runs with networking features off and a fresh profile, and the page must not name an
http(s) URL in a src or href."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

from isocl.analysis.interactive import CHARTS
from isocl.analysis.report import build_report

_spec = importlib.util.spec_from_file_location("isocl_test_make_results_browser",
                                               Path(__file__).parent / "fixtures" / "make_results.py")
make_results_mod = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = make_results_mod
_spec.loader.exec_module(make_results_mod)

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


def _binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:  # not a skip: CI installs them (.ci/run), and a missing browser is a failure
        pytest.fail("the browser test needs Chromium and its driver: apt-get install chromium chromium-driver")
    return chromium, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:  # in the test extra: a missing selenium is a broken install, not a reason to skip
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser test needs selenium: pip install -e .[test]")

    chromium, driver = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1400,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver), options=options)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    results = make_results_mod.make_results(tmp_path_factory.mktemp("browser") / "results")
    report = build_report([results])
    return report


def test_report_is_self_contained(page):
    text = page.html.read_text(encoding="utf-8")
    markup = re.sub(r"<script>.*?</script>", "", text, flags=re.S)  # plotly.js names its home page in code
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup), "the page links to the network"
    assert "<script src" not in text and "<link" not in markup


def test_report_in_chromium(browser, page, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(page.html.resolve().as_uri())
    browser.execute_script("return document.readyState")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in fetched if not u.startswith(("data:", "file:", "blob:"))] == []

    # every interactive chart has drawn its SVG with points in it
    for div_id, *_ in CHARTS:
        points = browser.execute_script(
            "var d = document.getElementById(arguments[0]);"
            "return d ? d.querySelectorAll('svg.main-svg .scatterlayer .point').length : -1;", div_id)
        assert points > 0, f"chart {div_id}: {points} points drawn"
    # every static figure is a decoded image
    images = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert images
    assert all(browser.execute_script("return arguments[0].naturalWidth", im) > 0 for im in images)

    # the verdict comes first, the settings last
    ids = [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "body > section")]
    assert ids[0] == "verdict" and ids[-1] == "settings"

    def visible_rows():
        return [r.find_elements(By.TAG_NAME, "td")[0].text
                for r in browser.find_elements(By.CSS_SELECTOR, "table.metrics tbody tr") if r.is_displayed()]

    everyone = visible_rows()
    select = Select(browser.find_element(By.ID, "family-filter"))
    families = [o.get_attribute("value") for o in select.options if o.get_attribute("value")]
    assert len(families) >= 2
    select.select_by_value(families[-1])
    shown = visible_rows()
    assert 0 < len(shown) < len(everyone)
    select.select_by_value("")
    assert visible_rows() == everyone

    # sorting by a column reorders the rows
    heading = browser.find_elements(By.CSS_SELECTOR, "table.metrics thead th")[0]
    heading.click()
    assert visible_rows() == sorted(everyone, key=str.lower)
    heading.click()
    assert visible_rows() == sorted(everyone, key=str.lower, reverse=True)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
