"""The Chromium the browser tests (tests/web) drive through Playwright.

Playwright cannot download its own browser here, so the tests use the machine's:
`CHROMIUM_PATH` if set, else Debian's `chromium`. `python -m dev.chromium` (run by
`make test`) installs it with apt when it is missing and this is root with apt;
otherwise it says how to provide one. With `CI=true` a missing Chromium is an
error (exit 1), so CI never passes by skipping the browser tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")


def find() -> str | None:
    """The Chromium to use: CHROMIUM_PATH (which must exist), else the machine's."""
    given = os.environ.get("CHROMIUM_PATH")
    if given:
        return given if Path(given).is_file() and os.access(given, os.X_OK) else None
    for path in CANDIDATES:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def can_install() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("Chromium not found: apt-get install chromium (for the browser tests)", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, stdout=subprocess.DEVNULL)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skipping_browser_tests() -> bool:
    """Only an explicit DIEM_SKIP_BROWSER_TESTS=1 skips tests/web (never on CI=true):
    a runner that sets no CI variable must not pass without them."""
    return os.environ.get("DIEM_SKIP_BROWSER_TESTS") == "1" and not in_ci()


def main() -> int:
    found = find()
    if found is None and not os.environ.get("CHROMIUM_PATH") and can_install():
        install()
        found = find()
    if found:
        print(f"Chromium for the browser tests: {found}")
        return 0
    advice = "set CHROMIUM_PATH to a Chromium binary, or install Debian's chromium (apt-get install chromium)"
    if not skipping_browser_tests():
        print(f"error: no Chromium for the browser tests: {advice} (or DIEM_SKIP_BROWSER_TESTS=1)", file=sys.stderr)
        return 1
    print(f"warning: no Chromium: the browser tests (tests/web) will be skipped; {advice}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
