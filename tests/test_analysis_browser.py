"""The HTML report in a real headless Chromium (Debian's chromium + chromedriver, selenium).

Checks what a user would see: the page loads offline with no JavaScript error in the
console, every figure is drawn, and the ternary plots show exactly the trials in the store.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from test_analysis import Run, peaked_runs, sqlite_root, write_sweep

import analysis
from analysis.ratios import simplex_grid
from analysis.surface import GRID_RESOLUTION

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (run .ci/setup-browser.sh)",
)

# Rendered points of one figure's traces, grouped by trace name, read from the SVG plotly drew
# (each trace's <g class="trace"> carries its calcdata, whose trace has our name and meta).
POINTS_BY_TRACE = """
const gd = document.getElementById(arguments[0]);
const counts = {};
for (const g of gd.querySelectorAll('.ternarylayer g.trace.scatter')) {
  const trace = g.__data__[0].trace;
  const key = (trace.meta === 'trials' ? 'trials:' : '') + trace.name;
  counts[key] = (counts[key] || 0) + g.querySelectorAll('path.point').length;
}
return counts;
"""
ALL_DRAWN = """
const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
return plots.length > 0 && plots.every(gd => gd._fullLayout && gd.querySelector('.main-svg'))
  ? plots.map(gd => gd.id) : null;
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A two-dataset store: digits has full, early-stopped and failed trials."""
    root, url = sqlite_root(tmp_path_factory.mktemp("browser"))
    rng = np.random.default_rng(3)
    digits = peaked_runs((0.1, 0.65, 0.25), n_ratios=14, seeds=1, noise=0.01, rng=rng)
    digits += [Run((1, 8, 3), 0.9, seed=s, test=0.89, stage="confirm") for s in (1, 2)]
    digits += [Run((1, 1, 1), 0.6, full=False), Run((3, 1, 1), None, state="FAIL")]
    write_sweep(url, "digits", "default", digits, root=root)
    mnist = peaked_runs((0.2, 0.6, 0.2), n_ratios=6, seeds=1, noise=0.01, rng=rng)
    write_sweep(url, "mnist", "quick", mnist, root=root)
    path = analysis.write_report(root, output=tmp_path_factory.mktemp("out") / "report.html")
    return path, len(digits), len(mnist)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1300,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_report_renders_in_chromium_without_errors(report, browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    path, n_digits, n_mnist = report
    browser.get(path.as_uri())
    drawn = WebDriverWait(browser, 60).until(lambda d: d.execute_script(ALL_DRAWN))
    assert {"comparison", "surface-digits", "surface-mnist", "history-digits",
            "curves-digits", "importance-digits-default"} <= set(drawn)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    digits = browser.execute_script(POINTS_BY_TRACE, "surface-digits")
    trial_points = {k: v for k, v in digits.items() if k.startswith("trials:")}
    assert trial_points == {"trials:full runs (16)": 16, "trials:stopped early (1)": 1,
                            "trials:failed / unfinished (1)": 1}
    assert sum(trial_points.values()) == n_digits
    grid_points = len(simplex_grid(GRID_RESOLUTION))
    assert digits["estimated<br>val acc"] == digits["uncertainty<br>(GP std)"] == grid_points
    assert digits["paper's ratios"] == 5 and digits["pure baselines"] == 3
    assert digits["best measured 1:8:3"] == 1

    comparison = browser.execute_script(POINTS_BY_TRACE, "comparison")
    assert sum(v for k, v in comparison.items() if k.startswith("trials:")) == n_digits + n_mnist

    browser.find_element("id", "surface-digits").screenshot(str(tmp_path / "surface.png"))
    # Drawn, not blank: a blank or failed plot is a few flat colours, the shaded surface many.
    shot = Image.open(tmp_path / "surface.png").convert("RGB")
    assert len(shot.getcolors(maxcolors=1_000_000)) > 100
