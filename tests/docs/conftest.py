"""Fixtures of the changelog extension tests.

They build small Sphinx projects (``roots/test-changelog*``) with the
``sphinx.testing`` fixtures, against a fake GitHub API: nothing reaches
GitHub. The ``sphinx.testing`` fixtures are available to every test of this
directory.
"""

from __future__ import annotations

import dataclasses
import html.parser
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sphinx.testing import fixtures as sphinx_fixtures
from sphinx.testing.fixtures import (  # noqa: F401 (fixtures used by name)
    _shared_result_cache,
    app,
    app_params,
    make_app,
    shared_result,
    status,
    test_params,
    warning,
)
from sphinx.testing.util import SphinxTestApp

from .conftest_browser import skipped_line
from .fake_github import FakeGitHub

ROOTS = Path(__file__).parent / "roots"
EXTENSIONS = Path(__file__).parents[2] / "docs" / "_ext"

# The extension lives with the docs, not in an installed package.
if str(EXTENSIONS) not in sys.path:
    sys.path.insert(0, str(EXTENSIONS))

_CHANGELOG_VARIABLES = (
    "CHANGELOG_GITHUB_TOKEN",
    "GITHUB_TOKEN",
    "CHANGELOG_GITHUB_API_URL",
    "CHANGELOG_INCLUDE_PRERELEASES",
    "CHANGELOG_FAIL_ON_FETCH_ERROR",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``sphinx`` marker of the ``sphinx.testing`` fixtures.

    Those fixtures are imported above rather than declared as a plugin:
    pytest refuses ``pytest_plugins`` outside the top-level conftest.
    """
    sphinx_fixtures.pytest_configure(config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say in one visible line that the browser tests did not run, and how to run them."""
    line = skipped_line(config)
    if line is not None:
        terminalreporter.write_line(line, yellow=True, bold=True)


@pytest.fixture(scope="session")
def rootdir() -> Path:
    """Where ``sphinx.testing`` finds the ``test-<name>`` projects."""
    return ROOTS


@pytest.fixture
def sphinx_test_tempdir(tmp_path: Path) -> Path:
    """Give each test its own build directory, so no cache leaks between tests."""
    return tmp_path


@pytest.fixture
def changelog_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Clear the variables the extension reads, whatever the CI sets."""
    for variable in _CHANGELOG_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


@pytest.fixture
def fake_github(changelog_environ: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A fake GitHub API, which the builds use through the environment."""
    with FakeGitHub() as fake:
        changelog_environ.setenv("CHANGELOG_GITHUB_API_URL", fake.url)
        yield fake


@dataclasses.dataclass(frozen=True)
class Section:
    """A ``<section>`` of a built page."""

    id: str
    classes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Heading:
    """A heading of a built page, with the id of its section."""

    level: int
    text: str
    section_id: str | None


@dataclasses.dataclass(frozen=True)
class Link:
    """A link of a built page."""

    href: str
    text: str


class HtmlPage(html.parser.HTMLParser):
    """The parts of a built HTML page that the tests look at."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.ids: list[str] = []
        self.sections: list[Section] = []
        self.headings: list[Heading] = []
        self.links: list[Link] = []
        self._open_sections: list[str] = []
        self._heading: tuple[int, list[str]] | None = None
        self._link: tuple[str, list[str]] | None = None
        self._in_headerlink = False
        self.feed(source)
        self.close()

    @property
    def release_ids(self) -> list[str]:
        """Ids of the release sections, in page order."""
        return [
            section.id
            for section in self.sections
            if "changelog-release" in section.classes
        ]

    def section(self, identifier: str) -> Section:
        """Return the section with id ``identifier``."""
        return next(section for section in self.sections if section.id == identifier)

    def headings_in(self, identifier: str) -> list[str]:
        """Return the text of the headings of the section ``identifier``."""
        return [
            heading.text
            for heading in self.headings
            if heading.section_id == identifier
        ]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "section":
            self._open_sections.append(attributes.get("id", ""))
            self.sections.append(
                Section(
                    attributes.get("id", ""), tuple(attributes.get("class", "").split())
                )
            )
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = (int(tag[1]), [])
        elif tag == "a":
            self._in_headerlink = "headerlink" in attributes.get("class", "")
            self._link = (attributes.get("href", ""), [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._open_sections:
            self._open_sections.pop()
        elif tag.startswith("h") and self._heading is not None and tag[1:].isdigit():
            level, parts = self._heading
            section = self._open_sections[-1] if self._open_sections else None
            self.headings.append(Heading(level, "".join(parts).strip(), section))
            self._heading = None
        elif tag == "a" and self._link is not None:
            self.links.append(Link(self._link[0], "".join(self._link[1]).strip()))
            self._link = None
            self._in_headerlink = False

    def handle_data(self, data: str) -> None:
        if self._heading is not None and not self._in_headerlink:
            self._heading[1].append(data)
        if self._link is not None:
            self._link[1].append(data)


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """A finished build of a test project."""

    app: SphinxTestApp
    status: str
    warnings: str
    html: str

    @property
    def page(self) -> HtmlPage:
        """The parsed ``index.html``, as this build wrote it."""
        return HtmlPage(self.html)


BuildChangelog = Callable[..., BuildResult]


@pytest.fixture
def build_changelog(
    request: pytest.FixtureRequest, changelog_environ: pytest.MonkeyPatch
) -> BuildChangelog:
    """Return a function building the project of the ``sphinx`` marker.

    Its keyword arguments are configuration overrides, plus ``freshenv``
    to ignore the saved environment of a previous build.
    """
    # Looked up by name: parameters would shadow the imported fixtures.
    make: Callable[..., SphinxTestApp] = request.getfixturevalue("make_app")
    args, kwargs = request.getfixturevalue("app_params")

    def build(*, freshenv: bool = False, **confoverrides: Any) -> BuildResult:
        options = {**kwargs, "freshenv": freshenv, "confoverrides": confoverrides}
        application = make(*args, **options)
        try:
            application.build()
        finally:
            # Restore docutils' registries now, so that a second build in
            # the same test does not warn about nodes registered twice.
            application.cleanup()
        index = application.outdir / "index.html"
        return BuildResult(
            app=application,
            status=application.status.getvalue(),
            warnings=application.warning.getvalue(),
            html=index.read_text(encoding="utf-8") if index.exists() else "",
        )

    return build
