"""Regenerate docs/screenshots/*.png (the console and the sign-in pages at 1280 and 390 px), shown in the README.

Runs the browser walk of tests/browser/test_console_pages.py (real headless Debian chromium against the app
with seeded example data) with IDP_SCREENSHOTS set, so the pictures show exactly what the tests check.

Usage: .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/browser/test_console_pages.py::test_console_pages_fit_the_phone_and_the_desktop",
         "tests/browser/test_console_pages.py::test_sign_in_pages_say_where_you_are_and_fit",
         "tests/browser/test_signin_pages.py::test_the_prompt_shows_the_recovery_code_and_the_other_ways_openly"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where to write the PNG files")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "IDP_SCREENSHOTS": str(out)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
                            cwd=ROOT, env=env, check=False)
    if result.returncode == 0:
        for path in sorted(out.glob("*.png")):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
