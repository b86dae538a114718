"""The built site works in a real browser: pages render, links lead somewhere, the
client-side search finds things, and both colour schemes apply.

The tests drive headless Chromium from the command line (``--dump-dom`` prints the
DOM once scripts have run; ``--screenshot`` saves a PNG) against the site served on
127.0.0.1. They need the ``chromium`` executable (Debian: ``apt-get install
chromium``); without it they fail, unless ``PROCRASTINATE_SKIP_BROWSER_TESTS=1``, which
skips them.

Screenshots go to a temporary directory, or to ``$PROCRASTINATE_DOCS_SCREENSHOTS`` when
set (``docs/_build/screenshots`` is ignored by git), to be looked at by a human.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import html
import http.server
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest_site import BuiltSite, built_site, site_build  # noqa: F401

pytestmark = pytest.mark.browser

BROWSER_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
SKIP_VARIABLE = "PROCRASTINATE_SKIP_BROWSER_TESTS"
BROWSER_TIMEOUT = 90
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
# Blink's preferred colour scheme: 1 is light (the default), 0 dark.
LIGHT = ["--blink-settings=preferredColorScheme=1"]
DARK = ["--force-dark-mode"]


def find_browser() -> str | None:
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser() -> str:
    path = find_browser()
    if path is not None:
        return path
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"Chromium is not installed and {SKIP_VARIABLE}=1")
    pytest.fail(
        "The browser tests need Chromium, which is not installed: install it "
        f"(apt-get install chromium), or set {SKIP_VARIABLE}=1 to skip these tests.",
        pytrace=False,
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site, plus the test pages of :data:`EXTRA_PAGES`, and records the
    requests that failed (a missing asset, a broken link)."""

    failures: list[str] = []

    def do_GET(self) -> None:
        page = EXTRA_PAGES.get(self.path.partition("?")[0])
        if page is None:
            super().do_GET()
            return
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, int) and code >= 400:
            self.failures.append(f"{code} {self.path}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site_url(
    browser: str,
    built_site: BuiltSite,  # noqa: F811
) -> Iterator[str]:
    """The built site, served over HTTP on 127.0.0.1 (once a browser is found: no
    build for nothing)."""
    handler = functools.partial(_QuietHandler, directory=str(built_site.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chromium-profile")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("PROCRASTINATE_DOCS_SCREENSHOTS")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


def run_browser(browser: str, profile: Path, *arguments: str) -> str:
    completed = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


_DOMS: dict[tuple[str, ...], str] = {}


def dump_dom(browser: str, profile: Path, url: str, *arguments: str) -> str:
    """The DOM of ``url`` once its scripts have run (loaded once per session)."""
    key = (url, *arguments)
    if key not in _DOMS:
        _DOMS[key] = run_browser(
            browser,
            profile,
            *arguments,
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        )
    return _DOMS[key]


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def main_content(page: str) -> str:
    """The article of a furo page, without the navigation."""
    start = page.index("<article")
    return page[start : page.index("</article>", start)]


def heading(page: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page, re.DOTALL)
    assert match, "no <h1> in the page"
    title = re.sub(r'<a class="headerlink".*?</a>', "", match.group(1))
    return " ".join(text_of(title).split())


@pytest.mark.parametrize(
    ("page", "title", "content"),
    [
        ("index.html", "Procrastinate", "Why PostgreSQL?"),
        (
            "howto/advanced/locks.html",
            "Keep jobs from running at the same time",
            "lock",
        ),
        ("reference/api.html", "Python API", "procrastinate.App"),
        ("changelog.html", "Changelog", "release notes"),
    ],
)
def test_page_renders(
    browser: str, profile: Path, site_url: str, page: str, title: str, content: str
) -> None:
    dom = dump_dom(browser, profile, site_url + page)
    assert heading(dom).startswith(title)
    assert content in text_of(main_content(dom))
    # furo's script ran: it sets the colour scheme on the page.
    assert 'data-theme="auto"' in dom or "data-theme=" in dom


def test_navigation_from_index_to_a_howto(
    browser: str, profile: Path, site_url: str
) -> None:
    index = dump_dom(browser, profile, site_url + "index.html")
    links = re.findall(r'href="(howto/[^"#?]+\.html)"', main_content(index))
    assert "howto/advanced/locks.html" in links
    locks = dump_dom(browser, profile, site_url + "howto/advanced/locks.html")
    assert heading(locks) == "Keep jobs from running at the same time"


def test_search_finds_queueing_locks(
    browser: str, profile: Path, site_url: str
) -> None:
    dom = dump_dom(browser, profile, site_url + "search.html?q=queueing+lock")
    match = re.search(r'<ul[^>]*class="search"[^>]*>(.*?)</ul>', dom, re.DOTALL)
    assert match, "no search results"
    results = re.findall(r'href="([^"#?]+)', match.group(1))
    assert "howto/advanced/queueing_locks.html" in results


SCREENSHOT_PAGES = ["index.html", "howto/advanced/locks.html", "changelog.html"]


def test_screenshots(
    browser: str,
    profile: Path,
    site_url: str,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    """Each page in both colour schemes, for a human to look at. The browsers run in
    parallel, each with its own profile."""
    jobs = []
    for number, (page, scheme) in enumerate(
        itertools.product(SCREENSHOT_PAGES, ("light", "dark"))
    ):
        name = page.removesuffix(".html").replace("/", "_")
        target = screenshots / f"{name}-{scheme}.png"
        flags = DARK if scheme == "dark" else LIGHT
        jobs.append((target, tmp_path / f"profile-{number}", flags, site_url + page))

    def take(job: tuple[Path, Path, list[str], str]) -> Path:
        target, job_profile, flags, url = job
        run_browser(
            browser,
            job_profile,
            *flags,
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
            f"--screenshot={target}",
            url,
        )
        return target

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
        taken = list(executor.map(take, jobs))
    for target in taken:
        assert target.stat().st_size > 10_000, target
        brightness = png_brightness(target.read_bytes())
        # furo follows the browser's colour scheme: a white page, or a near-black one.
        if target.stem.endswith("-dark"):
            assert brightness < 80, (target, brightness)
        else:
            assert brightness > 200, (target, brightness)


def png_brightness(data: bytes, rows: int = 16) -> float:
    """
    The mean brightness (0-255) of the top ``rows`` rows of an 8-bit RGB or RGBA PNG,
    such as Chromium's screenshots: the top of a page is its background, which tells a
    light page from a dark one. (Enough of the format for that, and fast.)
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    width, height, depth, color_type, _, _, interlace = struct.unpack(
        ">IIBBBBB", header
    )
    assert depth == 8, header
    assert color_type in (2, 6), header
    assert not interlace, header
    channels = 3 if color_type == 2 else 4
    stride = width * channels
    rows = min(rows, height)
    raw = zlib.decompressobj().decompress(idat, rows * (stride + 1))
    previous = bytearray(stride)
    total = 0
    for row in range(rows):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                up_left = previous[i - channels] if i >= channels else 0
                estimate = left + up - up_left
                distances = (
                    abs(estimate - left),
                    abs(estimate - up),
                    abs(estimate - up_left),
                )
                nearest = (left, up, up_left)[distances.index(min(distances))]
                line[i] = (line[i] + nearest) & 0xFF
        previous = line
        total += sum(line) - (sum(line[3::4]) if channels == 4 else 0)
    return total / (width * rows * 3)


# -- Every page, as a reader sees it ----------------------------------------------------

# Chromium logs each console message of a page and of its frames (console.error, an
# uncaught exception, a script that failed...) with --enable-logging=stderr.
CONSOLE_LINE = re.compile(r":CONSOLE(?:\(\d+\))?:?\d*\] (.*)")


def site_pages(built_site: BuiltSite) -> list[str]:  # noqa: F811
    """Every page of the site, except those that only redirect elsewhere, and the 404
    page, whose links are absolute to the published site's root."""
    pages = []
    for path in sorted(built_site.html.rglob("*.html")):
        name = path.relative_to(built_site.html).as_posix()
        if name == "404.html" or name.startswith("_"):
            continue
        if 'http-equiv="refresh"' in path.read_text(encoding="utf-8")[:400]:
            continue
        pages.append(name)
    return pages


# A page of the test server that loads the pages of the site one after the other in
# an iframe of the given width (the site's media queries see that width), and writes
# down, for each, whether it rendered (its article, the sidebar) and what sticks out
# horizontally: the page itself, a table that hides columns, a console session that
# cuts its lines. One browser goes through the whole site.
LAYOUT_PAGE = """<!doctype html>
<html><head><link rel="icon" href="data:,"></head>
<body><pre id="result">pending</pre><iframe id="frame"></iframe>
<script>
const [width, ...pages] = decodeURIComponent(location.hash.slice(1)).split(",");
const frame = document.getElementById("frame");
frame.style.width = width + "px";
frame.style.height = "900px";
frame.style.border = "0";
const report = {unrendered: [], overflow: {}};
function measure(page) {
  const doc = frame.contentDocument;
  if (!doc.querySelector("article") || !doc.querySelector(".sidebar-tree")) {
    report.unrendered.push(page);
  }
  const root = doc.documentElement;
  const found = [];
  if (root.scrollWidth > root.clientWidth + 1) {
    found.push(`page: ${root.scrollWidth}px wide in ${root.clientWidth}px`);
  }
  for (const box of doc.querySelectorAll(".table-wrapper, div.highlight-console pre")) {
    if (box.scrollWidth > box.clientWidth + 1) {
      found.push(`${box.className || box.tagName}: ${box.textContent.trim().slice(0, 50)}`);
    }
  }
  if (found.length) report.overflow[page] = found;
}
function next() {
  const page = pages.shift();
  if (page === undefined) {
    document.getElementById("result").textContent = JSON.stringify(report);
    return;
  }
  frame.onload = () => setTimeout(() => { measure(page); next(); }, 200);
  frame.src = "/" + page;
}
next();
</script></body></html>
"""
EXTRA_PAGES = {"/__layout__.html": LAYOUT_PAGE}
WIDTHS = {"desktop": 1280, "phone": 390}


@dataclasses.dataclass(frozen=True)
class SiteTour:
    """What a browser saw of every page of the site, at one width."""

    unrendered: list[str]
    overflow: dict[str, list[str]]
    console: list[str]
    failed_requests: list[str]


def tour(
    browser: str, site_url: str, pages: list[str], width: int, profile: Path
) -> SiteTour:
    _QuietHandler.failures.clear()
    completed = subprocess.run(
        [
            browser,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={width + 40},1000",
            f"--virtual-time-budget={2000 * len(pages)}",
            "--dump-dom",
            f"{site_url}__layout__.html#{width},{','.join(pages)}",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT + len(pages),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    match = re.search(r'<pre id="result">(.*?)</pre>', completed.stdout, re.DOTALL)
    assert match, completed.stdout[-2000:]
    assert match.group(1) != "pending", "the pages did not all load"
    report = json.loads(html.unescape(match.group(1)))
    console = [
        found.group(1)
        for line in completed.stderr.splitlines()
        if (found := CONSOLE_LINE.search(line))
    ]
    return SiteTour(
        unrendered=report["unrendered"],
        overflow=report["overflow"],
        console=console,
        failed_requests=list(_QuietHandler.failures),
    )


@pytest.mark.timeout(600)
def test_every_page_renders_without_a_console_error(
    browser: str,
    site_url: str,
    built_site: BuiltSite,  # noqa: F811
    tmp_path: Path,
) -> None:
    pages = site_pages(built_site)
    assert len(pages) > 60
    seen = tour(browser, site_url, pages, WIDTHS["desktop"], tmp_path / "profile")
    assert not seen.unrendered
    assert not seen.console
    assert not seen.failed_requests


@pytest.mark.timeout(600)
@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_no_horizontal_overflow(
    browser: str,
    site_url: str,
    built_site: BuiltSite,  # noqa: F811
    tmp_path: Path,
    device: str,
) -> None:
    """No page is wider than the screen, no table hides a column, and no console
    session cuts its lines, on a desktop screen and on a phone."""
    pages = site_pages(built_site)
    seen = tour(browser, site_url, pages, WIDTHS[device], tmp_path / "profile")
    assert seen.overflow == {}


def sidebar_links(dom: str) -> dict[str, str]:
    """The sidebar's links: text -> href."""
    start = dom.index('<div class="sidebar-tree">')
    tree = dom[start : dom.index("</div>", start)]
    return {
        " ".join(text_of(text).split()): href
        for href, text in re.findall(
            r'<a class="reference internal" href="([^"#]+)">(.*?)</a>', tree, re.DOTALL
        )
    }


@pytest.mark.parametrize(
    ("link", "page"),
    [
        ("Retry failed jobs", "howto/advanced/retry.html"),
        ("Link your own models to jobs", "howto/django/link_models.html"),
        ("Error messages (FAQ)", "reference/errors.html"),
    ],
)
def test_the_sidebar_navigates(
    browser: str, profile: Path, site_url: str, link: str, page: str
) -> None:
    links = sidebar_links(dump_dom(browser, profile, site_url + "quickstart.html"))
    assert links[link] == page
    target = dump_dom(browser, profile, site_url + page)
    assert heading(target) == link
    # The sidebar of the page shows where the reader is.
    current = re.escape(f'<a class="current reference internal" href="#">{link}</a>')
    assert re.search(rf'<li class="[^"]*current-page[^"]*">{current}', target)


def search_results(browser: str, profile: Path, site_url: str, query: str) -> list[str]:
    dom = dump_dom(browser, profile, f"{site_url}search.html?q={query}")
    match = re.search(r'<ul[^>]*class="search"[^>]*>(.*?)</ul>', dom, re.DOTALL)
    assert match, f"no search results for {query!r}"
    return re.findall(r'href="([^"#?]+)', match.group(1))


@pytest.mark.parametrize(
    ("query", "guide"),
    [("lock", "howto/advanced/locks.html"), ("retry", "howto/advanced/retry.html")],
)
def test_search_ranks_the_guide_above_the_reference(
    browser: str, profile: Path, site_url: str, query: str, guide: str
) -> None:
    results = search_results(browser, profile, site_url, query)
    assert guide in results
    references = [
        rank for rank, page in enumerate(results) if page.startswith("reference/")
    ]
    assert references, results
    assert results.index(guide) < references[0], results


PHONE_SCREENSHOTS = ["index.html", "reference/database.html", "discussions.html"]


def test_phone_screenshots(
    browser: str,
    site_url: str,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    """Pages at a phone's width, for a human to look at (the layout itself is checked
    by :func:`test_no_horizontal_overflow`)."""
    for page in PHONE_SCREENSHOTS:
        target = (
            screenshots / f"{page.removesuffix('.html').replace('/', '_')}-phone.png"
        )
        run_browser(
            browser,
            tmp_path / "profile",
            *LIGHT,
            "--window-size=390,844",
            "--virtual-time-budget=5000",
            f"--screenshot={target}",
            site_url + page,
        )
        assert target.stat().st_size > 10_000, target
        assert png_brightness(target.read_bytes()) > 200, target
