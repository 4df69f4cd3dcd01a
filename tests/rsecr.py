"""R's secr, run on exported capture histories: read.capthist with the README.txt's own call,
then verify (and secr.fit where asked).

secr is built from source into a library folder (../shared/r/build.sh LIBDIR; see README, "Checking
the capture histories with R"). ``TRACKER_SECR_LIB`` names that folder (default
~/.cache/tracker-r/lib). When ``TRACKER_REQUIRE_SECR=1`` (CI sets it) a missing secr fails the
tests loudly; otherwise they are skipped with the command that installs it, and the same rules
are checked in Python by the capture-history tests.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LIB = Path(os.environ.get("TRACKER_SECR_LIB", "~/.cache/tracker-r/lib")).expanduser()
REQUIRED = os.environ.get("TRACKER_REQUIRE_SECR") == "1"
TIMEOUT_S = 600


@functools.cache
def _missing() -> str | None:
    """Why secr cannot run here, or None."""
    if shutil.which("Rscript") is None:
        return "Rscript is not installed"
    probe = subprocess.run(
        ["Rscript", "-e", f".libPaths('{LIB}'); suppressMessages(library(secr))"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if probe.returncode != 0:
        return f"secr is not installed in {LIB}: {probe.stderr.strip()[-300:]}"
    return None


def require_secr() -> None:
    """Skip (or, when CI asked for secr, fail) unless R's secr can run."""
    missing = _missing()
    if missing is None:
        return
    how = f"build it with ../shared/r/build.sh {LIB}"
    if REQUIRED:
        pytest.fail(f"TRACKER_REQUIRE_SECR=1 but {missing}; {how}", pytrace=False)
    pytest.skip(f"{missing}; {how} (the Python tests check the same rules)")


@dataclass
class SecrSession:
    name: str
    animals: int
    detections: int
    occasions: int
    detectors: int
    usage: float


@dataclass
class SecrResult:
    errors: bool
    sessions: list[SecrSession] = field(default_factory=list)
    density: float | None = None  # animals per hectare, from secr.fit
    output: str = ""


_R_REPORT = """
ch <- if (ms(CH)) CH else list(CH)
v <- verify(CH, report = 1)
cat("ERRORS", v$errors, "\\n")
for (s in ch) {
  cat("SESSION", session(s), nrow(s), sum(s > 0), ncol(s), nrow(traps(s)),
      sum(usage(traps(s))), "\\n")
}
"""
_R_FIT = """
fit <- secr.fit(CH, buffer = 8000, trace = FALSE, details = list(distribution = "binomial"))
d <- predict(fit)
if (ms(CH)) d <- d[[1]]
cat("DENSITY", d["D", "estimate"], "\\n")
"""


def read_with_secr(package: Path, workdir: Path, *, fit: bool = False) -> SecrResult:
    """Unzip a secr export, run its README.txt's R call, verify it, and report what secr read."""
    require_secr()
    folder = workdir / f"{package.stem}-unzipped"
    folder.mkdir()
    with zipfile.ZipFile(package) as archive:
        archive.extractall(folder)
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    call = re.search(r"library\(secr\)\n(.*?\))\n\n", readme + "\n\n", re.S)
    assert call, readme
    script = (
        f".libPaths('{LIB}'); suppressMessages(library(secr))\n"
        f"setwd('{folder}')\n{call.group(1)}\n{_R_REPORT}{_R_FIT if fit else ''}"
    )
    run = subprocess.run(
        ["Rscript", "-e", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    result = SecrResult(errors=True, output=output)
    for line in run.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["ERRORS"]:
            result.errors = parts[1] == "TRUE"
        elif parts[:1] == ["SESSION"]:
            name, *numbers = parts[1:]
            animals, detections, occasions, detectors = map(int, numbers[:4])
            usage = float(numbers[4])
            result.sessions.append(
                SecrSession(name, animals, detections, occasions, detectors, usage)
            )
        elif parts[:1] == ["DENSITY"]:
            result.density = float(parts[1])
    return result
