"""tracker.exif against ExifTool's reading of the shared corpus, and on files generated here.

The corpus expectations are built from groundtruth.json (ExifTool 12.57, ``-n``) in code; the
few places where tracker.exif deliberately differs (impossible values become None) are listed
in DELIBERATE and each has its own explicit test.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import struct
from datetime import datetime
from pathlib import Path

import exifread
import pytest
from PIL import ExifTags, Image

from tracker import exif, reconyx
from tracker.exif import ExifData, read_exif, to_json_dict

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
GROUND = json.loads((CORPUS / "groundtruth.json").read_text(encoding="utf-8"))
with (CORPUS / "manifest.csv").open(newline="", encoding="utf-8") as _fh:
    MANIFEST = {row["file"]: row for row in csv.DictReader(_fh)}
FILES = sorted(GROUND)

CORRUPT = "754664a12e36abff7950e796c906ae39.jpg"  # 357 bytes; plain exifread raises IndexError
# File name -> fields where we deliberately do not repeat ExifTool.
DELIBERATE = {
    "buggy_panorama.jpg": {"latitude": None, "longitude": None, "altitude": None},  # lat 213.64
    "altitude.jpg": {"altitude": None},  # 4294967284 m, a wrapped -12
    "Issue 173 (dotnet).jpg": {"altitude": None},  # -848 m, below the Dead Sea
}
RECONYX_FILES = [rel for rel in FILES if "MakerNotes:MoonPhase" in GROUND[rel]]
MOON = ["New", "New Crescent", "First Quarter", "Waxing Gibbous", "Full", "Waning Gibbous"]
MOON += ["Last Quarter", "Old Crescent"]
TRIGGERS = {"M": "Motion Detection", "T": "Time Lapse"}  # ExifTool's names for the letters

EXIF_IFD, GPS_IFD = ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo
MAKE, MODEL, DATETIME = 0x010F, 0x0110, 0x0132
DTO, DTD, OFFSET, OFFSET_ORIGINAL, SUBSEC_ORIGINAL = 0x9003, 0x9004, 0x9010, 0x9011, 0x9291
BODY_SERIAL, MAKER_NOTE = 0xA431, 0x927C


def corpus(name: str) -> Path:
    """The one corpus file whose path ends with ``name``."""
    (match,) = [rel for rel in FILES if rel.endswith("/" + name)]
    return CORPUS / match


def ground(name: str) -> dict:
    """ExifTool's reading of the corpus file whose path ends with ``name``."""
    return GROUND[corpus(name).relative_to(CORPUS).as_posix()]


def short_id(rel: str) -> str:
    return "/".join(Path(rel).parts[-2:])


def _text(value) -> str | None:
    text = str(value).strip() if value is not None else None
    return text or None


def _list(value) -> list:
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def expected(rel: str) -> dict:
    """What read_exif should say, from ExifTool's reading plus our documented rules."""
    gt = GROUND[rel]
    time_tags = ("EXIF:DateTimeOriginal", "MakerNotes:DateTimeOriginal", "EXIF:CreateDate")
    raw = next((gt[tag] for tag in (*time_tags, "EXIF:ModifyDate") if gt.get(tag)), None)
    latitude = gt.get("Composite:GPSLatitude")
    offset = gt.get("EXIF:OffsetTimeOriginal") or gt.get("EXIF:OffsetTime")
    if offset is None and gt.get("EXIF:TimeZoneOffset") is not None:
        hours = gt["EXIF:TimeZoneOffset"]  # whole hours (Reconyx HF2: -6)
        offset = f"{'-' if hours < 0 else '+'}{abs(hours):02d}:00"
    want = {
        "make": _text(gt.get("EXIF:Make")),
        "model": _text(gt.get("EXIF:Model")),
        # The body serial: Exif, else the maker notes (Reconyx, Nikon, Olympus ...), else XMP.
        "serial": _text(gt.get("EXIF:SerialNumber"))
        or _text(gt.get("MakerNotes:SerialNumber"))
        or _text(gt.get("XMP:SerialNumber")),
        "taken_at_raw": raw,
        "utc_offset": offset if raw else None,
        "latitude": latitude,
        "longitude": gt.get("Composite:GPSLongitude"),
        # An altitude means nothing without a position, so it is only kept alongside one.
        "altitude": gt.get("Composite:GPSAltitude") if latitude is not None else None,
        "width": gt.get("File:ImageWidth"),
        "height": gt.get("File:ImageHeight"),
        "tags": tuple(_list(gt.get("XMP:HierarchicalSubject")) + _list(gt.get("XMP:Subject"))),
    }
    want.update(DELIBERATE.get(Path(rel).name, {}))
    return want


# --- The corpus ----------------------------------------------------------------------------------


def test_corpus_is_all_there():
    assert len(FILES) == 47
    assert set(MANIFEST) == set(GROUND)
    assert all((CORPUS / rel).is_file() for rel in FILES)


@pytest.mark.parametrize("rel", FILES, ids=short_id)
def test_corpus_file_agrees_with_exiftool(rel):
    data = read_exif(CORPUS / rel)
    assert isinstance(data, ExifData)
    want = expected(rel)
    for field in ("make", "model", "serial", "taken_at_raw", "utc_offset", "width", "height"):
        assert getattr(data, field) == want[field], field
    assert data.tags == want["tags"]
    for field, tolerance in (("latitude", 1e-6), ("longitude", 1e-6), ("altitude", 0.01)):
        if want[field] is None:
            assert getattr(data, field) is None, field
        else:
            assert getattr(data, field) == pytest.approx(want[field], abs=tolerance), field
    if Path(rel).name == CORRUPT:
        assert data.error is not None
    else:
        assert data.error is None
        assert data.width and data.height


@pytest.mark.parametrize("rel", FILES, ids=short_id)
def test_corpus_file_agrees_with_manifest(rel):
    row, data = MANIFEST[rel], read_exif(CORPUS / rel)
    deliberate = DELIBERATE.get(Path(rel).name, {})
    assert (data.make, data.model) == (row["make"] or None, row["model"] or None)
    assert (data.width, data.height) == (
        int(row["width"] or 0) or None,
        int(row["height"] or 0) or None,
    )
    # The manifest lists OffsetTime only; the HF2's TimeZoneOffset is checked against ExifTool.
    if GROUND[rel].get("EXIF:TimeZoneOffset") is None:
        assert data.utc_offset == (row["offset_time"] or None)
    if row["datetime_original"]:  # the manifest lists DateTimeOriginal only
        assert data.taken_at_raw == row["datetime_original"]
    for field, column in (
        ("latitude", "gps_lat"),
        ("longitude", "gps_lon"),
        ("altitude", "gps_alt"),
    ):
        if field in deliberate or not row["gps_lat"] or not row[column]:
            assert getattr(data, field) is None, field
        else:
            assert getattr(data, field) == pytest.approx(float(row[column]), abs=0.01), field


@pytest.mark.parametrize("rel", FILES, ids=short_id)
def test_corpus_taken_at_is_the_raw_text_parsed(rel):
    data = read_exif(CORPUS / rel)
    if data.taken_at_raw is None:
        assert (data.taken_at, data.time_source, data.time_problem) == (None, None, None)
    else:
        assert data.time_problem is None  # every time in the corpus is a real one
        assert data.taken_at == datetime.strptime(data.taken_at_raw, "%Y:%m:%d %H:%M:%S")
        assert data.time_source in {"exif", "makernotes"}


@pytest.mark.parametrize("rel", FILES, ids=short_id)
def test_corpus_path_and_file_object_read_the_same(rel):
    path = CORPUS / rel
    assert read_exif(io.BytesIO(path.read_bytes())) == read_exif(path) == read_exif(str(path))


def test_latitude_213_drops_the_position():
    data = read_exif(corpus("buggy_panorama.jpg"))
    assert ground("buggy_panorama.jpg")["EXIF:GPSLatitude"] > 213  # what ExifTool reports
    assert (data.latitude, data.longitude, data.altitude) == (None, None, None)
    assert data.gps_problem == "latitude 213.64 out of range"
    assert (data.make, data.taken_at_raw) == ("Xiaomi", "2022:04:24 10:35:53")  # rest is fine


def test_wrapped_altitude_is_dropped_but_the_position_kept():
    data = read_exif(corpus("altitude.jpg"))
    assert data.altitude is None
    assert data.gps_problem == "altitude 4294967284 m out of range"
    assert data.latitude == pytest.approx(45.7528495555556, abs=1e-9)
    assert data.longitude == pytest.approx(33.2219772222222, abs=1e-9)


def test_altitude_below_the_dead_sea_is_dropped():
    data = read_exif(corpus("Issue 173 (dotnet).jpg"))
    assert data.altitude is None
    assert data.gps_problem == "altitude -848 m out of range"
    assert data.longitude == pytest.approx(-85.4835194444444, abs=1e-9)  # W makes it negative


def test_empty_gps_block_gives_no_position():
    data = read_exif(corpus("45-gps_ifd.jpg"))
    assert (data.latitude, data.longitude, data.altitude) == (None, None, None)
    assert data.gps_problem == "empty GPS block"
    assert data.make == "Polyphony Digital Inc."


def test_altitude_without_a_position_is_not_kept():
    # The Bushnell writes GPSAltitude 0 and no coordinates; ExifTool shows the 0.
    data = read_exif(corpus("orinoquia-thumb-web.jpg"))
    assert (data.latitude, data.longitude, data.altitude, data.gps_problem) == (None,) * 4
    assert (data.make, data.model) == ("BUSHNELL", None)  # no Model written, none invented


def test_cuddeback_make_and_model_are_stored_as_written():
    data = read_exif(corpus("StationB/IMG0001.JPG"))
    assert (data.make, data.model) == ("G6.1", "CUDDEBACK")


def test_file_that_crashes_exifread_gives_an_error_and_nothing_else():
    data = read_exif(corpus(CORRUPT))
    assert data.error == "truncated JPEG: segment 0xFFCA runs past the end of the file"
    assert dataclasses.replace(data, error=None) == ExifData()


@pytest.mark.parametrize(
    ("name", "size"), [("image01551.jpg", (61, 58)), ("image02206.jpg", (65, 65))]
)
def test_invalid_samples_are_plain_jpegs_without_exif(name, size):
    data = read_exif(corpus(name))
    assert data == ExifData(width=size[0], height=size[1])  # an XMP packet, but no keywords


def test_corrupted_olympus_still_reads():
    data = read_exif(corpus("corrupted.jpg"))
    assert data.error is None
    assert (data.make, data.model) == ("OLYMPUS IMAGING CORP.", "u1020,S1020")
    assert data.taken_at == datetime(2015, 9, 8, 11, 2, 17)


def test_huawei_exif_behind_a_vendor_segment_is_found():
    data = read_exif(corpus("huawei-gps-error.jpg"))
    assert (data.make, data.model) == ("HUAWEI", "ELE-L29")
    assert data.taken_at_raw == "2020:06:16 18:52:46"
    assert data.latitude == pytest.approx(48.30278, abs=1e-5)
    assert data.longitude == pytest.approx(8.9275, abs=1e-6)
    assert data.subsec == 695


def test_pillow_reader_alone_reads_the_huawei_block():
    # The fallback reader must stand on its own: give it the Exif block directly.
    with corpus("huawei-gps-error.jpg").open("rb") as fh:
        fh.seek(2)
        block = exif._scan_jpeg(fh).exif
    fields = exif._pillow_fields(block)
    assert (fields["Make"], fields["Model"]) == ("HUAWEI", "ELE-L29")
    assert fields["DateTimeOriginal"] == "2020:06:16 18:52:46"
    assert (fields["GPSLatitudeRef"], fields["GPSLongitudeRef"]) == ("N", "E")


def test_iptc_reference_keywords_and_offset():
    data = read_exif(corpus("iptc-2019.jpg"))
    assert data.tags == ("Keyword1ref2019.1", "Keyword2ref2019.1", "Keyword3ref2019.1")
    assert data.utc_offset == "+00:00"


# --- Reconyx maker notes --------------------------------------------------------------------------


@pytest.mark.parametrize("rel", RECONYX_FILES, ids=short_id)
def test_reconyx_makernotes_agree_with_exiftool(rel):
    gt = GROUND[rel]
    notes = read_exif(CORPUS / rel).makernotes
    number, total = (int(part) for part in gt["MakerNotes:Sequence"].split())
    assert (notes.sequence_number, notes.sequence_total) == (number, total)
    assert notes.sequence == f"{number} of {total}"
    assert notes.trigger_mode == TRIGGERS[gt["MakerNotes:TriggerMode"]]
    assert notes.temperature_c == gt["MakerNotes:AmbientTemperature"]
    assert notes.temperature_f == gt["MakerNotes:AmbientTemperatureFahrenheit"]
    assert notes.moon_phase == MOON[gt["MakerNotes:MoonPhase"]]
    assert notes.serial == gt["MakerNotes:SerialNumber"]
    assert notes.event_number == gt["MakerNotes:EventNumber"]
    assert notes.taken_at_raw == gt["MakerNotes:DateTimeOriginal"]
    assert notes.user_label == gt["MakerNotes:UserLabel"]
    assert notes.firmware == str(gt["MakerNotes:FirmwareVersion"]).replace(" ", ".")


def test_reconyx_files_are_all_found():
    assert len(RECONYX_FILES) == 4
    layouts = sorted(read_exif(CORPUS / rel).makernotes.layout for rel in RECONYX_FILES)
    assert layouts == ["HyperFire", "HyperFire", "HyperFire", "HyperFire 2"]


@pytest.mark.parametrize(
    ("name", "when"),
    [
        ("Reconyx-HC500-20150128-201.JPG", datetime(2015, 1, 28, 11, 17, 34)),
        ("Reconyx_HC500_Hyperfire.jpg", datetime(2020, 3, 16, 10, 0, 0)),
    ],
)
def test_reconyx_time_only_in_makernotes_is_used(name, when):
    data = read_exif(corpus(name))
    assert (data.taken_at, data.time_source, data.time_problem) == (when, "makernotes", None)
    assert data.make is None  # these HC500s write no Make; we do not invent one
    assert data.serial == data.makernotes.serial
    assert data.serial.startswith("H500")


def test_reconyx_exif_time_wins_over_makernotes():
    data = read_exif(corpus("Reconyx HF2 Pro Covert.jpg"))
    assert (data.taken_at, data.time_source) == (datetime(2019, 4, 4, 10, 4, 12), "exif")
    assert data.makernotes.trigger_mode == "Motion Detection"


def hyperfire_note(when=(2015, 1, 28, 11, 17, 34), *, trigger=b"M", firmware=3) -> bytes:
    """A HyperFire maker note, laid out word by word as ExifTool documents it."""
    year, month, day, hour, minute, second = when
    return (
        struct.pack("<6H", 0xF101, firmware, 3, 0, 0x2011, 0x0110)
        + trigger.ljust(2, b"\x00")
        + struct.pack("<4H", 2, 3, 1, 2)  # sequence 2 of 3, event 0x10002
        + struct.pack("<6H", second, minute, hour, month, day, year)
        + struct.pack("<HHhh", 0, 4, 14, -10)  # moon Full, 14 F, -10 C
        + "H500XX01234567".encode("utf-16-le").ljust(30, b"\x00")
        + struct.pack("<7H", 142, 238, 64, 144, 0, 100, 8650)
        + b"Leopard ridge".ljust(22, b"\x00")
    )


def test_hyperfire_note_decodes():
    notes = reconyx.decode(hyperfire_note())
    assert notes == reconyx.ReconyxMakerNotes(
        layout="HyperFire",
        sequence_number=2,
        sequence_total=3,
        trigger_mode="Motion Detection",
        event_number=0x10002,
        taken_at=datetime(2015, 1, 28, 11, 17, 34),
        taken_at_raw="2015:01:28 11:17:34",
        moon_phase="Full",
        temperature_c=-10,
        temperature_f=14,
        serial="H500XX01234567",
        firmware="3.3.0",
        user_label="Leopard ridge",
    )


def test_hyperfire_clock_written_big_endian_is_swapped_back():
    note = bytearray(hyperfire_note())
    clock = struct.unpack_from("<6H", note, 22)
    struct.pack_into(">6H", note, 22, *clock)
    assert reconyx.decode(bytes(note)).taken_at == datetime(2015, 1, 28, 11, 17, 34)


def test_hyperfire_with_newer_firmware_needs_the_reconyx_make():
    note = hyperfire_note(firmware=4)
    assert reconyx.decode(note, make=None) is None
    assert reconyx.decode(note, make="RECONYX").firmware == "4.3.0"


@pytest.mark.parametrize(
    "note", [b"", b"RECONYXH2\x00short", hyperfire_note()[:30], b"Nikon\x00\x02\x10\x00\x00"]
)
def test_unknown_or_cut_makernotes_give_none(note):
    assert reconyx.decode(note, make="RECONYX") is None


def test_ultrafire_note_decodes():
    note = bytearray(0x6F)
    note[0:10] = b"RECONYXUF\x00"
    struct.pack_into("<BBHBBc", note, 0x18, 0x01, 0x23, 0x2015, 0x06, 0x30, b"B")
    note[0x34:0x37] = b"P\x02\x03"
    struct.pack_into("<I", note, 0x37, 70000)
    note[0x3B:0x42] = bytes([12, 34, 21, 9, 5, 2021 & 0xFF, 2021 >> 8])
    note[0x43] = 7
    struct.pack_into("<hh", note, 0x44, 23, -5)
    note[0x4B:0x5A] = b"UF1234567890ABC"
    note[0x5A:0x63] = b"Station 7"
    notes = reconyx.decode(bytes(note))
    assert notes.layout == "UltraFire"
    assert notes.firmware == "V01.23 2015:06:30 Rev.B"
    assert (notes.trigger_mode, notes.sequence) == ("Point and Shoot", "2 of 3")
    assert notes.event_number == 70000
    assert notes.taken_at == datetime(2021, 5, 9, 21, 34, 12)
    assert (notes.moon_phase, notes.temperature_f, notes.temperature_c) == ("Old Crescent", 23, -5)
    assert (notes.serial, notes.user_label) == ("UF1234567890ABC", "Station 7")


def test_makernote_time_in_a_generated_file(tmp_path):
    path = write(
        tmp_path, "rcnx.jpg", jpeg_bytes(exif_block(exif_ifd={MAKER_NOTE: hyperfire_note()}))
    )
    data = read_exif(path)
    assert (data.taken_at, data.time_source) == (datetime(2015, 1, 28, 11, 17, 34), "makernotes")
    assert data.serial == "H500XX01234567"


def test_makernote_clock_not_set_is_reported(tmp_path):
    note = hyperfire_note((0, 0, 0, 0, 0, 0))
    data = read_exif(
        write(tmp_path, "zero.jpg", jpeg_bytes(exif_block(exif_ifd={MAKER_NOTE: note})))
    )
    assert (data.taken_at, data.time_source) == (None, "makernotes")
    assert data.time_problem == "camera clock not set (0000:00:00 00:00:00)"


# --- Generated files ------------------------------------------------------------------------------


def exif_block(ifd0=None, exif_ifd=None, gps=None) -> Image.Exif:
    block = Image.Exif()
    block.update(ifd0 or {})
    if exif_ifd:
        block.get_ifd(EXIF_IFD).update(exif_ifd)
    if gps:
        block.get_ifd(GPS_IFD).update(gps)
    return block


def jpeg_bytes(block: Image.Exif | None = None, *, xmp: bytes | None = None) -> bytes:
    options = {} if block is None else {"exif": block}
    if xmp is not None:
        options["xmp"] = xmp
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (80, 110, 60)).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def read_generated(tmp_path, **exif_options) -> ExifData:
    return read_exif(write(tmp_path, "generated.jpg", jpeg_bytes(exif_block(**exif_options))))


def xmp_packet(hierarchical=(), subjects=()) -> bytes:
    def bag(items):
        return "<rdf:Bag>" + "".join(f"<rdf:li>{item}</rdf:li>" for item in items) + "</rdf:Bag>"

    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:lr="http://ns.adobe.com/lightroom/1.0/">'
        f"<lr:hierarchicalSubject>{bag(hierarchical)}</lr:hierarchicalSubject>"
        f"<dc:subject>{bag(subjects)}</dc:subject>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>\n" + " " * 2048 + '\n<?xpacket end="w"?>'
    ).encode()


def test_xmp_keywords_become_tags(tmp_path):
    packet = xmp_packet(
        hierarchical=["Species|Amur leopard", "individual|AL-12"],
        subjects=["Amur leopard", "AL-12", "Species|Amur leopard"],
    )
    data = read_exif(write(tmp_path, "tagged.jpg", jpeg_bytes(xmp=packet)))
    assert data.tags == ("Species|Amur leopard", "individual|AL-12", "Amur leopard", "AL-12")
    assert data.error is None


def test_xmp_with_a_dtd_is_not_parsed(tmp_path):
    packet = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "Species|Amur leopard">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
        b' xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>&a;</rdf:li>'
        b"</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    data = read_exif(write(tmp_path, "dtd.jpg", jpeg_bytes(xmp=packet)))
    assert (data.tags, data.error) == ((), None)


def test_broken_xmp_gives_no_tags_and_no_error(tmp_path):
    packet = xmp_packet(subjects=["AL-12"]).replace(b"</rdf:RDF>", b"")
    data = read_exif(write(tmp_path, "badxmp.jpg", jpeg_bytes(xmp=packet)))
    assert (data.tags, data.error, data.width) == ((), None, 64)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("0000:00:00 00:00:00", "camera clock not set (0000:00:00 00:00:00)"),
        ("    :  :     :  :  ", "camera clock not set (:  :     :  :)"),
        ("1970:01:01 00:00:00", "date before 1990 (1970:01:01 00:00:00)"),
        ("2099:01:01 00:00:00", "date in the future (2099:01:01 00:00:00)"),
        ("2019:02:30 10:00:00", "impossible date (2019:02:30 10:00:00)"),
        ("last tuesday", "unparsable date (last tuesday)"),
    ],
)
def test_unusable_times_are_kept_raw_and_explained(tmp_path, raw, problem):
    data = read_generated(tmp_path, exif_ifd={DTO: raw})
    assert data.taken_at is None
    assert data.taken_at_raw == raw.strip()
    assert data.time_problem == problem
    assert data.time_source == "exif"


def test_bad_original_time_does_not_fall_back_to_the_edit_time(tmp_path):
    data = read_generated(
        tmp_path, ifd0={DATETIME: "2021:05:05 08:00:00"}, exif_ifd={DTO: "0000:00:00 00:00:00"}
    )
    assert (data.taken_at, data.taken_at_raw) == (None, "0000:00:00 00:00:00")


@pytest.mark.parametrize(
    ("ifd0", "exif_ifd", "raw"),
    [
        ({DATETIME: "2021:05:05 08:00:00"}, {DTD: "2021:05:04 07:00:00"}, "2021:05:04 07:00:00"),
        ({DATETIME: "2021:05:05 08:00:00"}, {}, "2021:05:05 08:00:00"),
    ],
)
def test_time_falls_back_to_digitized_then_datetime(tmp_path, ifd0, exif_ifd, raw):
    data = read_generated(tmp_path, ifd0=ifd0, exif_ifd=exif_ifd)
    assert data.taken_at_raw == raw
    assert data.taken_at == datetime.strptime(raw, "%Y:%m:%d %H:%M:%S")


@pytest.mark.parametrize(
    ("offsets", "expected_offset"),
    [
        ({OFFSET_ORIGINAL: "+10:00"}, "+10:00"),
        ({OFFSET_ORIGINAL: "-03:30", OFFSET: "+01:00"}, "-03:30"),
        ({OFFSET: "+09:00"}, "+09:00"),
        ({OFFSET_ORIGINAL: "+25:00"}, None),
        ({OFFSET_ORIGINAL: "10:00"}, None),
    ],
)
def test_utc_offset(tmp_path, offsets, expected_offset):
    data = read_generated(tmp_path, exif_ifd={DTO: "2021:07:01 12:00:00", **offsets})
    assert data.utc_offset == expected_offset
    assert data.taken_at == datetime(2021, 7, 1, 12, 0, 0)  # camera-local, never shifted


@pytest.mark.parametrize(("written", "subsec"), [("52", 520), ("695326", 695), ("5a", "5a")])
def test_subsec(tmp_path, written, subsec):
    data = read_generated(tmp_path, exif_ifd={DTO: "2021:07:01 12:00:00", SUBSEC_ORIGINAL: written})
    assert data.subsec == subsec


def test_generated_file_with_everything(tmp_path):
    data = read_generated(
        tmp_path,
        ifd0={MAKE: "RECONYX ", MODEL: "HF2 PRO COVERT"},
        exif_ifd={DTO: "2021:07:01 12:00:00", BODY_SERIAL: "HLPXEL0901"},
        gps={1: "N", 2: (43.0, 6.0, 36.0), 3: "E", 4: (131.0, 54.0, 0.0), 5: 0, 6: 512.5},
    )
    assert (data.make, data.model, data.serial) == ("RECONYX", "HF2 PRO COVERT", "HLPXEL0901")
    assert (data.latitude, data.longitude) == (pytest.approx(43.11), pytest.approx(131.9))
    assert data.altitude == 512.5
    assert (data.width, data.height, data.gps_problem, data.error) == (64, 48, None, None)


def test_south_and_west_are_negative_and_ref_1_is_below_sea_level(tmp_path):
    gps = {1: "S", 2: (34.0, 1.0, 30.0), 3: "W", 4: (58.0, 22.0, 48.0), 5: b"\x01", 6: 12.5}
    data = read_generated(tmp_path, gps=gps)
    assert data.latitude == pytest.approx(-34.025, abs=1e-9)
    assert data.longitude == pytest.approx(-58.38, abs=1e-9)
    assert data.altitude == -12.5


@pytest.mark.parametrize(
    ("gps", "problem"),
    [
        ({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}, "GPS 0,0"),
        ({2: (43.0, 6.0, 36.0), 3: "E", 4: (131.0, 54.0, 0.0)}, "latitude reference (N/S) missing"),
        (
            {1: "N", 2: (43.0, 6.0, 36.0), 3: "X", 4: (131.0, 0.0, 0.0)},
            "longitude reference 'X' invalid",
        ),
        ({1: "N", 2: (43.0, 6.0, 36.0)}, "latitude without longitude"),
        ({1: "N", 2: (91.0, 0.0, 0.0), 3: "E", 4: (131.0, 0.0, 0.0)}, "latitude 91 out of range"),
        (
            {1: "N", 2: (43.0, 0.0, 0.0), 3: "W", 4: (181.5, 0.0, 0.0)},
            "longitude -181.5 out of range",
        ),
    ],
)
def test_impossible_positions_are_dropped(tmp_path, gps, problem):
    data = read_generated(tmp_path, ifd0={MAKE: "TestCam"}, gps={**gps, 6: 100.0})
    assert (data.latitude, data.longitude, data.altitude) == (None, None, None)
    assert data.gps_problem == problem


def test_jpeg_without_exif_is_not_an_error(tmp_path):
    data = read_exif(write(tmp_path, "plain.jpg", jpeg_bytes()))
    assert data == ExifData(width=64, height=48)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"camera battery low, replace next visit\n" * 20, "not a JPEG image (text file)"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "not a JPEG image (HEIC)"),
        (bytes(range(256)) * 4, "not a JPEG image (unknown format starting 00 01 02 03)"),
    ],
)
def test_files_that_are_not_jpegs(tmp_path, content, reason):
    data = read_exif(write(tmp_path, "bad.jpg", content))
    assert data == ExifData(error=reason)


@pytest.mark.parametrize(("kind", "label"), [("PNG", "PNG"), ("BMP", "BMP"), ("GIF", "GIF")])
def test_other_images_renamed_jpg_are_named(tmp_path, kind, label):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, kind)
    data = read_exif(write(tmp_path, "photo.jpg", buffer.getvalue()))
    assert data.error == f"not a JPEG image ({label})"
    assert data.width is None


def test_truncated_jpeg_is_an_error(tmp_path):
    whole = jpeg_bytes(exif_block(exif_ifd={DTO: "2021:07:01 12:00:00"}))
    data = read_exif(write(tmp_path, "cut.jpg", whole[:200]))
    assert data.error == "truncated JPEG: the file ends inside the header, before any image"
    assert (data.width, data.taken_at) == (None, None)


def _cut_after_frame_header(data: bytes) -> bytes:
    sof = data.index(b"\xff\xc0")
    return data[: sof + 2 + struct.unpack_from(">H", data, sof + 2)[0]]


def test_jpeg_cut_right_after_its_frame_header_is_truncated(tmp_path):
    # Pillow alone would open this one (it never reached image data, but did not run out mid-way).
    data = read_exif(write(tmp_path, "cut.jpg", _cut_after_frame_header(jpeg_bytes())))
    assert data.error == "truncated JPEG: the file ends inside the header, before any image"
    assert data.width is None


def test_jpeg_ending_before_its_image_data_is_corrupt(tmp_path):
    content = _cut_after_frame_header(jpeg_bytes()) + b"\xff\xd9"
    data = read_exif(write(tmp_path, "eoi.jpg", content))
    assert data.error == "corrupt JPEG: end-of-image marker before any image data"


def test_exif_after_vendor_segments_and_past_256_kib_is_found(tmp_path):
    plain = jpeg_bytes()
    block = exif_block(ifd0={MAKE: "HUAWEI"}, exif_ifd={DTO: "2020:06:16 18:52:46"}).tobytes()
    vendor = segment(0xE8, b"HUAWEI\x00" + bytes(100))
    icc = b"".join(segment(0xE2, b"ICC_PROFILE\x00" + bytes(65000)) for _ in range(5))
    data = read_exif(
        write(tmp_path, "big.jpg", plain[:2] + vendor + icc + segment(0xE1, block) + plain[2:])
    )
    assert (data.make, data.taken_at_raw, data.width) == ("HUAWEI", "2020:06:16 18:52:46", 64)


def test_exif_block_that_crashes_exifread_is_read_by_pillow(tmp_path):
    block = bytearray(
        exif_block(
            ifd0={MAKE: "TestCam", DATETIME: "2021:07:01 12:00:00"},
            exif_ifd={DTO: "2021:07:01 11:00:00"},
            gps={1: "N", 2: (43.0, 6.0, 36.0), 3: "E", 4: (131.0, 54.0, 0.0)},
        ).tobytes()
    )
    tiff = 6  # after "Exif\0\0"; Pillow writes big-endian
    ifd0 = tiff + struct.unpack_from(">I", block, tiff + 4)[0]
    entries = struct.unpack_from(">H", block, ifd0)[0]
    for index in range(entries):
        position = ifd0 + 2 + 12 * index
        if struct.unpack_from(">H", block, position)[0] == EXIF_IFD:
            struct.pack_into(">I", block, position + 4, 5000)  # a count no Exif pointer has
    with pytest.raises(IndexError):  # the failure this test is about
        exifread.process_file(io.BytesIO(bytes(block[tiff:])), details=False)
    data = read_exif(
        write(
            tmp_path, "crash.jpg", jpeg_bytes()[:2] + segment(0xE1, bytes(block)) + jpeg_bytes()[2:]
        )
    )
    assert data.error is None
    assert data.make == "TestCam"
    assert data.taken_at_raw == "2021:07:01 12:00:00"  # the Exif IFD is lost; IFD0 DateTime is left
    assert (data.latitude, data.longitude) == (pytest.approx(43.11), pytest.approx(131.9))


def test_exif_block_nobody_can_read_is_an_error_but_keeps_the_size(tmp_path):
    bad = segment(0xE1, b"Exif\x00\x00XX this is not a TIFF structure")
    data = read_exif(write(tmp_path, "garbled.jpg", jpeg_bytes()[:2] + bad + jpeg_bytes()[2:]))
    assert data.error.startswith("unreadable EXIF: ")
    assert "\n" not in data.error
    assert (data.width, data.height) == (64, 48)


def test_file_object_is_read_from_the_start_and_left_where_it_was():
    stream = io.BytesIO(jpeg_bytes(exif_block(ifd0={MAKE: "TestCam"})))
    stream.seek(17)
    assert read_exif(stream).make == "TestCam"
    assert stream.tell() == 17


def test_missing_path_is_an_error(tmp_path):
    data = read_exif(tmp_path / "nowhere.jpg")
    assert data == ExifData(error="cannot read file: No such file or directory")


def test_exif_data_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ExifData().make = "x"  # type: ignore[misc]


def test_json_dict_has_exactly_the_cli_contract(tmp_path):
    path = write(
        tmp_path,
        "contract.jpg",
        jpeg_bytes(
            exif_block(
                ifd0={MAKE: "RECONYX", MODEL: "HF2 PRO COVERT"},
                exif_ifd={DTO: "2021:07:01 12:00:05", OFFSET_ORIGINAL: "+10:00"},
                gps={1: "N", 2: (43.0, 6.0, 36.0), 3: "E", 4: (131.0, 54.0, 0.0), 6: 512.5},
            ),
            xmp=xmp_packet(hierarchical=["individual|AL-12"]),
        ),
    )
    record = to_json_dict(path, "ab" * 32, read_exif(path))
    assert record == {
        "path": str(path),
        "sha256": "ab" * 32,
        "taken_at": "2021-07-01T12:00:05",
        "utc_offset": "+10:00",
        "latitude": pytest.approx(43.11),
        "longitude": pytest.approx(131.9),
        "altitude": 512.5,
        "make": "RECONYX",
        "model": "HF2 PRO COVERT",
        "serial": None,
        "width": 64,
        "height": 48,
        "tags": ["individual|AL-12"],
        "error": None,
    }
    assert json.loads(json.dumps(record)) == record


def test_json_dict_of_a_bad_file(tmp_path):
    path = write(tmp_path, "empty.jpg", b"")
    record = to_json_dict(str(path), None, read_exif(path))
    assert record["error"] == "empty file"
    assert record["taken_at"] is None and record["tags"] == []


# --- Times in IFD0, TimeZoneOffset, serials outside Exif (issue 12) -------------------------------


def test_capture_time_in_ifd0_wins_over_the_last_save(tmp_path):
    # The held-out file's shape: DateTimeOriginal and -Digitized in IFD0, DateTime = a 2020 save.
    data = read_generated(
        tmp_path,
        ifd0={
            DATETIME: "2020:06:01 09:00:00",
            DTO: "2011:08:14 05:12:40",
            DTD: "2011:08:14 05:12:41",
        },
    )
    assert (data.taken_at_raw, data.time_source) == ("2011:08:14 05:12:40", "exif")
    assert data.taken_at == datetime(2011, 8, 14, 5, 12, 40)


def test_digitized_time_in_ifd0_is_used_before_datetime(tmp_path):
    data = read_generated(
        tmp_path, ifd0={DATETIME: "2020:06:01 09:00:00", DTD: "2011:08:14 05:12:41"}
    )
    assert data.taken_at == datetime(2011, 8, 14, 5, 12, 41)


def test_the_sub_ifd_time_wins_over_an_ifd0_copy(tmp_path):
    data = read_generated(
        tmp_path, ifd0={DTO: "2011:08:14 05:12:40"}, exif_ifd={DTO: "2011:08:14 06:00:00"}
    )
    assert data.taken_at_raw == "2011:08:14 06:00:00"


def test_reconyx_hf2_time_zone_offset_is_used():
    data = read_exif(corpus("Reconyx HF2 Pro Covert.jpg"))
    assert ground("Reconyx HF2 Pro Covert.jpg")["EXIF:TimeZoneOffset"] == -6
    assert (data.taken_at_raw, data.utc_offset) == ("2019:04:04 10:04:12", "-06:00")


@pytest.mark.parametrize(
    ("exif_ifd", "expected_offset"),
    [
        ({0x882A: 9}, "+09:00"),
        ({0x882A: 9, OFFSET_ORIGINAL: "+10:00"}, "+10:00"),  # the precise tag wins
        ({0x882A: 40}, None),  # no such offset
    ],
)
def test_time_zone_offset_tag(tmp_path, exif_ifd, expected_offset):
    data = read_generated(tmp_path, exif_ifd={DTO: "2021:07:01 12:00:00", **exif_ifd})
    assert data.utc_offset == expected_offset


@pytest.mark.parametrize(
    ("name", "serial"),
    [("32-lens_data.jpeg", "3105364"), ("corrupted.jpg", "F70501740")],  # Nikon, Olympus
)
def test_serial_from_common_maker_notes_agrees_with_exiftool(name, serial):
    assert _text(ground(name)["MakerNotes:SerialNumber"]) == serial
    assert read_exif(corpus(name)).serial == serial


def test_internal_serial_of_a_circuit_board_is_not_the_body_serial():
    assert "MakerNotes:InternalSerialNumber" in ground("Panasonic.jpg")
    assert read_exif(corpus("Panasonic.jpg")).serial is None


def xmp_serial_packet(prefix: str, namespace: str, prop: str, value: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:{prefix}="{namespace}">'
        f"<{prefix}:{prop}>{value}</{prefix}:{prop}>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


@pytest.mark.parametrize(
    ("prefix", "namespace", "prop"),
    [
        ("aux", "http://ns.adobe.com/exif/1.0/aux/", "SerialNumber"),
        ("exifEX", "http://cipa.jp/exif/1.0/", "BodySerialNumber"),
    ],
)
def test_serial_from_xmp_when_exif_has_none(tmp_path, prefix, namespace, prop):
    packet = xmp_serial_packet(prefix, namespace, prop, "033024001432")
    block = exif_block(ifd0={MAKE: "Canon"}, exif_ifd={DTO: "2013:11:26 15:53:55"})
    data = read_exif(write(tmp_path, "xmp-serial.jpg", jpeg_bytes(block, xmp=packet)))
    assert (data.serial, data.tags, data.error) == ("033024001432", (), None)


def test_xmp_serial_of_a_real_file_matches_its_exif_serial():
    gt = ground("elephants.jpg")
    assert gt["XMP:SerialNumber"] == gt["EXIF:SerialNumber"]
    assert read_exif(corpus("elephants.jpg")).serial == str(gt["XMP:SerialNumber"])
