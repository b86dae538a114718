"""The ``changelog`` directive, rendering the GitHub releases of a project."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import ClassVar, TypeVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.errors import SphinxError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from .cache import cache_key
from .config import Settings, settings_for
from .loader import Outcome, cache_for, load_releases
from .render import Links, render_fallback, render_releases
from .tracking import note_release_source

__all__ = [
    "ChangelogDirective",
    "ChangelogError",
    "changelog_url",
    "github_releases",
    "pypi_project",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

GITHUB_FORM = "https://github.com/<owner>/<repo>/releases"
PYPI_FORM = "https://pypi.org/project/<name>"
CHANGELOG_URL_FORM = "an http(s) URL such as https://example.org/changelog.html"

_GITHUB_PATH = re.compile(
    r"/(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<repo>[A-Za-z0-9._-]+)/releases/?"
)
_PYPI_PATH = re.compile(
    r"/project/(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)/?"
)


class ChangelogError(SphinxError):
    """The releases could not be fetched and the build must fail."""

    category = "Changelog error"


def _http_url(value: str | None, expected: str) -> urllib.parse.SplitResult:
    parsed = urllib.parse.urlsplit((value or "").strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"expected {expected}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"expected {expected}, without query nor fragment")
    return parsed


def github_releases(value: str | None) -> tuple[str, str]:
    """Parse the ``:github:`` option: the releases page of a repository.

    :return: The root of the GitHub web site and ``owner/repo``.
    :raises ValueError: if ``value`` is not of the form :data:`GITHUB_FORM`.
    """
    parsed = _http_url(value, GITHUB_FORM)
    match = _GITHUB_PATH.fullmatch(parsed.path)
    if match is None:
        raise ValueError(f"expected {GITHUB_FORM}")
    return f"{parsed.scheme}://{parsed.netloc}", f"{match['owner']}/{match['repo']}"


def pypi_project(value: str | None) -> str:
    """Parse the ``:pypi:`` option: the PyPI page of a project.

    :return: The URL without trailing slash.
    :raises ValueError: if ``value`` is not of the form :data:`PYPI_FORM`.
    """
    parsed = _http_url(value, PYPI_FORM)
    if _PYPI_PATH.fullmatch(parsed.path) is None:
        raise ValueError(f"expected {PYPI_FORM}")
    return urllib.parse.urlunsplit(parsed).rstrip("/")


def changelog_url(value: str | None) -> str:
    """Parse the ``:changelog-url:`` option.

    :raises ValueError: if ``value`` is not an http(s) URL.
    """
    parsed = _http_url(value, CHANGELOG_URL_FORM)
    return urllib.parse.urlunsplit(parsed)


class ChangelogDirective(SphinxDirective):
    """Render every published GitHub release of a project, newest first.

    Options: ``:github:`` (required, the releases page), ``:pypi:`` (the PyPI
    project page, to link each version) and ``:changelog-url:`` (the
    published changelog, linked when releases cannot be fetched).
    """

    has_content = False
    # Values are validated in run(): a malformed one is then an error of the
    # directive, in reST as in MyST (which would only warn and drop it).
    option_spec: ClassVar[dict[str, object]] = {
        "github": directives.unchanged,
        "pypi": directives.unchanged,
        "changelog-url": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        """Fetch the releases and return their nodes, or a note if unavailable.

        :raises ChangelogError: if fetching failed and
            ``changelog_fail_on_fetch_error`` is on.
        """
        links = self._links()
        settings = settings_for(self.config)
        outcome = load_releases(
            links.repository, settings, cache_for(self.env.doctreedir, settings)
        )
        note_release_source(
            self.env,
            self.env.docname,
            cache_key(settings.fetch.api_url, links.repository),
        )
        if outcome.error is not None:
            _report_failure(links, settings, outcome)
        if outcome.releases is None:
            return [render_fallback(links)]
        releases = [
            release
            for release in outcome.releases
            if settings.include_prereleases or not release.prerelease
        ]
        return render_releases(releases, links, self.state.document)

    def _links(self) -> Links:
        github = self._parse_option("github", github_releases)
        if github is None:
            raise self.error(
                f'The "changelog" directive needs a :github: option: {GITHUB_FORM}'
            )
        web_url, repository = github
        pypi = self._parse_option("pypi", pypi_project)
        changelog = self._parse_option("changelog-url", changelog_url)
        return Links(
            web_url=web_url,
            repository=repository,
            pypi_url=pypi,
            changelog_url=changelog,
        )

    def _parse_option(self, name: str, parse: Callable[[str | None], T]) -> T | None:
        if name not in self.options:
            return None
        value = self.options[name]
        try:
            return parse(value)
        except ValueError as exc:
            raise self.error(
                f'Invalid :{name}: option of the "changelog" directive: {value!r}; {exc}'
            ) from None


def _report_failure(links: Links, settings: Settings, outcome: Outcome) -> None:
    reason = f"could not fetch the releases of {links.repository} ({outcome.error})"
    if settings.fail_on_fetch_error:
        raise ChangelogError(f"{reason}; changelog_fail_on_fetch_error is on")
    if outcome.age is not None:
        minutes = round(outcome.age / 60)
        logger.info(
            f"changelog: {reason}; showing the releases cached {minutes} minutes ago"
        )
        return
    # INFO, not a warning: an offline build must still pass with -W.
    logger.info(f"changelog: {reason}; the page links to {links.releases_url} instead")
