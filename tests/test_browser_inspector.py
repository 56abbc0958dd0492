"""The inspector in a real JupyterLab, driven by a headless Chromium (Selenium).

Opens a one-cell notebook that shows :func:`fgi_core.widgets.inspect` for the shared quick run,
runs it, moves the image slider with the keyboard and checks that the figure's pixels changed.
A screenshot of the page is kept under the test's tmp folder (its path is printed).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and the
``selenium`` and ``jupyterlab`` packages; skipped with the reason when one is missing.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1500,1300")


def _browser() -> tuple[str, str]:
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if chromium is None or driver is None:
        missing = " and ".join(name for name, found in (("chromium", chromium), ("chromedriver", driver)) if found is None)
        pytest.skip(f"{missing} not found on PATH; .ci/run installs them with apt "
                    f"(apt-get install chromium chromium-driver: packages chromium and chromium-driver)")
    for module in ("selenium", "jupyterlab"):
        pytest.importorskip(module, reason=f"the browser test needs the {module} package")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(folder: Path, run_dir: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    source = f"""
from fgi_core import interpret, widgets
from fgi_core.config import get_profile
from fgi_core.data import create_dataset

prof = get_profile("quick")
ds = create_dataset("synthetic", n_images=prof.n_images, size=prof.synthetic_size, seed=0)
insp = interpret.load_inspection(ds, {str(run_dir)!r}, prof, ds.split("val")[:3])
inspector = widgets.inspect(insp, source="student")
"""
    nb = new_notebook(cells=[new_code_cell(source.strip())], metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}})
    path = folder / "inspect.ipynb"
    nbformat.write(nb, path)
    return path


def _start_lab(folder: Path, port: int, token: str, log) -> subprocess.Popen:
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(folder / ".jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(folder / ".jupyter-runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(folder / ".lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(folder / ".lab-workspaces")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
           "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise TimeoutError("JupyterLab did not answer within 120 s")


def _wait(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
        except Exception:  # element not there yet, stale...
            value = None
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _kernel_idle(port: int, token: str) -> bool:
    """True once the server has a session for the notebook whose kernel is idle (REST API)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sessions?token={token}", timeout=5) as r:
        sessions = json.loads(r.read())
    return any(s.get("path", "").endswith("inspect.ipynb") and s.get("kernel", {}).get("execution_state") == "idle" for s in sessions)


def _run_all(driver) -> None:
    """Run > Run All Cells from JupyterLab's menu bar (falls back to Shift+Enter in the cell)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.common.action_chains import ActionChains

    try:
        menu = _wait(lambda: next(e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text.strip() == "Run"),
                     30, "the Run menu")
        menu.click()
        item = _wait(lambda: next(e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
                                  if e.text.strip() == "Run All Cells"), 10, "Run All Cells")
        item.click()
    except TimeoutError:
        editor = _wait(lambda: driver.find_element(By.CSS_SELECTOR, ".jp-Cell .jp-InputArea-editor"), 30, "the cell editor")
        editor.click()
        ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()


def drive_inspector(run_dir: Path, folder: Path) -> Path:
    """Open the inspector notebook in JupyterLab, move the image slider, check the figure changed.

    Returns:
        the path of the page screenshot taken after the slider moved.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    chromium, chromedriver = _browser()
    folder.mkdir(parents=True, exist_ok=True)
    _notebook(folder, run_dir)
    port, token = _free_port(), secrets.token_hex(16)
    lab_log = open(folder / "jupyterlab.log", "w")
    lab = _start_lab(folder, port, token, lab_log)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={folder / '.chromium-profile'}")
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(chromedriver, log_output=str(folder / "chromedriver.log")), options=options)
        driver.get(f"http://127.0.0.1:{port}/lab/tree/inspect.ipynb?token={token}")
        _wait(lambda: driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell"), 120, "the notebook to open")
        _wait(lambda: _kernel_idle(port, token), 180, "the notebook's kernel to start", poll=1)
        _run_all(driver)
        figure = _wait(lambda: driver.find_element(By.CSS_SELECTOR, "img.fgi-inspector-figure"), 300, "the inspector's figure", poll=1)
        _wait(lambda: figure.get_attribute("src") and figure.size["width"] > 100, 60, "the figure to load")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", figure)
        time.sleep(1.0)
        before_png, before_src = figure.screenshot_as_png, figure.get_attribute("src")
        label_before = driver.find_element(By.CSS_SELECTOR, ".fgi-inspector-id").text

        handle = driver.find_element(By.CSS_SELECTOR, ".fgi-inspector .widget-slider .noUi-handle")  # the image slider
        handle.click()
        handle.send_keys(Keys.ARROW_RIGHT)
        try:
            _wait(lambda: figure.get_attribute("src") != before_src, 60, "a new figure after the slider moved")
        except TimeoutError:  # keyboard not taken: type into the slider's readout instead
            readout = driver.find_element(By.CSS_SELECTOR, ".fgi-inspector .widget-readout")
            readout.click()
            readout.send_keys(Keys.CONTROL, "a")
            readout.send_keys("1", Keys.ENTER)
            _wait(lambda: figure.get_attribute("src") != before_src, 60, "a new figure after the readout changed")
        time.sleep(1.0)
        after_png = figure.screenshot_as_png
        label_after = driver.find_element(By.CSS_SELECTOR, ".fgi-inspector-id").text
        shot = folder / "inspector_after_slider.png"
        driver.save_screenshot(str(shot))
        (folder / "before.png").write_bytes(before_png)
        (folder / "after.png").write_bytes(after_png)
        assert after_png != before_png, "the inspector's figure did not change when the slider moved"
        assert label_after != label_before, (label_before, label_after)
        errors = [e for e in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                  if "Traceback" in e.text]
        assert not errors, errors[0].text
        return shot
    finally:
        if driver is not None:
            driver.quit()
        lab.terminate()
        try:
            lab.wait(30)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait(10)
        lab_log.close()


def test_inspector_slider_changes_the_figure_in_jupyterlab(request, tmp_path):
    _browser()  # skip early, before the shared quick run is built for this test
    shot = drive_inspector(request.getfixturevalue("quick_run"), tmp_path / "lab")
    assert shot.stat().st_size > 10_000
    print(f"screenshot of the inspector in JupyterLab: {shot}")


def test_html_formulas_are_typeset_offline(tmp_path):
    """A rendering opened with the network off shows typeset formulas: the exponent of a^2 sits
    higher than its base and the fraction's numerator above its denominator (MathML laid out by the
    browser itself; no script from anywhere)."""
    import nbformat
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from fgi_core.runner import export_html

    chromium, chromedriver = _browser()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Formulas\n\n$$a^2 + \\frac{b}{c}$$ and inline $x_i$.")]
    nbformat.write(nb, tmp_path / "01_toy.ipynb")
    page = export_html(tmp_path / "01_toy.ipynb", log=lambda *_: None)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROME_FLAGS, "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):  # no network
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / '.chromium-profile'}")
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.get(page.as_uri())
        box = driver.execute_script("""
            const r = e => e.getBoundingClientRect();
            const sup = document.querySelector('math msup');
            const frac = document.querySelector('math mfrac');
            return {maths: document.querySelectorAll('math').length,
                    base: r(sup.children[0]).top, exponent: r(sup.children[1]).top,
                    num: r(frac.children[0]).bottom, den: r(frac.children[1]).top,
                    raw: document.body.innerText.includes('$$')};""")
    finally:
        driver.quit()
    assert box["maths"] == 2 and not box["raw"]
    assert box["exponent"] < box["base"]  # raised: laid out as a superscript, not "a^2" in a line of text
    assert box["num"] <= box["den"]  # stacked
