"""Sphinx builds of a changelog page, from realistic releases of a fake GitHub."""

from __future__ import annotations

import re

import pytest

from .conftest import BuildChangelog, BuildResult
from .fake_github import FakeGitHub

pytestmark = pytest.mark.sphinx("html", testroot="changelog")

REPOSITORY = "acme/rocket"

NOTES_3_0_0 = """\
## \u26a0\ufe0f Breaking changes

The `queues` argument of `App.run_worker_async()` is now keyword-only:

```python
# Before
await app.run_worker_async(["default"])
# After
await app.run_worker_async(queues=["default"])
```

| Removed | Replacement |
|---|---|
| `App.run_worker()` | `App.run_worker_async()` |
| `--queue` CLI flag | `--queues` |

> [!IMPORTANT]
> Apply the migration `03.00.00_01_pre_cancel_notification.sql` **before** deploying.
> See the [migration guide](https://rocket.example.org/en/stable/howto/migrations.html).

## What's Changed
### Breaking changes \U0001f6a8
* Make `queues` keyword-only by @ewjoachim in https://github.com/acme/rocket/pull/1052
### New features \U0001f389
* Add job cancellation with `abort()` by @medihack in https://github.com/acme/rocket/pull/1040
### Bug fixes \U0001f41b
* Fix `__del__` warning when the pool is closed twice by @onlyann in https://github.com/acme/rocket/pull/1047
### Dependencies \U0001f4e6
* Bump psycopg from 3.1.18 to 3.2.1 by @dependabot in https://github.com/acme/rocket/pull/1050

## New Contributors
* @onlyann made their first contribution in https://github.com/acme/rocket/pull/1047

**Full Changelog**: https://github.com/acme/rocket/compare/2.1.0...3.0.0
"""

NOTES_3_0_0_RC1 = """\
> [!WARNING]
> This is a release candidate: do not use it in production.

## What's Changed
* Make `queues` keyword-only by @ewjoachim in https://github.com/acme/rocket/pull/1052
* Document the *retry* strategies (`RetryStrategy`, `BaseRetryStrategy`) by @ticosax in #1044

**Full Changelog**: https://github.com/acme/rocket/compare/2.1.0...3.0.0rc1
"""

NOTES_2_1_0 = """\
## What's Changed
### New features \U0001f389
* Support Python 3.12 by @ewjoachim in https://github.com/acme/rocket/pull/1001
* Add a `--shutdown-timeout` option to the worker by @medihack in https://github.com/acme/rocket/pull/1003
### Documentation \U0001f4da
* Explain how to run several workers:
  - with *systemd*
  - with `supervisord`
  - in Kubernetes (see acme/rocket-helm#12)
* Fix typos in the FAQ by @kianmeng in https://github.com/acme/rocket/pull/1009

## New Contributors
* @kianmeng made their first contribution in https://github.com/acme/rocket/pull/1009

**Full Changelog**: https://github.com/acme/rocket/compare/2.0.3...2.1.0
"""

NOTES_2_0_3 = """\
<!-- Release notes generated using configuration in .github/release.yml at main -->

## What's Changed
### Bug fixes \U0001f41b
* Don't retry a job that was `aborted` (fixes #987) by @ewjoachim in https://github.com/acme/rocket/pull/990
* Handle `|` and `*` in queue names of the admin_ page by @pmav99 in https://github.com/acme/rocket/pull/992

**Full Changelog**: https://github.com/acme/rocket/compare/2.0.2...2.0.3
"""

NOTES_1_0_0 = """\
First stable release! \U0001f680

![Rocket logo](https://raw.githubusercontent.com/acme/rocket/main/logo.png)

- [x] Stable API
- [x] Django integration
- [ ] Windows support

---

Thanks to everyone who tested the betas.
"""

EXPECTED_IDS = [
    "release-3.0.0",
    "release-3.0.0rc1",
    "release-2.1.0",
    "release-2.0.3",
    "release-1.0.0",
]


@pytest.fixture
def rocket(fake_github: FakeGitHub) -> FakeGitHub:
    """The fake GitHub, serving realistic releases of acme/rocket."""
    # Listed in creation order, as GitHub does, not in publication order.
    fake_github.add_release(
        REPOSITORY, "1.0.0", published="2022-09-01T08:00:00Z", body=NOTES_1_0_0
    )
    fake_github.add_release(
        REPOSITORY, "2.0.3", published="2024-01-15T12:00:00Z", body=NOTES_2_0_3
    )
    fake_github.add_release(
        REPOSITORY, "2.1.0", published="2024-03-02T09:15:00Z", body=NOTES_2_1_0
    )
    fake_github.add_release(
        REPOSITORY,
        "3.0.0",
        published="2024-06-10T16:45:00Z",
        body=NOTES_3_0_0,
        name="Rocket 3.0",
    )
    fake_github.add_release(
        REPOSITORY,
        "3.0.0rc1",
        published="2024-05-20T10:00:00Z",
        body=NOTES_3_0_0_RC1,
        name="3.0.0 release candidate 1",
        prerelease=True,
    )
    fake_github.add_release(
        REPOSITORY,
        "3.1.0",
        published="2024-07-01T00:00:00Z",
        body="## What's Changed\n* Work in progress",
        draft=True,
    )
    return fake_github


@pytest.fixture
def built(rocket: FakeGitHub, build_changelog: BuildChangelog) -> BuildResult:
    """The changelog page built from the realistic releases."""
    return build_changelog()


def section_html(result: BuildResult, identifier: str) -> str:
    """Return the HTML of the section ``identifier`` (up to the next release)."""
    source = result.page.source
    start = source.index(f'id="{identifier}"')
    following = source.find('<section class="changelog-release', start)
    return source[start : following if following >= 0 else None]


def test_realistic_releases_build_without_any_warning(built: BuildResult) -> None:
    assert built.warnings == ""
    assert "could not fetch" not in built.status


def test_releases_are_newest_first_by_publication_date(built: BuildResult) -> None:
    # The release candidate was published before 3.0.0: it comes after it.
    assert built.page.release_ids == EXPECTED_IDS


def test_drafts_are_not_shown(built: BuildResult) -> None:
    assert "release-3.1.0" not in built.page.ids
    assert "Work in progress" not in built.page.source


def test_titles(built: BuildResult) -> None:
    titles = [
        heading.text
        for heading in built.page.headings
        if heading.section_id in EXPECTED_IDS
    ]

    assert titles == [
        "Rocket 3.0",
        "3.0.0 release candidate 1",
        "2.1.0",
        "2.0.3",
        "1.0.0",
    ]
    assert {
        heading.level
        for heading in built.page.headings
        if heading.section_id in EXPECTED_IDS
    } == {2}


def test_publication_dates(built: BuildResult) -> None:
    dates = re.findall(
        r'<span class="changelog-date">([^<]*)</span>', built.page.source
    )

    assert dates == [
        "2024-06-10",
        "2024-05-20",
        "2024-03-02",
        "2024-01-15",
        "2022-09-01",
    ]


def test_references_link_to_github(built: BuildResult) -> None:
    links = {link.text: link.href for link in built.page.links}

    assert links["@onlyann"] == "https://github.com/onlyann"
    assert links["#1044"] == "https://github.com/acme/rocket/issues/1044"
    assert (
        links["acme/rocket-helm#12"] == "https://github.com/acme/rocket-helm/issues/12"
    )
    assert links["#987"] == "https://github.com/acme/rocket/issues/987"


def test_links_to_github_and_pypi(built: BuildResult) -> None:
    links = built.page.links
    github = [link.href for link in links if link.text == "GitHub release"]
    pypi = [link.href for link in links if link.text == "PyPI"]

    assert github == [
        "https://github.com/acme/rocket/releases/tag/3.0.0",
        "https://github.com/acme/rocket/releases/tag/3.0.0rc1",
        "https://github.com/acme/rocket/releases/tag/2.1.0",
        "https://github.com/acme/rocket/releases/tag/2.0.3",
        "https://github.com/acme/rocket/releases/tag/1.0.0",
    ]
    assert pypi == [
        f"https://pypi.org/project/rocket/{identifier[8:]}/"
        for identifier in EXPECTED_IDS
    ]


def test_prereleases_are_marked(built: BuildResult) -> None:
    page = built.page

    assert "changelog-prerelease" in page.section("release-3.0.0rc1").classes
    assert "changelog-prerelease" not in page.section("release-3.0.0").classes
    badges = re.findall(
        r'<span class="changelog-badge changelog-prerelease-badge">([^<]*)</span>',
        page.source,
    )
    assert badges == ["pre-release"]
    assert "pre-release" in section_html(built, "release-3.0.0rc1")


def test_prereleases_can_be_left_out(
    rocket: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    result = build_changelog(changelog_include_prereleases=False)

    assert result.page.release_ids == [
        identifier for identifier in EXPECTED_IDS if "rc" not in identifier
    ]
    assert "pre-release" not in result.page.source


def test_prereleases_can_be_left_out_through_the_environment(
    rocket: FakeGitHub,
    build_changelog: BuildChangelog,
    changelog_environ: pytest.MonkeyPatch,
) -> None:
    changelog_environ.setenv("CHANGELOG_INCLUDE_PRERELEASES", "false")

    result = build_changelog()

    assert "release-3.0.0rc1" not in result.page.release_ids


def test_heading_ids_are_unique_across_releases(built: BuildResult) -> None:
    ids = built.page.ids

    assert len(ids) == len(set(ids))
    for identifier in (
        "release-3.0.0",
        "release-3.0.0rc1",
        "release-2.1.0",
        "release-2.0.3",
    ):
        assert f"{identifier}-what-s-changed" in ids
    assert "release-3.0.0-new-contributors" in ids
    assert "release-2.1.0-new-contributors" in ids


def test_headings_of_the_notes_are_nested_under_their_release(
    built: BuildResult,
) -> None:
    headings = {
        (heading.level, heading.text, heading.section_id)
        for heading in built.page.headings
    }

    assert (3, "What's Changed", "release-3.0.0-what-s-changed") in headings
    assert (4, "Bug fixes \U0001f41b", "release-3.0.0-bug-fixes") in headings
    assert (3, "New Contributors", "release-2.1.0-new-contributors") in headings


def test_notes_are_converted(built: BuildResult) -> None:
    final = section_html(built, "release-3.0.0")
    candidate = section_html(built, "release-3.0.0rc1")
    first = section_html(built, "release-1.0.0")

    assert '<div class="highlight-python notranslate">' in final
    assert "<table" in final
    assert '<div class="admonition important">' in final
    assert '<ul class="simple">' in final
    assert '<div class="admonition warning">' in candidate
    assert (
        '<a class="reference external" href="https://github.com/acme/rocket/issues/1044">#1044</a>'
        in candidate
    )
    assert (
        '<img alt="Rocket logo" src="https://raw.githubusercontent.com/acme/rocket/main/logo.png" />'
        in first
    )
    assert "\u2611 Stable API" in first
    assert "\u2610 Windows support" in first


def test_notes_are_shown_as_written(built: BuildResult) -> None:
    fixes = section_html(built, "release-2.0.3")

    assert "in queue names of the admin_ page" in fixes
    assert ">https://github.com/acme/rocket/compare/2.0.2...2.0.3</a>" in fixes
    assert "Don't retry" in fixes
    assert "Release notes generated" not in fixes


def test_a_repository_without_releases(
    fake_github: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    fake_github.add_release(
        REPOSITORY, "0.1.0", published="2024-01-01T00:00:00Z", draft=True
    )

    result = build_changelog()

    assert result.warnings == ""
    assert result.page.release_ids == []
    assert "No release has been published yet." in result.page.source
