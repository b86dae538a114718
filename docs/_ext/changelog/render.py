"""Turn releases into docutils nodes.

Each release is a section with the stable id ``release-<version>``, a line of
metadata (pre-release badge, date, links) and its notes converted from
Markdown and parsed as reStructuredText. Headings of the notes become
subsections of the release, with ids prefixed by the release id so that the
"What's Changed" of every release gets its own anchor.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from docutils import nodes
from docutils.parsers.rst import Parser
from docutils.utils import new_document

from .github import Release
from .markdown import GitHubContext, markdown_to_rst

__all__ = ["Links", "render_fallback", "render_releases"]

_ID_UNSAFE = re.compile(r"[^a-z0-9._-]+")


@dataclasses.dataclass(frozen=True)
class Links:
    """The URLs given to the directive.

    :param web_url: Root of the GitHub web site, e.g. ``https://github.com``.
    :param repository: ``owner/repo``.
    :param pypi_url: The PyPI project page, without trailing slash, if any.
    :param changelog_url: The published changelog page, if any.
    """

    web_url: str
    repository: str
    pypi_url: str | None = None
    changelog_url: str | None = None

    @property
    def releases_url(self) -> str:
        """The GitHub page listing the releases."""
        return f"{self.web_url}/{self.repository}/releases"

    def pypi_version_url(self, version: str) -> str | None:
        """The PyPI page of ``version``, if a PyPI project was given."""
        return f"{self.pypi_url}/{version}/" if self.pypi_url else None


def render_releases(
    releases: Iterable[Release], links: Links, document: nodes.document
) -> list[nodes.Node]:
    """Return one section per release, in the given order.

    Warnings raised while parsing release notes are reported through the
    document's reporter, located at the release's URL.
    """
    sections: list[nodes.Node] = [
        _release_section(release, links, document) for release in releases
    ]
    if not sections:
        return [nodes.paragraph("", "No release has been published yet.")]
    return sections


def render_fallback(links: Links) -> nodes.Element:
    """Return a note telling where to read the release notes."""
    paragraph = nodes.paragraph()
    paragraph += nodes.Text(
        "The release notes could not be loaded when this documentation was built. Read them on "
    )
    paragraph += _link("GitHub", links.releases_url)
    if links.changelog_url:
        paragraph += nodes.Text(" or in the ")
        paragraph += _link("published changelog", links.changelog_url)
    paragraph += nodes.Text(".")
    return nodes.note("", paragraph, classes=["changelog-unavailable"])


def release_id(release: Release) -> str:
    """Return the HTML id of a release: ``release-<version>``."""
    return "release-" + _ID_UNSAFE.sub("-", release.version.lower()).strip("-")


def _release_section(
    release: Release, links: Links, document: nodes.document
) -> nodes.section:
    identifier = _unique_id(release_id(release), document)
    classes = ["changelog-release"] + (
        ["changelog-prerelease"] if release.prerelease else []
    )
    section = nodes.section("", ids=[identifier], names=[identifier], classes=classes)
    # Show the notes as GitHub does: no typographic quotes nor dashes, which
    # would alter command-line flags ("--force") and URLs ("1.0...2.0").
    section["support_smartquotes"] = False
    section += nodes.title("", release.title)
    section += _metadata(release, links)
    section += _body(release, links, document)
    _prefix_ids(section.children[2:], identifier, document)
    # Makes `:ref:\`release-1.2.0\`` work from any page.
    document.note_explicit_target(section)
    return section


def _metadata(release: Release, links: Links) -> nodes.paragraph:
    paragraph = nodes.paragraph(classes=["changelog-meta"])
    if release.prerelease:
        paragraph += nodes.inline(
            "", "pre-release", classes=["changelog-badge", "changelog-prerelease-badge"]
        )
        paragraph += nodes.Text(" ")
    paragraph += nodes.Text("Released on ")
    paragraph += nodes.inline(
        "", release.published_at.date().isoformat(), classes=["changelog-date"]
    )
    paragraph += nodes.Text(" \N{MIDDLE DOT} ")
    paragraph += _link("GitHub release", release.url)
    pypi_url = links.pypi_version_url(release.version)
    if pypi_url:
        paragraph += nodes.Text(" \N{MIDDLE DOT} ")
        paragraph += _link("PyPI", pypi_url)
    return paragraph


def _link(text: str, url: str) -> nodes.reference:
    return nodes.reference("", text, refuri=url)


def _body(release: Release, links: Links, document: nodes.document) -> list[nodes.Node]:
    context = GitHubContext(web_url=links.web_url, repository=links.repository)
    rst = markdown_to_rst(release.body, context=context)
    if not rst:
        return []
    # Parsed as a separate document, so that the notes get their own title
    # levels and cannot clash with the page's, then moved into the section.
    body = new_document(release.url, document.settings)
    body.reporter = document.reporter
    Parser().parse(rst, body)
    return list(body.children)


def _prefix_ids(
    children: Sequence[nodes.Node], prefix: str, document: nodes.document
) -> None:
    for child in children:
        if not isinstance(child, nodes.Element):
            continue
        for element in child.findall(nodes.Element):
            _rename(element, prefix, document)


def _rename(element: nodes.Element, prefix: str, document: nodes.document) -> None:
    if not element["ids"]:
        return
    if isinstance(element, nodes.section):
        slug = nodes.make_id(element[0].astext()) if element.children else "section"
        candidates = [f"{prefix}-{slug or 'section'}"]
    else:
        candidates = [f"{prefix}-{identifier}" for identifier in element["ids"]]
    element["ids"] = [_unique_id(candidate, document) for candidate in candidates]
    for identifier in element["ids"]:
        document.ids[identifier] = element


def _unique_id(candidate: str, document: nodes.document) -> str:
    identifier = candidate
    suffix = 2
    while identifier in document.ids:
        identifier = f"{candidate}-{suffix}"
        suffix += 1
    return identifier
