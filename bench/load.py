"""Load test: gunicorn serving a season-size database, 20 concurrent clients per page (wrk).

    .venv/bin/python bench/load.py --url postgresql+psycopg://postgres@127.0.0.1/tracker_bench \
        --workers 4 --seconds 20

Starts `gunicorn --workers N 'tracker:create_app()'` on the database, adds a researcher account
and signs it in through the login form, warms every worker's cache (each worker keeps its own
figures), then runs `wrk -t2 -c20 -d{seconds}s --latency` on the dashboard, /images, /map and
/individuals with the session cookie, and prints requests/s, p50/p99 latency and errors.
Target: at least 50 requests/s each, p99 under 1 s, no errors. wrk is Debian's package.
"""

# ruff: noqa: S310 -- the URLs opened are http://127.0.0.1 ones built here
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

TRACKER = Path(sys.executable).parent / "tracker"
GUNICORN = Path(sys.executable).parent / "gunicorn"
PAGES = ("/", "/images/", "/map", "/individuals/")
PORT = 8765


def add_user(env: dict) -> tuple[str, str]:
    email, password = f"load-{secrets.token_hex(4)}@bench.test", secrets.token_urlsafe(16)
    args = [str(TRACKER), "user", "add", email, "--role", "researcher", "--password-stdin"]
    subprocess.run(args, env=env, input=password + "\n", text=True, check=True, capture_output=True)
    return email, password


def sign_in(base: str, email: str, password: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    data = urlencode({"email": email, "password": password, "csrf_token": token}).encode()
    opener.open(f"{base}/login", data=data)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def wait_for(base: str) -> None:
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/login", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    sys.exit("gunicorn did not start")


def warm(base: str, cookie: str, workers: int) -> None:
    """Every worker computes its cached figures once, as after a restart or a change.

    Requests one after the other can all land on the same idle worker and leave the others
    cold (a cold one then shows up as a wrk timeout); requests at once, more than the workers,
    reach every worker, a busy one being unable to take another.
    """

    def get(page: str) -> None:
        request = urllib.request.Request(base + page, headers={"Cookie": cookie})
        urllib.request.urlopen(request, timeout=300).read()

    with ThreadPoolExecutor(max_workers=2 * workers) as pool:
        for page in PAGES:
            list(pool.map(get, [page] * 8 * workers))


def wrk(base: str, page: str, cookie: str, seconds: int) -> dict:
    args = ["wrk", "-t2", "-c20", f"-d{seconds}s", "--latency", "-H", f"Cookie: {cookie}"]
    out = subprocess.run([*args, base + page], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: (.*)", out)
    return {
        "page": page,
        "requests_per_s": rate,
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket.group(1) if socket else "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    env = os.environ | {"DATABASE_URL": args.url, "TRACKER_SECRET_KEY": secrets.token_hex(16)}
    env["TRACKER_SECURE_COOKIES"] = "0"  # plain HTTP on loopback: a secure cookie is never sent
    email, password = add_user(env)
    base = f"http://127.0.0.1:{PORT}"
    server = subprocess.Popen(
        [str(GUNICORN), "--workers", str(args.workers), "--bind", f"127.0.0.1:{PORT}",
         "--timeout", "300", "tracker:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(base)
        cookie = sign_in(base, email, password)
        warm(base, cookie, args.workers)
        results = [wrk(base, page, cookie, args.seconds) for page in PAGES]
    finally:
        server.terminate()
        server.wait()
    for r in results:
        print(
            f"{r['page']:14} {r['requests_per_s']:7.1f} req/s  p50 {r['p50']}  p99 {r['p99']}  "
            f"non-2xx {r['non_2xx']}  socket errors {r['socket_errors']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
