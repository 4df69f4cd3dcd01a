"""A card over a ranger station's bad link: tus through a throttled link that drops twice.

The tracker runs as deployed on one machine (gunicorn, the embedded SQLite default); between it
and a real tus client (tuspy, 8 MB chunks, retrying as Uppy does) sits tests/linkproxy.py: the
link, throttled to --rate-mb MB/s, cut --cuts times part-way through a chunk, and down
--down seconds each time. The proxy counts every PATCH body byte (the card's data) that crossed
the link, so what was sent twice is that count less the card's size. Targets: the card arrives
complete (same SHA-256), and no more than one chunk is sent twice per interruption.

The card is --size-mb MB of random bytes (as incompressible as JPEGs; no import follows, so its
content does not matter), named card.zip. MB here is 10^6 bytes.

Usage: .venv/bin/python bench/upload.py [--size-mb 2000] [--rate-mb 2] [--chunk-mb 8]
(exit status 0 when both targets hold). The default run takes about 17 minutes, nearly all of
it waiting on the link.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from tusclient import client as tus_client

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import stack  # noqa: E402  (the tracker's processes, as the tests start them)
from linkproxy import LinkProxy  # noqa: E402

MB = 10**6
BLOCK = 8 * 1024 * 1024


def make_card(path: Path, size: int) -> str:
    """`size` random bytes; their SHA-256."""
    digest, rng, left = hashlib.sha256(), random.Random(14), size
    with path.open("wb") as out:
        while left:
            block = rng.randbytes(min(BLOCK, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def cut_points(size: int, cuts: int, chunk: int) -> list[int]:
    """Where the link drops: evenly over the card, each part-way through a chunk."""
    return [(size * (i + 1) // (cuts + 1)) // chunk * chunk + chunk * 2 // 3 for i in range(cuts)]


def report(link: LinkProxy, size: int, started: float, stop: threading.Event) -> None:
    while not stop.wait(60):
        done = link.body_bytes / size
        print(f"  {time.monotonic() - started:5.0f} s: {done:6.1%} sent, {link.cuts} cuts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2000)
    parser.add_argument("--rate-mb", type=float, default=2.0, help="the link's speed, MB/s")
    parser.add_argument("--chunk-mb", type=int, default=8, help="tus chunk (the page's: 8)")
    parser.add_argument("--cuts", type=int, default=2)
    parser.add_argument("--down", type=float, default=5.0, help="seconds the link stays down")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()
    size, chunk = args.size_mb * MB, args.chunk_mb * 1024 * 1024
    args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="upload-", dir=args.workdir))
    env = {
        "PATH": os.environ["PATH"],
        "TRACKER_INSTANCE_PATH": str(work / "instance"),
        "TRACKER_SECRET_KEY": "bench-upload-secret-key-of-enough-length",
    }
    web = None
    try:
        card = work / "card.zip"
        expected = make_card(card, size)
        token = stack.ranger_with_station(env)
        web, base = stack.gunicorn(env, work / "web.log")
        cuts = cut_points(size, args.cuts, chunk)
        with LinkProxy(int(base.rsplit(":", 1)[1]), args.rate_mb * MB, cuts, args.down) as link:
            client = tus_client.TusClient(
                f"{link.url}/uploads/", headers={"Authorization": f"Bearer {token}"}
            )
            uploader = client.uploader(
                file_path=str(card), chunk_size=chunk, retries=30, retry_delay=2,
                metadata={"filename": card.name, "station": "kp-01"},
            )  # fmt: skip
            started, stop = time.monotonic(), threading.Event()
            threading.Thread(target=report, args=(link, size, started, stop), daemon=True).start()
            uploader.upload()
            elapsed = time.monotonic() - started
            stop.set()
            sent, made = link.body_bytes, link.cuts
        state = stack.status(f"{base}{uploader.url[len(link.url) :]}/status", token)
        received = work / "instance" / "uploads" / "cards" / uploader.url.rsplit("/", 1)[1]
        whole = received.exists() and sha256_of(received) == expected
        twice = sent - size
        floor = size / (args.rate_mb * MB) + made * args.down
        where = ", ".join(f"{c / MB:.1f}" for c in cuts)
        print(
            f"card of {size / MB:.0f} MB in {args.chunk_mb} MiB chunks over {args.rate_mb} "
            f"MB/s, link cut {made} times (down {args.down:.0f} s each) at {where} MB"
        )
        print(
            f"arrived in {elapsed:.0f} s (the link's own time for it, with its downtime: "
            f"{floor:.0f} s; {size / elapsed / MB:.2f} MB/s against {args.rate_mb} MB/s)"
        )
        print(f"arrived whole (same SHA-256): {'yes' if whole else 'NO'}; status {state}")
        print(
            f"sent twice: {twice / MB:.2f} MB = {twice / chunk:.2f} chunks over {made} cuts "
            f"(target: at most {made} chunks)"
        )
        return 0 if whole and made == args.cuts and twice <= made * chunk else 1
    finally:
        if web is not None:
            stack.stop([web])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
