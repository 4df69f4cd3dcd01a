"""In a real browser: choosing a photo-ID candidate in the review queue with the keyboard.

The catalogue holds three real snow-leopard photos of three cats at three stations (tagged and
boxed as tests/test_reid_identify.py does, features made as a worker would); the review queue
shows another photo of one of them, untagged, with its animal box drawn. A researcher presses
`l`, sees the candidates with the reference photo and the matched points beside the photo,
presses `1` and Enter: the sighting names the cat, and the decision keeps rank 1 and its score.
"""

from __future__ import annotations

import os
import sqlite3

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select
from test_browser import ARTIFACTS, PASSWORD, _errors, _run, _sign_in, browser, served  # noqa: F401
from test_reid_identify import QUERIES, REFERENCES, add_photo

from tracker import create_app, fieldwork
from tracker.models import Annotation
from tracker.reid import store

pytestmark = pytest.mark.browser
EMAIL = "watcher@park.test"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from datetime import date

    from test_reid_review import untagged_box

    instance = tmp_path_factory.mktemp("live-photoid")
    # Burst-mates seconds apart count as separate events, so the query's cat can be found.
    env = {"PATH": os.environ["PATH"], "TRACKER_INSTANCE_PATH": str(instance),
           "TRACKER_TILE_URL": "", "TRACKER_EVENT_MINUTES": "0"}  # fmt: skip
    _run(["db", "upgrade"], env)
    _run(["user", "add", EMAIL, "--role", "researcher", "--password-stdin"], env, PASSWORD + "\n")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{instance / 'tracker.sqlite3'}",
            "MEDIA_DIR": str(instance / "media"),
            "SECRET_KEY": "setup only",
            "JOBS_URL": f"sqlite:///{instance / 'jobs.sqlite3'}",
        },
        web=False,
    )
    with app.app_context():
        session = app.extensions["tracker.sessionmaker"]()
        deployments = {}
        for n, (_code, station, _name) in enumerate(REFERENCES):
            made = fieldwork.create_station(session, code=station, latitude=43 + n, longitude=131)
            deployments[station] = fieldwork.create_deployment(
                session, made, fieldwork.DeploymentInput(start_date=date(2012, 1, 1))
            )
        refs = [add_photo(session, app, deployments[s], name, code) for code, s, name in REFERENCES]
        store.compute_job(session, app.config, image_ids=[image.id for image in refs])
        code, station, name = QUERIES[1]
        box = untagged_box(session, app, deployments[station], name)
        # A leopard already tagged without its code, for the sighting's own page.
        tagged_code, tagged_station, tagged_name = QUERIES[0]
        tagged = add_photo(session, app, deployments[tagged_station], tagged_name, None)
        tied = select(Annotation.sighting_id).where(Annotation.image_id == tagged.id)
        sighting = session.scalar(tied)
        session.commit()
        ids = {"deployment": deployments[station].id, "image": box.image_id, "code": code,
               "sighting": sighting, "sighting_code": tagged_code}  # fmt: skip
        session.close()
    app.extensions["tracker.engine"].dispose()
    with served(env) as base:
        yield {"base": base, "db": instance / "tracker.sqlite3"} | ids


def test_choosing_a_candidate_with_the_keys_keeps_its_rank(live, browser):  # noqa: F811
    base = live["base"]
    _sign_in(browser, base, EMAIL)
    browser.get_log("browser")
    browser.get(f"{base}/review/{live['deployment']}")
    ActionChains(browser).send_keys("l").perform()
    wait = WebDriverWait(browser, 90)  # matching a real photo takes seconds on this machine
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#photoid-candidates button"))
    buttons = browser.find_elements(By.CSS_SELECTOR, "#photoid-candidates button")
    assert 1 <= len(buttons) <= 5
    assert live["code"] in buttons[0].text
    # The reference photo and the matched points, beside this photo's box.
    assert browser.find_element(By.ID, "photoid-compare").is_displayed()
    query_points = browser.find_elements(By.CSS_SELECTOR, "#photoid-query-view .photoid-point")
    ref_points = browser.find_elements(By.CSS_SELECTOR, "#photoid-reference-view .photoid-point")
    assert len(query_points) == len(ref_points) >= 5
    loaded = "return [...document.querySelectorAll('.photoid-view img')].every(i => i.naturalWidth)"
    wait.until(lambda b: b.execute_script(loaded))
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "photoid-candidates.png"))
    # Zooming one view zooms both.
    stages = "#photoid-query-view .photoid-stage, #photoid-reference-view .photoid-stage"
    widths = lambda: [s.size["width"] for s in browser.find_elements(By.CSS_SELECTOR, stages)]  # noqa: E731
    before = widths()
    browser.find_element(By.CSS_SELECTOR, '#photoid-zoom [data-zoom="1.5"]').click()
    after = widths()
    assert all(a > 1.4 * b for a, b in zip(after, before, strict=True)), (before, after)

    # `n`: a new individual, the catalogue's next code proposed; then `1` takes the first cat.
    code_field = browser.find_element(By.NAME, "individual_code")
    ActionChains(browser).send_keys("n").perform()
    assert code_field.get_attribute("value") == "Cat24"
    assert browser.find_element(By.NAME, "new_individual").is_selected()
    ActionChains(browser).send_keys("1").perform()
    assert not browser.find_element(By.NAME, "new_individual").is_selected()
    assert browser.find_element(By.NAME, "individual_code").get_attribute("value") == live["code"]
    assert buttons[0].get_attribute("aria-pressed") == "true"
    browser.save_screenshot(str(ARTIFACTS / "photoid-review.png"))
    ActionChains(browser).send_keys("\ue007").perform()  # Enter saves

    def decisions() -> list:
        with sqlite3.connect(live["db"]) as db:
            return db.execute(
                "SELECT d.choice, d.rank, d.score, i.code FROM photo_id_decision d "
                "JOIN individual i ON i.id = d.individual_id"
            ).fetchall()

    # The last sequence: once saved, the page moves on to the end of the queue.
    WebDriverWait(browser, 20).until(lambda b: decisions())
    with sqlite3.connect(live["db"]) as db:
        (tagged,) = db.execute(
            "SELECT i.code FROM sighting s JOIN sighting_image si ON si.sighting_id = s.id "
            "JOIN individual i ON i.id = s.individual_id WHERE si.image_id = ?",
            (live["image"],),
        ).fetchone()
    ((choice, rank, score, code),) = decisions()
    assert (choice, rank, code) == ("candidate", 1, live["code"]) and score > 2
    assert tagged == live["code"]
    assert _errors(browser) == []


def test_an_unidentified_sighting_s_page_suggests_and_keeps_the_choice(live, browser):  # noqa: F811
    base = live["base"]
    _sign_in(browser, base, EMAIL)
    browser.get(f"{base}/sightings/{live['sighting']}/edit")
    wait = WebDriverWait(browser, 90)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#photoid-candidates button"))
    first = browser.find_element(By.CSS_SELECTOR, "#photoid-candidates button")
    assert live["sighting_code"] in first.text
    ActionChains(browser).send_keys("1").perform()
    code = browser.find_element(By.NAME, "individual_code").get_attribute("value")
    assert code == live["sighting_code"]
    ActionChains(browser).send_keys("\ue007").perform()  # Enter saves the sighting's form
    wait.until(lambda b: "/images/" in b.current_url)
    with sqlite3.connect(live["db"]) as db:
        rows = db.execute(
            "SELECT d.choice, d.rank FROM photo_id_decision d WHERE d.sighting_id = ?",
            (live["sighting"],),
        ).fetchall()
    assert rows == [("candidate", 1)]
    assert _errors(browser) == []
