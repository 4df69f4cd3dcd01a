"""What a person sees: the real app in a real headless Chromium (Debian's), on localhost only.

The app runs as its own process on a free port with the demo data; tiles point at a closed
local port, so the browser never leaves this machine and tile failures are easy to tell apart.
The screenshot is kept in test-artifacts/.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

from tracker.synthetic import jpeg_bytes

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
TRACKER = str(Path(sys.executable).with_name("tracker"))
TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # nothing listens there: tiles fail, locally
EMAIL, PASSWORD = "watcher@park.test", "a browser test password"
ADMIN = "keeper@park.test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(args: list[str], env: dict, stdin: str | None = None) -> None:
    done = subprocess.run([TRACKER, *args], env=env, input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, f"tracker {' '.join(args)}: {done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    """The tracker served by its own process, on the demo data, at http://127.0.0.1:<port>."""
    instance = tmp_path_factory.mktemp("live")
    env = {
        "PATH": os.environ["PATH"],
        "TRACKER_INSTANCE_PATH": str(instance),
        "TRACKER_TILE_URL": TILES,
        "TRACKER_PUBLIC_MAP": "1",
    }
    _run(["db", "upgrade"], env)
    _run(["demo", "--no-photos"], env)
    _run(["user", "add", EMAIL, "--role", "researcher", "--password-stdin"], env, PASSWORD + "\n")
    _run(["user", "add", ADMIN, "--role", "admin", "--password-stdin"], env, PASSWORD + "\n")
    # A memory card's worth of photos at KP-01 for the review queue (the demo has none).
    card = instance / "card"
    card.mkdir()
    for i in range(3):
        taken = datetime(2025, 10, 1, 22, 15) + timedelta(minutes=30 * i)
        (card / f"IMG_{i:04}.JPG").write_bytes(jpeg_bytes(taken, seed=i))
    _run(["import", str(card), "--station", "KP-01"], env)
    with served(env) as base:
        yield {"base": base, "db": instance / "tracker.sqlite3"}


@contextmanager
def served(env: dict):
    """`tracker run` on a free local port until the block ends; gives its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        [TRACKER, "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/login")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (localhost only)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _sign_in(browser, base: str, email: str = EMAIL) -> None:
    browser.get(f"{base}/login")
    if urlsplit(browser.current_url).path != "/login":
        return  # still signed in from an earlier test
    browser.find_element(By.NAME, "email").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 10).until(ready.url_to_be(f"{base}/"))


def _errors(browser) -> list[str]:
    """Console errors, less the failed tile requests (there is no tile server here)."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "127.0.0.1:9/" not in entry["message"]
    ]


def test_the_map_in_a_real_browser(live_app, browser):
    _sign_in(browser, live_app["base"])
    browser.get_log("browser")  # start counting errors at the map
    browser.get(f"{live_app['base']}/map")
    frame = _map_frame(browser)
    WebDriverWait(browser, 20).until(lambda b: b.execute_script("return !!window.L"))
    assert browser.execute_script("return L.version") == "1.9.4"

    with sqlite3.connect(live_app["db"]) as db:
        stations = db.execute("SELECT count(*) FROM station").fetchone()[0]
        codes = [row[0] for row in db.execute("SELECT code FROM individual")]
    markers = browser.find_elements(By.CSS_SELECTOR, "path.station-marker")
    assert len(markers) == stations == 12

    control = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers")
    browser.execute_script("arguments[0].classList.add('leaflet-control-layers-expanded')", control)
    listed = control.get_attribute("textContent")
    assert all(code in listed for code in codes), listed

    ARTIFACTS.mkdir(exist_ok=True)
    if frame:
        browser.switch_to.default_content()
    browser.save_screenshot(str(ARTIFACTS / "map.png"))
    assert _errors(browser) == []


def _map_frame(browser) -> bool:
    """Enter the map's iframe if the page embeds it in one; True if it did."""
    frames = browser.find_elements(By.CSS_SELECTOR, "iframe.map-frame")
    if frames:
        browser.switch_to.frame(frames[0])
    return bool(frames)


def test_tagging_a_new_individual_and_undoing_it_in_a_real_browser(live_app, browser):
    """The review queue's own script: save with a new individual, then `u` takes both back."""
    base = live_app["base"]
    _sign_in(browser, base)

    def individuals() -> list[str]:
        with sqlite3.connect(live_app["db"]) as db:
            return [row[0] for row in db.execute("SELECT code FROM individual ORDER BY code")]

    with sqlite3.connect(live_app["db"]) as db:
        (deployment,) = db.execute("SELECT max(deployment_id) FROM image").fetchone()
        (leopard,) = db.execute(
            "SELECT id FROM species WHERE scientific_name = 'Panthera pardus orientalis'"
        ).fetchone()
    before = individuals()
    browser.get_log("browser")
    browser.get(f"{base}/review/{deployment}")
    status = browser.find_element(By.ID, "review-status")
    Select(browser.find_element(By.NAME, "species_id")).select_by_value(str(leopard))
    browser.find_element(By.NAME, "individual_code").send_keys("AL-99")
    browser.find_element(By.NAME, "new_individual").click()
    browser.find_element(By.ID, "review-save").click()
    WebDriverWait(browser, 10).until(lambda b: "Saved" in status.text)
    assert individuals() == sorted([*before, "AL-99"])
    assert browser.find_elements(By.CSS_SELECTOR, '#individual-codes option[value="AL-99"]')

    ActionChains(browser).send_keys("u").perform()
    WebDriverWait(browser, 10).until(lambda b: "Undone" in status.text)
    assert "New individual AL-99 removed." in status.text
    assert individuals() == before
    assert not browser.find_elements(By.CSS_SELECTOR, '#individual-codes option[value="AL-99"]')
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "review.png"))
    assert _errors(browser) == []


def _page_ids(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "image": one("SELECT max(id) FROM image"),
            "station": one("SELECT min(id) FROM station"),
            "deployment": one("SELECT max(deployment_id) FROM image"),
            "individual": one("SELECT individual_id FROM sighting WHERE individual_id IS NOT NULL"),
            "sighting": one("SELECT min(id) FROM sighting"),
            "user": one("SELECT min(id) FROM users"),
        }


EVERY_PAGE = [
    "/", "/upload", "/images/", "/images/{image}", "/stations/", "/stations/{station}",
    "/stations/new", "/stations/{station}/edit", "/deployments/", "/deployments/{deployment}",
    "/deployments/new", "/deployments/{deployment}/edit", "/deployments/{deployment}/close",
    "/deployments/{deployment}/outages/new", "/deployments/{deployment}/clock",
    "/deployments/{deployment}/timestamps", "/individuals/", "/individuals/{individual}/edit",
    "/individuals/{individual}/merge", "/map", "/map?embed=1", "/map/public", "/review/",
    "/review/{deployment}", "/sightings/{sighting}/edit", "/exports/", "/exports/effort",
    "/species/", "/users/", "/users/new", "/users/{user}/edit", "/photo-id/duplicates",
]  # fmt: skip


def test_every_page_works_under_the_content_security_policy(live_app, browser):
    """Each page as an admin sees it: no script or style refused by the policy (Chromium logs a
    refusal as an error), and the map drawn in the individual page's frame."""
    base, ids = live_app["base"], _page_ids(live_app["db"])
    browser.get(f"{base}/login")
    if urlsplit(browser.current_url).path != "/login":  # signed in as the researcher: sign out
        browser.find_element(By.CSS_SELECTOR, "nav form button").click()
        WebDriverWait(browser, 10).until(ready.url_to_be(f"{base}/login"))
    _sign_in(browser, base, ADMIN)
    for page in EVERY_PAGE:
        browser.get_log("browser")
        browser.get(base + page.format(**ids))
        assert "Leopard tracker" in browser.title, page
        assert "Something went wrong" not in browser.page_source, page
        assert _errors(browser) == [], page

    browser.get(f"{base}/individuals/{ids['individual']}")
    frame = browser.find_element(By.CSS_SELECTOR, "iframe.individual-map")
    browser.execute_script("arguments[0].scrollIntoView()", frame)
    browser.switch_to.frame(frame)
    WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "path.station-marker")
    )
    browser.switch_to.default_content()
    assert _errors(browser) == []
