"""Screenshot an HTML report in headless Chromium (to check that its figures render).

    python scripts/screenshot_report.py traitgate-report/report.html report.png

Needs Debian's chromium (`apt-get install chromium`) or CHROMIUM=/path/to/chrome. Prints the
PNG's path; exits 1 if no browser is found or the screenshot is blank.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def find_browser() -> str | None:
    names = [os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"]
    return next((shutil.which(n) for n in names if n and shutil.which(n)), None)


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 2400) -> Path:
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no chromium found (apt-get install chromium, or set CHROMIUM)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={png.resolve()}", html.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    return png


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        png = screenshot(Path(argv[0]), Path(argv[1]))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"screenshot failed: {exc}", file=sys.stderr)
        return 1
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
