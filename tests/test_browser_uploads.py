"""In a real browser: the Upload page's Uppy (Dashboard, Tus, Golden Retriever) sends a card.

The app runs as its own process with a `tracker worker` beside it (as `make run` starts them);
a ranger drives Chromium (see tests/test_browser.py).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import zipfile
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from linkproxy import LinkProxy
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait
from test_browser import TRACKER, _run, browser, served  # noqa: F401
from test_browser_detections import EMAIL, PASSWORD, sign_in
from workers import wait_until

from tracker.synthetic import jpeg_bytes

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    instance = tmp_path_factory.mktemp("live-uploads")
    env = {"PATH": os.environ["PATH"], "TRACKER_INSTANCE_PATH": str(instance),
           "TRACKER_TILE_URL": ""}  # fmt: skip
    _run(["db", "upgrade"], env)
    _run(["station", "add", "KP-01", "--lat", "43.1", "--lon", "131.5"], env)
    _run(["deployment", "add", "--station", "KP-01", "--start", "2024-01-01"], env)
    _run(["user", "add", EMAIL, "--role", "ranger", "--password-stdin"], env, PASSWORD + "\n")
    card = instance / "card.zip"
    with zipfile.ZipFile(card, "w") as archive:
        for i in range(3):
            taken = datetime(2024, 3, 10, 22, 15) + timedelta(minutes=i)
            archive.writestr(f"DCIM/IMG_{i:04}.JPG", jpeg_bytes(taken, size=(320, 240), seed=i))
        archive.writestr("DCIM/notes.txt", b"not a photo")
    log = (instance / "worker.log").open("wb")
    worker = subprocess.Popen([TRACKER, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with served(env) as base:
            yield {"base": base, "db": instance / "tracker.sqlite3", "card": card}
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)
        log.close()


def query(live, sql: str) -> list:
    with sqlite3.connect(live["db"]) as connection:
        return connection.execute(sql).fetchall()


def upload_page(driver, live, station: str, base: str | None = None, card=None):
    """Signed in, on the Upload page with Uppy's dashboard, `station` typed, the card chosen
    and its upload started (at `base`, the app's address unless given)."""
    base = base or live["base"]
    sign_in(driver, base)
    # Forget what Golden Retriever kept of an earlier test, from a page without Uppy.
    driver.execute_cdp_cmd(
        "Storage.clearDataForOrigin", {"origin": base, "storageTypes": "local_storage,indexeddb"}
    )
    driver.get(f"{base}/upload")
    WebDriverWait(driver, 30).until(
        ready.presence_of_element_located((By.CSS_SELECTOR, "#uppy-dashboard .uppy-Dashboard"))
    )
    driver.find_element(By.NAME, "station").send_keys(station)
    chooser = driver.find_element(By.CSS_SELECTOR, "#uppy-dashboard input[type=file]")
    chooser.send_keys(str(card or live["card"]))
    start = WebDriverWait(driver, 30).until(
        ready.element_to_be_clickable((By.CSS_SELECTOR, ".uppy-StatusBar-actionBtn--upload"))
    )
    start.click()


def test_a_station_that_does_not_exist_is_refused_before_any_byte(live, browser):  # noqa: F811
    upload_page(browser, live, "KP-99")
    messages = browser.find_element(By.ID, "uppy-messages")
    WebDriverWait(browser, 30).until(lambda _b: "KP-99" in messages.text)
    assert "card.zip: No station with code 'KP-99'." in messages.text
    assert query(live, "SELECT count(*) FROM upload") == [(0,)]


def test_a_card_sent_with_uppy_is_imported_and_its_report_shown(live, browser):  # noqa: F811
    upload_page(browser, live, "kp-01")
    WebDriverWait(browser, 30).until(lambda b: urlsplit(b.current_url).path.startswith("/uploads/"))
    state = WebDriverWait(browser, 60).until(
        lambda b: (
            (e := b.find_element(By.ID, "upload-state")).get_attribute("data-state") == "done" and e
        )
    )
    assert state.text == "Imported."
    assert browser.find_element(By.ID, "count-added").text == "3"
    assert "card.zip/DCIM/notes.txt" in browser.find_element(By.ID, "rejected").text
    assert browser.find_element(By.ID, "review-link").get_attribute("href").endswith("/review/1")
    assert query(live, "SELECT count(*), min(deployment_id) FROM image") == [(3, 1)]


def test_a_page_reloaded_mid_upload_resumes_where_it_stopped(live, browser, tmp_path):  # noqa: F811
    card = tmp_path / "big-card.zip"  # three chunks of Uppy's 8 MiB
    with zipfile.ZipFile(card, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("DCIM/IMG_0100.JPG", jpeg_bytes(datetime(2024, 4, 2, 3, 0), seed=100))
        archive.writestr("DCIM/clip.bin", random.Random(5).randbytes(20 * 1024 * 1024))
    size, chunk = card.stat().st_size, 8 * 1024 * 1024
    port = int(live["base"].rsplit(":", 1)[1])
    with LinkProxy(port, rate=4e6) as link:  # a slow link, so the reload comes mid-card
        upload_page(browser, live, "KP-01", base=link.url, card=card)
        wait_until(lambda: link.body_bytes > chunk + 512 * 1024, 60, "the second chunk")
        browser.refresh()  # the tab reloads, as after a crash: Golden Retriever takes over
        # A 20 MB card is more than Golden Retriever keeps in the browser: the dashboard asks
        # for it again (as for any real card), and goes on where the server says it stopped.
        WebDriverWait(browser, 30).until(
            ready.element_to_be_clickable((By.CSS_SELECTOR, ".uppy-DashboardContent-addMore"))
        ).click()
        # The dashboard draws its file picker after the click, not during it.
        WebDriverWait(browser, 30).until(
            ready.presence_of_element_located((By.CSS_SELECTOR, "#uppy-dashboard input[type=file]"))
        ).send_keys(str(card))
        WebDriverWait(browser, 30).until(
            ready.element_to_be_clickable((By.CSS_SELECTOR, ".uppy-StatusBar-actionBtn--upload"))
        ).click()
        WebDriverWait(browser, 60).until(
            lambda b: urlsplit(b.current_url).path.startswith("/uploads/")
        )
        sent = link.body_bytes
    assert size < sent <= size + chunk  # at most the chunk in flight, sent again
    path = urlsplit(browser.current_url).path
    uploads = "SELECT id, size FROM upload WHERE filename = 'big-card.zip'"
    assert query(live, uploads) == [(path.rsplit("/", 1)[1], size)]  # the same upload went on
    browser.get(live["base"] + path)  # the slow link is gone; the result page, directly
    WebDriverWait(browser, 60).until(
        lambda b: b.find_element(By.ID, "upload-state").get_attribute("data-state") == "done"
    )
    assert browser.find_element(By.ID, "count-added").text == "1"
