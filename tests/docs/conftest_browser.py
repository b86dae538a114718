"""Whether the browser tests run: they need Chromium.

Without Chromium, they are skipped, and the end of the run says so in one line (even
without ``-rs``), with how to enable them. ``PROCRASTINATE_REQUIRE_BROWSER=1``, set by
``.ci/run`` after it installs Chromium, makes them mandatory: a missing browser then
fails them.
"""

from __future__ import annotations

import os
import shutil

import pytest

BROWSER_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
REQUIRE_VARIABLE = "PROCRASTINATE_REQUIRE_BROWSER"
ENABLE_HINT = "install Chromium (apt-get install chromium) to run them, as .ci/run does"
_SKIPPED = pytest.StashKey[bool]()


def find_browser() -> str | None:
    """The path of the first Chromium-like executable on ``PATH``."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_or_skip(config: pytest.Config) -> str:
    """The browser's path; without one, skip the test, or fail it when required."""
    path = find_browser()
    if path is not None:
        return path
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(
            f"The browser tests need Chromium ({REQUIRE_VARIABLE}=1), which is not "
            "installed: apt-get install chromium.",
            pytrace=False,
        )
    config.stash[_SKIPPED] = True
    pytest.skip(f"Chromium is not installed: {ENABLE_HINT}")


def skipped_line(config: pytest.Config) -> str | None:
    """The line that ends a run whose browser tests were skipped, if they were."""
    if not config.stash.get(_SKIPPED, False):
        return None
    return f"Browser tests skipped: Chromium is not installed; {ENABLE_HINT}."
