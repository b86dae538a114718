"""Builds where GitHub cannot be reached or refuses to answer.

The page must then link to the release notes, the log must say why in one
INFO line, and the build must still pass with warnings as errors, unless
``changelog_fail_on_fetch_error`` asks for an error.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from changelog import ChangelogError

from .conftest import BuildChangelog, BuildResult
from .fake_github import Behaviour, FakeGitHub, refused_url

pytestmark = pytest.mark.sphinx("html", testroot="changelog")

TOKEN = "ghp_buildSecret9876543210"
RELEASES_URL = "https://github.com/acme/rocket/releases"
CHANGELOG_URL = "https://rocket.example.org/en/stable/changelog.html"


@pytest.fixture
def offline(changelog_environ: pytest.MonkeyPatch) -> str:
    """Point the builds at a port where nothing listens."""
    url = refused_url()
    changelog_environ.setenv("CHANGELOG_GITHUB_API_URL", url)
    return url


def assert_fallback(result: BuildResult, reason: str) -> None:
    """Check the note on the page, the single INFO line, and no warning."""
    page = result.page
    assert result.warnings == ""
    assert page.release_ids == []
    assert '<div class="changelog-unavailable admonition note">' in page.source
    hrefs = [link.href for link in page.links]
    assert RELEASES_URL in hrefs
    assert CHANGELOG_URL in hrefs
    lines = [line for line in result.status.splitlines() if "could not fetch" in line]
    assert lines == [
        f"changelog: could not fetch the releases of acme/rocket ({reason});"
        f" the page links to {RELEASES_URL} instead"
    ]


def assert_no_token(result: BuildResult) -> None:
    """Check that the token is nowhere: output, logs, caches, pickles."""
    assert TOKEN not in result.status
    assert TOKEN not in result.warnings
    build_files = [
        path for path in Path(result.app.outdir).parent.rglob("*") if path.is_file()
    ]
    assert build_files
    for path in build_files:
        assert TOKEN.encode() not in path.read_bytes(), path


def test_offline_build_shows_a_note_and_passes(
    offline: str, build_changelog: BuildChangelog
) -> None:
    result = build_changelog()

    assert_fallback(result, f"could not reach {offline}: ConnectionError")


def test_offline_build_fails_when_asked_to(
    offline: str, build_changelog: BuildChangelog
) -> None:
    with pytest.raises(
        ChangelogError, match="could not fetch the releases of acme/rocket"
    ):
        build_changelog(changelog_fail_on_fetch_error=True)


def test_failing_on_fetch_errors_through_the_environment(
    offline: str, build_changelog: BuildChangelog, changelog_environ: pytest.MonkeyPatch
) -> None:
    changelog_environ.setenv("CHANGELOG_FAIL_ON_FETCH_ERROR", "1")

    with pytest.raises(ChangelogError):
        build_changelog()


def test_bad_credentials(
    fake_github: FakeGitHub,
    build_changelog: BuildChangelog,
    changelog_environ: pytest.MonkeyPatch,
) -> None:
    fake_github.token = "the-right-one"
    changelog_environ.setenv("CHANGELOG_GITHUB_TOKEN", TOKEN)

    result = build_changelog()

    assert_fallback(result, "GitHub rejected the token (401 Bad credentials)")
    assert [request.authorization for request in fake_github.requests] == [
        f"token {TOKEN}"
    ]
    assert_no_token(result)


def test_rate_limit_is_retried_quickly_then_given_up(
    fake_github: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    fake_github.behaviour = Behaviour.RATE_LIMITED
    start = time.monotonic()

    result = build_changelog()

    assert time.monotonic() - start < 5
    assert len(fake_github.requests) == 3
    assert_fallback(result, "GitHub API rate limit exceeded (403)")


def test_too_many_requests(
    fake_github: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    fake_github.behaviour = Behaviour.TOO_MANY_REQUESTS

    result = build_changelog()

    assert len(fake_github.requests) == 3
    assert_fallback(result, "GitHub API rate limit exceeded (429)")


def test_server_error(fake_github: FakeGitHub, build_changelog: BuildChangelog) -> None:
    fake_github.behaviour = Behaviour.SERVER_ERROR

    result = build_changelog()

    assert_fallback(result, "GitHub answered 500: Server Error")


def test_server_error_fails_when_asked_to(
    fake_github: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    fake_github.behaviour = Behaviour.SERVER_ERROR

    with pytest.raises(ChangelogError, match=r"GitHub answered 500"):
        build_changelog(changelog_fail_on_fetch_error=True)


@pytest.mark.parametrize("variable", ["CHANGELOG_GITHUB_TOKEN", "GITHUB_TOKEN"])
def test_token_from_the_environment_never_leaks(
    fake_github: FakeGitHub,
    build_changelog: BuildChangelog,
    changelog_environ: pytest.MonkeyPatch,
    variable: str,
) -> None:
    fake_github.add_release(
        "acme/rocket",
        "v1.0.0",
        published="2024-01-01T00:00:00Z",
        body=f"Not {TOKEN[:8]}",
    )
    changelog_environ.setenv(variable, TOKEN)

    result = build_changelog()

    assert result.page.release_ids == ["release-1.0.0"]
    assert [request.authorization for request in fake_github.requests] == [
        f"token {TOKEN}"
    ]
    assert_no_token(result)


def test_token_from_conf_py_never_leaks(
    fake_github: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    fake_github.add_release("acme/rocket", "v1.0.0", published="2024-01-01T00:00:00Z")

    result = build_changelog(changelog_github_token=TOKEN)

    assert [request.authorization for request in fake_github.requests] == [
        f"token {TOKEN}"
    ]
    # The pickled configuration must not hold it.
    assert result.app.config.changelog_github_token is None
    assert_no_token(result)


def test_the_dedicated_token_variable_wins(
    fake_github: FakeGitHub,
    build_changelog: BuildChangelog,
    changelog_environ: pytest.MonkeyPatch,
) -> None:
    fake_github.add_release("acme/rocket", "v1.0.0", published="2024-01-01T00:00:00Z")
    changelog_environ.setenv("GITHUB_TOKEN", "ghp_generic")
    changelog_environ.setenv("CHANGELOG_GITHUB_TOKEN", TOKEN)

    build_changelog()

    assert [request.authorization for request in fake_github.requests] == [
        f"token {TOKEN}"
    ]


def test_anonymous_without_a_token(
    fake_github: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    fake_github.add_release("acme/rocket", "v1.0.0", published="2024-01-01T00:00:00Z")

    result = build_changelog()

    assert result.page.release_ids == ["release-1.0.0"]
    assert [request.authorization for request in fake_github.requests] == [None]
