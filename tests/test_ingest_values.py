"""Values read from a photo or a client never cost the photo's neighbours their place.

Every value a card brings (XMP tags, EXIF strings, zip member and upload file names) may be too
long for its column, hold NUL or control characters, or collide with a name already there. Each
test puts one such photo among good ones, on both databases, and checks that all of them land.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from conftest import csrf_token
from sqlalchemy import func, select
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.test import EnvironBuilder, stream_encode_multipart

from tracker import ingest, sources
from tracker.db import get_session
from tracker.models import Image, Sighting, Species
from tracker.synthetic import jpeg_bytes, xmp_packet

TAKEN = datetime(2024, 3, 10, 22, 15, 0)
# 120 characters: the species name column's size.
PREFIX = "Panthera pardus orientalis " + "x" * 93


def run_import(runner, *args):
    result = runner.invoke(args=["import", *map(str, args), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert lines, result.output
    return result.exit_code, {Path(f["path"]).name: f for f in lines[:-1]}, lines[-1]["summary"]


def card_of(folder: Path, photos: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in photos.items():
        (folder / name).write_bytes(data)
    return folder


def good_photos(count: int, seed: int = 0) -> dict[str, bytes]:
    return {f"IMG_{seed + i:04}.JPG": jpeg_bytes(TAKEN, seed=seed + i) for i in range(count)}


def tagged(seed: int, *tags: str) -> bytes:
    return jpeg_bytes(TAKEN, seed=seed, xmp=xmp_packet([], list(tags)))


def image_named(session, name: str) -> Image:
    return session.scalar(select(Image).where(Image.original_filename.like(f"%{name}")))


def test_species_tags_longer_than_the_column_sharing_120_characters(
    app, session, runner, deployment, tmp_path
):
    """Cut to 120 characters, both tags named the same new species: the second insert broke
    the unique name and took the whole card with it."""
    card = card_of(
        tmp_path / "card",
        good_photos(3)
        | {
            "LONG_1.JPG": tagged(50, f"Species|{PREFIX} one"),
            "LONG_2.JPG": tagged(51, f"Species|{PREFIX} two"),
        },
    )
    species_before = session.scalar(select(func.count()).select_from(Species))
    code, files, summary = run_import(runner, card, "--deployment", deployment.id)
    assert summary == {"added": 5, "duplicate": 0, "rejected": 0}
    assert code == 0
    for name in ("LONG_1.JPG", "LONG_2.JPG"):
        (warning,) = files[name]["warnings"]
        assert "species tag" in warning and "120 characters" in warning
    assert files["IMG_0000.JPG"]["warnings"] == []
    # The tag is refused, not cut: no species named after its first 120 characters.
    assert session.scalar(select(func.count()).select_from(Species)) == species_before
    assert session.scalar(select(func.count()).select_from(Sighting)) == 0
    # What the photo-ID team wrote is still kept with the image.
    assert image_named(session, "LONG_1.JPG").tags == [f"Species|{PREFIX} one"]


def test_a_species_tag_sharing_120_characters_with_an_existing_species(
    app, session, runner, deployment, tmp_path
):
    session.add(Species(scientific_name=PREFIX, common_name=PREFIX, kind="animal"))
    session.commit()
    card = card_of(
        tmp_path / "card", good_photos(2) | {"LONG.JPG": tagged(60, f"Species|{PREFIX}!")}
    )
    code, files, summary = run_import(runner, card, "--deployment", deployment.id)
    assert (code, summary["added"]) == (0, 3)
    assert "120 characters" in files["LONG.JPG"]["warnings"][0]


def test_a_185_character_datetimeoriginal(app, session, runner, deployment, tmp_path):
    """Quoted in the timestamp issue, it overflowed that column on PostgreSQL."""
    raw = "Z" * 185
    card = card_of(tmp_path / "card", good_photos(3) | {"CLOCK.JPG": jpeg_bytes(raw, seed=70)})
    code, files, summary = run_import(runner, card, "--deployment", deployment.id)
    assert (code, summary) == (0, {"added": 4, "duplicate": 0, "rejected": 0})
    image = image_named(session, "CLOCK.JPG")
    assert image.taken_at_utc is None and image.taken_at_raw is None
    assert image.timestamp_issue.startswith("unparsable date (ZZZZ")
    assert len(image.timestamp_issue) <= 200
    (warning,) = files["CLOCK.JPG"]["warnings"]
    assert "DateTimeOriginal" in warning and "185 characters" in warning


def test_camera_strings_with_control_characters_or_too_long(
    app, session, runner, deployment, tmp_path
):
    photos = good_photos(2) | {
        "ODD.JPG": jpeg_bytes(
            TAKEN, seed=80, make="RECO\x01NYX", model="M" * 100, serial="SN\x7f" + "9" * 70
        )
    }
    code, files, summary = run_import(
        runner, card_of(tmp_path / "c", photos), "--deployment", deployment.id
    )
    assert (code, summary["added"]) == (0, 3)
    image = image_named(session, "ODD.JPG")
    assert (image.camera_make, image.camera_model, image.camera_serial) == (None, None, None)
    warnings = " ".join(files["ODD.JPG"]["warnings"])
    assert "Make" in warnings and "control character" in warnings
    assert "Model" in warnings and "100 characters" in warnings
    assert "serial" in warnings


def test_tags_with_control_characters_are_dropped(app, session, runner, deployment, tmp_path):
    photos = good_photos(2) | {
        "TAGS.JPG": tagged(90, "Species|Snow\x85leopard", "Places|Kedrovaya")
    }
    code, files, summary = run_import(
        runner, card_of(tmp_path / "c", photos), "--deployment", deployment.id
    )
    assert (code, summary["added"]) == (0, 3)
    assert image_named(session, "TAGS.JPG").tags == ["Places|Kedrovaya"]
    assert "control character" in files["TAGS.JPG"]["warnings"][0]
    assert session.scalar(select(func.count()).select_from(Sighting)) == 0


def test_awkward_zip_member_and_local_file_names(app, session, runner, deployment, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("DCIM/IMG\x1b[31m_1.JPG", jpeg_bytes(TAKEN, seed=101))
        archive.writestr("DCIM/" + "d" * 300 + "/IMG_2.JPG", jpeg_bytes(TAKEN, seed=102))
        archive.writestr("DCIM/IMG_3.JPG", jpeg_bytes(TAKEN, seed=103))
    (tmp_path / "card.zip").write_bytes(buffer.getvalue())
    undecodable = tmp_path.joinpath(b"IMG_\xff_4.JPG".decode("utf-8", "surrogateescape"))
    undecodable.write_bytes(jpeg_bytes(TAKEN, seed=104))
    code, _, summary = run_import(
        runner, tmp_path / "card.zip", undecodable, "--deployment", deployment.id
    )
    assert (code, summary["added"]) == (0, 4)
    names = set(session.scalars(select(Image.original_filename)))
    assert "card.zip/DCIM/IMG\ufffd[31m_1.JPG" in names
    assert "IMG_\ufffd_4.JPG" in names
    assert max(len(n) for n in names) == 255


def post_upload(client, deployment_id: int, files: list[tuple[str, bytes]]):
    data = {
        "csrf_token": csrf_token(client, "/upload"),
        "deployment": str(deployment_id),
        "files": [(io.BytesIO(d), n) for n, d in files],
    }
    # Encoded in memory: over 500 kB the test client would spool it to a file it never closes.
    fields = EnvironBuilder(data=data)
    body, _, boundary = stream_encode_multipart(
        CombinedMultiDict([fields.form, fields.files]), use_tempfile=False
    )
    fields.close()
    return client.post(
        "/upload", data=body.getvalue(), content_type=f"multipart/form-data; boundary={boundary}"
    )


def test_a_nul_in_an_upload_file_name(app, as_role, deployment):
    files = [(f"IMG_{i}.JPG", jpeg_bytes(TAKEN, seed=110 + i)) for i in range(3)]
    files.append(("IMG\x00_9.JPG", jpeg_bytes(TAKEN, seed=119)))
    response = post_upload(as_role("ranger"), deployment.id, files)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "4 added, 0 already present, 0 rejected." in page
    assert "control character" in page
    with app.app_context():
        names = set(get_session().scalars(select(Image.original_filename)))
    assert "IMG\ufffd_9.JPG" in names and len(names) == 4


def test_the_same_photo_uploaded_again_after_a_failure_lands(app, session, deployment):
    """A retry of a card whose values were refused adds only what is missing."""
    items = [sources.Item("A.JPG", jpeg_bytes("Z" * 185, seed=120))]
    first = ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    again = ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    assert first.summary["added"] == 1 and again.summary["duplicate"] == 1


def test_data_after_the_end_of_the_image_is_left_out(app, session, runner, deployment, tmp_path):
    """A photo carrying 30 MB of something else is stored as the photo alone."""
    photo = jpeg_bytes(TAKEN, seed=130)
    hidden = random.Random(1).randbytes(30 * 1024 * 1024)
    padded = jpeg_bytes(TAKEN, seed=131) + b"\0" * 4000  # a camera's padding stays
    card = card_of(tmp_path / "card", {"BIG.JPG": photo + hidden, "PAD.JPG": padded})
    code, files, summary = run_import(runner, card, "--deployment", deployment.id)
    assert (code, summary["added"]) == (0, 2)
    assert files["BIG.JPG"]["warnings"] == ["30.0 MB after the end of the image left out"]
    assert files["PAD.JPG"]["warnings"] == []
    big, pad = image_named(session, "BIG.JPG"), image_named(session, "PAD.JPG")
    media = Path(app.config["MEDIA_DIR"])
    assert (media / big.stored_path).read_bytes() == photo and big.bytes == len(photo)
    assert big.sha256 == hashlib.sha256(photo).hexdigest()
    assert (media / pad.stored_path).read_bytes() == padded
    # The photo alone is the same photo.
    alone = card_of(tmp_path / "again", {"SAME.JPG": photo})
    assert run_import(runner, alone, "--deployment", deployment.id)[2]["duplicate"] == 1


def test_an_upload_stores_at_most_its_limit(app, as_role, deployment):
    app.config["MAX_STORED_MB"] = 1
    # Each about 440 kB (a photo and camera padding): two fit in 1 MB, the others do not.
    files = [(f"IMG_{i}.JPG", jpeg_bytes(TAKEN, seed=140 + i) + b"\0" * 400_000) for i in range(4)]
    response = post_upload(as_role("ranger"), deployment.id, files)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 added, 0 already present, 2 rejected." in page
    assert "this upload already stored its limit of 1.0 MB" in page


POISON_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON image WHEN NEW.original_filename LIKE '%POISON%' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned photo'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF position('POISON' in NEW.original_filename) > 0 THEN "
        "RAISE EXCEPTION 'poisoned photo'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER poison BEFORE INSERT ON image FOR EACH ROW EXECUTE FUNCTION poison()",
    ],
}


@pytest.fixture
def poisoned(app, session, backend):
    """The database refuses any photo named POISON: a value no check before it foresaw."""
    engine = app.extensions["tracker.engine"]
    with engine.begin() as conn:
        for statement in POISON_TRIGGERS[backend]:
            conn.exec_driver_sql(statement)
    yield
    session.rollback()  # its reads hold a lock the DROP waits for
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER poison" + (" ON image" if backend != "sqlite" else ""))
        if backend == "postgresql":
            conn.exec_driver_sql("DROP FUNCTION poison()")


def test_what_the_database_still_refuses_costs_one_photo(
    app, session, runner, deployment, tmp_path, poisoned
):
    photos = good_photos(4) | {"POISON.JPG": jpeg_bytes(TAKEN, seed=150)}
    code, files, summary = run_import(runner, card_of(tmp_path / "c", photos),
                                      "--deployment", deployment.id)  # fmt: skip
    assert (code, summary) == (1, {"added": 4, "duplicate": 0, "rejected": 1})
    assert files["POISON.JPG"]["reason"].startswith("the database refused it: ")
    assert "poisoned photo" in files["POISON.JPG"]["reason"]
    assert session.scalar(select(func.count()).select_from(Image)) == 4


def test_a_card_with_a_refused_photo_records_every_file_once(app, session, deployment, poisoned):
    """An uploaded card's record of its files survives the rollback of a refused batch.

    The truncated photo is refused on reading and recorded before its batch; the database then
    refuses POISON, the batch rolls back and is saved one photo at a time: every file of the card
    still has exactly one outcome, the refused one with the database's reason.
    """
    from tracker.models import Upload, UploadFile
    from tracker.uploads import cards

    whole = jpeg_bytes(TAKEN, seed=160)
    photos = {"BROKEN.JPG": whole[: len(whole) // 2]} | good_photos(3)
    photos["POISON.JPG"] = jpeg_bytes(TAKEN, seed=150)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in photos.items():
            archive.writestr(name, data)
    path = cards.card_path(app.config, "card-1")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    session.add(Upload(id="card-1", filename="card.zip", size=path.stat().st_size,
                       deployment_id=deployment.id))  # fmt: skip
    session.commit()
    assert cards.import_card(session, app.config, upload_id="card-1") == {
        "added": 3, "duplicate": 0, "rejected": 2,
    }  # fmt: skip
    session.commit()
    rows = session.execute(select(UploadFile.name, UploadFile.status, UploadFile.reason)).all()
    assert sorted(name.removeprefix("card.zip/") for name, _s, _r in rows) == sorted(photos)
    reasons = {name[len("card.zip/") :]: why for name, status, why in rows if status == "rejected"}
    assert reasons["BROKEN.JPG"].startswith("truncated JPEG")
    assert reasons["POISON.JPG"].startswith("the database refused it: ")
    assert session.scalar(select(func.count()).select_from(Image)) == 3
