"""Ingest and preview speed, each against a baseline measured in the same run.

1. Import: `tracker import` of N generated 5 MP camera-trap JPEGs (hash, metadata, committed rows,
   into a fresh SQLite database) against exiftool's own batch read of the same files
   (`exiftool -fast2 -n -json -DateTimeOriginal -GPSLatitude -GPSLongitude DIR`).
   Target: import at least as fast as exiftool's read alone (speed ratio >= 1.0).
2. A card browsable at the end: `tracker import --previews` (each new photo's preview and
   thumbnail made as it lands, as an uploaded card's import job does), into another fresh
   database, against a floor: the same files read, hashed (SHA-256), draft-decoded and their
   preview and thumbnail encoded, over a process pool on every core, with no database and
   nothing written. Target: at least 0.85 x the floor's photos per second.
3. Previews afterwards: `tracker previews` (preview + thumbnail for every image of the first
   import, over all cores) against Pillow's draft decode of the same files at the preview's
   scale, over the same cores. Target (an earlier round's): within 1.25 x the decode's time.

Every side of every ratio runs in each run, one after the other, so a busy machine slows both.
Usage: .venv/bin/python bench/ingest.py [--images 1000] [--repeat 3] [--workdir DIR] [--no-wait]

The tracker's instance (database and media folder) goes under bench/out/runs, beside the images,
not under /tmp: on this project's machine the root file system has no journal, and creating a
file in a folder whose inode group has many recently deleted inodes (as /tmp has, with every test
run's temporary folders) costs about 0.8 ms instead of 0.02 ms in ext4's inode allocator. A
tracker's media folder is not a scratch folder. `--workdir /tmp` measures it there.

For the same reason the bench waits before it measures if it deleted its own folders less than
six minutes ago (the end of a previous run: about 15,000 files): ext4 without a journal skips
inodes deleted in the last minute, or six while their table block is not written back (and a new
inode in the same block makes it dirty again; fs/ext4/ialloc.c, RECENTCY_*), and each file
an import creates then pays for every such inode in its block group (perf: 6-18 % of the import's
CPU in ext4's `recently_deleted`), which the floor, writing nothing, never does. A server's
journaled ext4 never makes that check. `--no-wait` measures at once; each run prints what
creating a file in the import's own media folder cost.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, ImageOps

from tracker.previews import QUALITY, draft_box
from tracker.storage import PREVIEW_SIZES
from tracker.synthetic import jpeg_bytes

ROOT = Path(__file__).resolve().parent.parent

TRACKER = str(Path(sys.executable).with_name("tracker"))


def generate(folder: Path, count: int) -> list[Path]:
    """N realistic 5 MP trail-camera JPEGs: EXIF time on all, GPS on half."""
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2024, 2, 1, 18, 0, 0)
    paths = []
    for i in range(count):
        path = folder / f"IMG_{i:05}.JPG"
        if not path.exists():
            gps = (43.1 + i * 1e-4, 131.5 - i * 1e-4) if i % 2 == 0 else None
            data = jpeg_bytes(
                start + timedelta(seconds=37 * i),
                size=(2592, 1944),
                seed=i,
                serial="H500XY12345",
                gps=gps,
                altitude=412.0 if gps else None,
            )
            path.write_bytes(data)
        paths.append(path)
    return paths


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def exiftool_read(folder: Path) -> None:
    done = run(
        [
            "exiftool",
            "-fast2",
            "-n",
            "-json",
            "-DateTimeOriginal",
            "-GPSLatitude",
            "-GPSLongitude",
            str(folder),
        ]
    )
    assert len(json.loads(done.stdout)) > 0


def fresh_tracker(workdir: Path) -> dict:
    shutil.rmtree(workdir, ignore_errors=True)
    env = os.environ | {"TRACKER_INSTANCE_PATH": str(workdir)}
    env.pop("DATABASE_URL", None)
    env.pop("TRACKER_MEDIA_DIR", None)
    run([TRACKER, "db", "upgrade"], env)
    run([TRACKER, "station", "add", "BENCH-1", "--lat", "43.1", "--lon", "131.5"], env)
    run([TRACKER, "deployment", "add", "--station", "BENCH-1", "--start", "2024-01-01"], env)
    return env


def _draft_decode(path: str) -> tuple[int, int]:
    with Image.open(path) as picture:
        picture.draft("RGB", draft_box(picture.size, PREVIEW_SIZES["preview"]))
        picture.load()
        return picture.size


def draft_decode_all(paths: list[Path]) -> None:
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(_draft_decode, map(str, paths), chunksize=8))


def _encoded(picture: Image.Image) -> int:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY)  # the quality the tracker's previews are made at
    return out.tell()


def _floor_one(path: str) -> int:
    """Read, hash, draft-decode, and encode the preview and the thumbnail (kept in memory)."""
    data = Path(path).read_bytes()
    hashlib.sha256(data).digest()
    with Image.open(io.BytesIO(data)) as picture:
        picture.draft("RGB", draft_box(picture.size, PREVIEW_SIZES["preview"]))
        preview = picture if picture.mode == "RGB" else picture.convert("RGB")
        ImageOps.exif_transpose(preview, in_place=True)
        factor = max(1, max(preview.size) // PREVIEW_SIZES["thumb"])
        thumb = preview.reduce(factor) if factor > 1 else preview
        return _encoded(preview) + _encoded(thumb)


def floor_all(paths: list[Path]) -> None:
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(_floor_one, map(str, paths), chunksize=8))


def create_cost_ms(folder: Path, count: int = 300) -> float:
    """What creating an empty file costs in `folder`: the import and previews create 3 a photo."""
    folder.mkdir(parents=True)
    start = time.perf_counter()
    for i in range(count):
        os.close(os.open(folder / f"probe-{i}", os.O_WRONLY | os.O_CREAT, 0o644))
    return (time.perf_counter() - start) / count * 1000


# How long ext4 without a journal keeps skipping a deleted inode whose table block is dirty
# (RECENTCY_MIN + RECENTCY_DIRTY).
RECENTLY_DELETED_S = 360
# Touched when the bench has deleted its folders.
DELETED_MARK = ".deleted"


def wait_for_deletions(workdir: Path) -> None:
    """Wait until the bench's own last deletion in `workdir` is RECENTLY_DELETED_S old."""
    try:
        age = time.time() - (workdir / DELETED_MARK).stat().st_mtime
    except FileNotFoundError:
        return
    if age < RECENTLY_DELETED_S:
        left = RECENTLY_DELETED_S - age
        print(
            f"the last run deleted its folders {age:.0f} s ago: waiting {left:.0f} s, until ext4 "
            "stops skipping their inodes (this module's docstring; --no-wait to measure at once)"
        )
        time.sleep(left)


def media_create_cost_ms(env: dict) -> float:
    """What creating a file costs in the tracker's own media folder, where its files go (the
    probe's files stay: deleting them would make the next creations dearer)."""
    incoming = Path(env["TRACKER_INSTANCE_PATH"]) / "media" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    return create_cost_ms(incoming / "bench-probe")


def measure(paths: list[Path], folder: Path, workdir: Path) -> dict:
    env = fresh_tracker(workdir / "plain")
    exif_s = timed(lambda: exiftool_read(folder))
    import_s = timed(lambda: run([TRACKER, "import", str(folder), "--deployment", "1"], env))
    browsable_env = fresh_tracker(workdir / "browsable")
    create_ms = media_create_cost_ms(browsable_env)
    command = [TRACKER, "import", str(folder), "--deployment", "1", "--previews"]
    browsable_s = timed(lambda: run(command, browsable_env))
    floor_s = timed(lambda: floor_all(paths))
    decode_s = timed(lambda: draft_decode_all(paths))
    previews_s = timed(lambda: run([TRACKER, "previews"], env))
    # The same command again, with nothing left to make: what any `tracker` command costs to
    # start (interpreter, Flask, SQLAlchemy, the app, one query) and to stop.
    start_s = timed(lambda: run([TRACKER, "previews"], env))
    return {
        "exiftool_s": exif_s,
        "import_s": import_s,
        "browsable_s": browsable_s,
        "floor_s": floor_s,
        "decode_s": decode_s,
        "previews_s": previews_s,
        "start_s": start_s,
        "create_ms": create_ms,
    }


def measure_runs(paths: list[Path], folder: Path, workdir: Path, repeat: int) -> list[dict]:
    """Each run's figures, printed as they come; the runs' folders are deleted at the end."""
    runs = []
    n = len(paths)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        print(f"creating a file in {workdir}: {create_cost_ms(Path(tmp) / 'probe'):.2f} ms")
        for i in range(repeat):
            result = measure(paths, folder, Path(tmp) / f"run{i}")
            runs.append(result)
            print(
                f"run {i + 1}: exiftool {n / result['exiftool_s']:.0f} img/s, "
                f"import {n / result['import_s']:.0f} img/s "
                f"(ratio {result['exiftool_s'] / result['import_s']:.2f}); "
                f"import --previews {n / result['browsable_s']:.0f} img/s, floor "
                f"{n / result['floor_s']:.0f} img/s "
                f"(ratio {result['floor_s'] / result['browsable_s']:.3f}); "
                f"draft decode {result['decode_s']:.2f}s, previews {result['previews_s']:.2f}s "
                f"(ratio {result['previews_s'] / result['decode_s']:.2f}); "
                f"a command's start {result['start_s']:.2f}s; "
                f"creating a file in its media folder {result['create_ms']:.3f} ms"
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "images")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "runs")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="measure at once, even within six minutes of the last run's deletions",
    )
    options = parser.parse_args()
    if shutil.which("exiftool") is None:
        raise SystemExit("exiftool is missing: apt-get install libimage-exiftool-perl")

    # Bytecode compiled, as pip compiles an installed package and as Python caches it after a
    # first run; where PYTHONDONTWRITEBYTECODE is set (as on this project's machine), an editable
    # install would otherwise compile every module of the package on every command (0.3 s).
    compileall.compile_dir(ROOT / "tracker", quiet=1)
    folder = options.cache / str(options.images)
    paths = generate(folder, options.images)
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    print(f"{len(paths)} images, 2592x1944, {size_mb:.0f} MB; {os.cpu_count()} cores")
    options.workdir.mkdir(parents=True, exist_ok=True)
    if not options.no_wait:
        wait_for_deletions(options.workdir)
    try:
        runs = measure_runs(paths, folder, options.workdir, options.repeat)
    finally:
        # Its folders are gone: the next run waits for them (wait_for_deletions).
        (options.workdir / DELETED_MARK).touch()
    # Each ratio is taken within one run (both sides measured back to back), then the median
    # over the runs: the disk and the other tenants of this machine vary from run to run.
    n = len(paths)
    import_ratio = statistics.median(r["exiftool_s"] / r["import_s"] for r in runs)
    preview_ratio = statistics.median(r["previews_s"] / r["decode_s"] for r in runs)
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(
        f"\nmedian of {len(runs)} runs: exiftool -fast2 {n / median['exiftool_s']:.0f} img/s; "
        f"tracker import {n / median['import_s']:.0f} img/s; import/exiftool speed ratio "
        f"{import_ratio:.3f} (target >= 1.0)"
    )
    browsable_ratio = statistics.median(r["floor_s"] / r["browsable_s"] for r in runs)
    print(
        f"floor (read, hash, draft decode, encode preview and thumbnail; {os.cpu_count()} "
        f"processes) {n / median['floor_s']:.0f} img/s; tracker import --previews "
        f"{n / median['browsable_s']:.0f} img/s; speed ratio {browsable_ratio:.3f} "
        f"(target >= 0.85)"
    )
    print(
        f"draft decode {n / median['decode_s']:.0f} img/s; previews "
        f"{n / median['previews_s']:.0f} img/s; previews/decode time ratio {preview_ratio:.2f} "
        f"(target <= 1.25)"
    )
    # Not a target, a reading: the floor runs in a process already started; `tracker previews`
    # pays a command's start (interpreter, Flask, SQLAlchemy, the models) before any worker runs.
    # (`tracker import --previews` starts its workers first and loads the app meanwhile.)
    work_ratio = statistics.median((r["previews_s"] - r["start_s"]) / r["decode_s"] for r in runs)
    print(
        f"a tracker command's start and stop {median['start_s']:.2f}s; previews without it "
        f"{work_ratio:.2f} x the decode time"
    )


if __name__ == "__main__":
    main()
