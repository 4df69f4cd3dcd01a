"""In a real browser: drawing, resizing and deleting a box, and clearing the likely-empty grid.

The app runs as its own process with the shared real photos and MegaDetector's real output on
them, imported with the real commands; a ranger drives Chromium (see tests/test_browser.py).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest
from detections_data import PHOTOS, RESULTS
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait
from test_browser import TRACKER, _run, browser, served  # noqa: F401

pytestmark = pytest.mark.browser
EMAIL, PASSWORD = "ranger@park.test", "a ranger test password"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    instance = tmp_path_factory.mktemp("live-detections")
    env = {"PATH": os.environ["PATH"], "TRACKER_INSTANCE_PATH": str(instance),
           "TRACKER_TILE_URL": ""}  # fmt: skip
    _run(["db", "upgrade"], env)
    _run(["station", "add", "KP-07", "--lat", "43.1", "--lon", "131.5"], env)
    _run(["deployment", "add", "--station", "KP-07", "--start", "2010-01-01"], env)
    _run(["user", "add", EMAIL, "--role", "ranger", "--password-stdin"], env, PASSWORD + "\n")
    subprocess.run(
        [TRACKER, "import", str(PHOTOS), "--station", "KP-07"],
        env=env,
        check=False,
        capture_output=True,
    )  # fmt: skip  (exit 1: the truncated photo is refused)
    subprocess.run([TRACKER, "detections", "import", str(RESULTS), "--station", "KP-07"],
                   env=env, check=False, capture_output=True)  # fmt: skip
    with served(env) as base:
        yield {"base": base, "db": instance / "tracker.sqlite3"}


def query(live, sql: str, *args) -> list:
    with sqlite3.connect(live["db"]) as connection:
        return connection.execute(sql, args).fetchall()


def sign_in(driver, base: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "email").send_keys(EMAIL)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 10).until(ready.url_to_be(f"{base}/"))


def test_a_ranger_draws_resizes_and_deletes_a_box(live, browser):  # noqa: F811
    sign_in(browser, live["base"])
    # The whole photo in the window: actions aim from the centre of an element's visible part.
    browser.set_window_size(1280, 1600)
    ((image_id,),) = query(live, "SELECT id FROM image WHERE original_filename LIKE '%ocelot.jpg'")
    browser.get(f"{live['base']}/images/{image_id}")
    wait = WebDriverWait(browser, 10)
    photo = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".boxed-ready img")))
    wait.until(lambda b: b.execute_script("return arguments[0].complete", photo))
    before = len(browser.find_elements(By.CSS_SELECTOR, ".boxed .box"))
    browser.find_element(By.CSS_SELECTOR, ".boxed-draw").click()
    width, height = photo.size["width"], photo.size["height"]
    # Drag from 30 % to 60 % of the photo (offsets are from its centre, kept in the window).
    (ActionChains(browser)
     .move_to_element_with_offset(photo, int(-0.2 * width), int(-0.2 * height))
     .click_and_hold().move_by_offset(int(0.15 * width), int(0.15 * height))
     .move_by_offset(int(0.15 * width), int(0.15 * height)).release().perform())  # fmt: skip
    wait.until(lambda b: query(live, "SELECT count(*) FROM annotation WHERE drawn_by_id "
                               "IS NOT NULL")[0][0] == 1)  # fmt: skip
    ((box_id, x, y, w, h),) = query(
        live, "SELECT id, x, y, width, height FROM annotation WHERE drawn_by_id IS NOT NULL"
    )
    assert [round(v, 1) for v in (x, y, w, h)] == [0.3, 0.3, 0.3, 0.3]
    assert len(browser.find_elements(By.CSS_SELECTOR, ".boxed .box")) == before + 1
    # Resize it by its corner handle: 10 % wider.
    handle = f".box[data-id='{box_id}'] .box-handle"
    settled(browser, lambda b: ActionChains(b).drag_and_drop_by_offset(
        b.find_element(By.CSS_SELECTOR, handle), int(0.1 * width), 0).perform())  # fmt: skip
    wait.until(lambda b: round(query(live, "SELECT width FROM annotation WHERE id = ?",
                                     box_id)[0][0], 1) == 0.4)  # fmt: skip
    delete = f".box[data-id='{box_id}'] .box-delete"
    settled(browser, lambda b: b.find_element(By.CSS_SELECTOR, delete).click())
    wait.until(lambda b: not query(live, "SELECT id FROM annotation WHERE id = ?", box_id))
    browser.set_window_size(1280, 900)


def settled(driver, act) -> None:
    """Do `act(driver)` on the page's boxes, again if it found a box the page has just drawn
    anew (it redraws them once a change is saved): the one found is gone by the time it acts."""
    WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: act(b) or True
    )


def shows(text: str):
    """A wait's condition: the page now shown has `text`. Read from the page's source, not from
    an element: the key submits a form, and an element found on the page before it was left
    fails with an inspector error that a wait does not pass over."""
    return lambda driver: text in driver.page_source


def test_the_likely_empty_grid_is_confirmed_with_one_key(live, browser):  # noqa: F811
    sign_in(browser, live["base"])
    ((deployment,),) = query(live, "SELECT id FROM deployment")
    browser.get(f"{live['base']}/review/{deployment}/empty")
    ticks = browser.find_elements(By.CSS_SELECTOR, "#empty-grid input[type=checkbox]")
    names = [t.find_element(By.XPATH, "..").get_attribute("title") for t in ticks]
    assert sorted(n.rsplit("/", 1)[-1] for n in names) == ["blank.jpg", "blank2.jpg", "blank3.jpg"]
    assert all(t.is_selected() for t in ticks)
    keep = ticks[names.index(next(n for n in names if n.endswith("blank3.jpg")))]
    keep.click()  # untick: something is there after all
    browser.find_element(By.TAG_NAME, "body").send_keys("b")
    WebDriverWait(browser, 10).until(shows("2 photos confirmed blank"))
    rows = query(live, "SELECT s.source, sp.kind FROM sighting s JOIN species sp "
                 "ON sp.id = s.species_id")  # fmt: skip
    assert sorted(rows) == [("detector", "blank"), ("detector", "blank")]
    assert len(query(live, "SELECT image_id FROM empty_override")) == 1


def test_a_ranger_chooses_a_range_in_the_library_and_tags_it(live, browser):  # noqa: F811
    sign_in(browser, live["base"])
    browser.get(f"{live['base']}/images/?category=animal&confidence=0.9")
    wait = WebDriverWait(browser, 10)
    pics = browser.find_elements(By.CSS_SELECTOR, "#library-grid a.pic")
    ticks = browser.find_elements(By.CSS_SELECTOR, "#library-grid input[name=image_ids]")
    assert len(pics) >= 5
    count = browser.find_element(By.ID, "library-count")
    pics[0].click()  # a click on a photo chooses it; shift-click a range
    ActionChains(browser).key_down("\ue008").click(pics[2]).key_up("\ue008").perform()
    assert count.text == "3" and [t.is_selected() for t in ticks[:4]] == [True] * 3 + [False]
    # Keys: Shift+Right extends the range from the focused photo; Esc clears; a takes all.
    ActionChains(browser).key_down("\ue008").send_keys("\ue014").key_up("\ue008").perform()
    assert count.text == "4"
    ActionChains(browser).send_keys("\ue00c").perform()
    assert count.text == "0"
    ActionChains(browser).send_keys("a").perform()
    assert count.text == str(len(ticks))
    ActionChains(browser).send_keys("\ue00c").perform()
    pics[1].click()
    ActionChains(browser).key_down("\ue008").click(pics[3]).key_up("\ue008").perform()
    chosen = sorted(int(t.get_attribute("value")) for t in ticks if t.is_selected())
    species = browser.find_element(By.ID, "library-species")
    species.find_elements(By.TAG_NAME, "option")[1].click()
    browser.find_element(By.CSS_SELECTOR, "#library-bulk input[name=confirm]").click()
    browser.find_element(By.ID, "library-tag").click()
    wait.until(shows("3 photos tagged"))
    tagged = query(live, "SELECT DISTINCT image_id FROM sighting_image ORDER BY image_id")
    assert [i for (i,) in tagged if i in chosen] == chosen


def test_two_animals_in_one_photo_get_a_box_and_a_sighting_each(live, browser):  # noqa: F811
    sign_in(browser, live["base"])
    browser.set_window_size(1280, 1600)
    # The dog: one detector box, and left untagged by the tests before this one.
    ((image_id,),) = query(live, "SELECT id FROM image WHERE original_filename LIKE '%dog.jpg'")
    ((deployment,),) = query(live, "SELECT id FROM deployment")
    browser.get(f"{live['base']}/review/{deployment}?at={image_id}")
    wait = WebDriverWait(browser, 10)
    photo = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".boxed-ready img")))
    wait.until(lambda b: b.execute_script("return arguments[0].complete", photo))
    # The second animal has no detector box: the ranger draws one, which becomes the chosen box.
    browser.find_element(By.CSS_SELECTOR, ".boxed-draw").click()
    width, height = photo.size["width"], photo.size["height"]
    (ActionChains(browser)
     .move_to_element_with_offset(photo, int(-0.45 * width), int(-0.45 * height))
     .click_and_hold().move_by_offset(int(0.1 * width), int(0.1 * height))
     .release().perform())  # fmt: skip
    chosen = wait.until(ready.visibility_of_element_located((By.ID, "review-box-chosen")))
    ((drawn,),) = query(live, "SELECT id FROM annotation WHERE drawn_by_id IS NOT NULL "
                        "AND image_id = ?", image_id)  # fmt: skip
    assert f"Box {drawn}" in chosen.text
    species = browser.find_element(By.NAME, "species_id")
    species.find_elements(By.CSS_SELECTOR, "option[value]:not([value=''])")[0].click()
    browser.find_element(By.ID, "review-stay").click()
    browser.find_element(By.ID, "review-save").click()
    wait.until(ready.visibility_of_element_located((By.ID, "review-again")))
    # The same photo again: the detector's box goes with the second sighting.
    ((detected,),) = query(live, "SELECT id FROM annotation WHERE run_id IS NOT NULL "
                           "AND image_id = ? AND confidence > 0.5", image_id)  # fmt: skip
    box = wait.until(ready.presence_of_element_located(
        (By.CSS_SELECTOR, f".box[data-id='{detected}'] .box-label")))  # fmt: skip
    ActionChains(browser).click(box).perform()
    wait.until(ready.text_to_be_present_in_element((By.ID, "review-box-chosen"), f"Box {detected}"))
    species = browser.find_element(By.NAME, "species_id")
    species.find_elements(By.CSS_SELECTOR, "option[value]:not([value=''])")[0].click()
    browser.find_element(By.ID, "review-save").click()
    wait.until(lambda b: len(query(live, "SELECT sighting_id FROM sighting_image "
                                   "WHERE image_id = ?", image_id)) == 2)  # fmt: skip
    tied = query(live, "SELECT id, sighting_id FROM annotation WHERE image_id = ? "
                 "AND sighting_id IS NOT NULL ORDER BY sighting_id", image_id)  # fmt: skip
    assert [b for b, _ in tied] == [drawn, detected]
    assert len({s for _, s in tied}) == 2
    # On the image page, the chosen box shows its sighting; giving it the other one (and a
    # flank) is saved at once.
    first, second = (s for _, s in tied)
    browser.get(f"{live['base']}/images/{image_id}")
    box = wait.until(ready.presence_of_element_located(
        (By.CSS_SELECTOR, f".box[data-id='{drawn}'] .box-label")))  # fmt: skip
    ActionChains(browser).click(box).perform()
    sighting = wait.until(ready.visibility_of_element_located((By.NAME, "box_sighting")))
    assert sighting.get_attribute("value") == str(first)
    sighting.find_element(By.CSS_SELECTOR, f"option[value='{second}']").click()
    wait.until(lambda b: query(live, "SELECT sighting_id FROM annotation WHERE id = ?",
                               drawn)[0][0] == second)  # fmt: skip
    browser.find_element(By.NAME, "box_flank").find_element(
        By.CSS_SELECTOR, "option[value='left']").click()  # fmt: skip
    wait.until(lambda b: query(live, "SELECT flank FROM annotation WHERE id = ?",
                               drawn)[0][0] == "left")  # fmt: skip
    browser.set_window_size(1280, 900)
