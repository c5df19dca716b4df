"""Find a Chromium/Chrome executable for the browser tests; optionally install
Debian's.

``python tools/find_chromium.py`` print the path, or exit 1 with the command to
run. ``python tools/find_chromium.py --install`` if none is found and we are
root on Debian,
                                             ``apt-get install -y chromium``
                                             first.
The environment variable CHROMIUM_PATH overrides the search.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CANDIDATES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)
INSTALL_HINT = (
    "sudo apt-get update && sudo apt-get install -y chromium"
    "   (or set CHROMIUM_PATH)"
)


def find_chromium() -> str | None:
    """Path of a Chromium-family browser, or None."""
    env = os.environ.get("CHROMIUM_PATH")
    if env:
        return env if os.access(env, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def main(argv: list[str]) -> int:
    path = find_chromium()
    if (
        path is None
        and "--install" in argv
        and hasattr(os, "geteuid")
        and os.geteuid() == 0
        and shutil.which("apt-get")
    ):
        print(
            "Chromium not found: installing Debian's chromium with apt-get "
            "...",
            flush=True,
        )
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            env=env,
        )
        path = find_chromium()
    if path is None:
        print(
            "No Chromium or Chrome found for the browser tests. Install it "
            f"with:\n  {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 1
    print(f"browser: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
