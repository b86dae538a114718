"""The release cache: rebuilds do not call GitHub while the cache is fresh."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import pytest
from changelog.cache import ReleaseCache, cache_key
from changelog.github import Release
from changelog.loader import CACHE_FILE_NAME

from .conftest import BuildChangelog, BuildResult
from .fake_github import Behaviour, FakeGitHub

pytestmark = pytest.mark.sphinx("html", testroot="changelog")

RELEASE = Release(
    tag="v1.0.0",
    name="First",
    body="Notes",
    url="https://github.com/acme/rocket/releases/tag/v1.0.0",
    published_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    prerelease=False,
)


@pytest.fixture
def rocket(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_release("acme/rocket", "v1.0.0", published="2024-01-01T00:00:00Z")
    return fake_github


def cache_file(result: BuildResult) -> Path:
    return Path(result.app.doctreedir) / CACHE_FILE_NAME


def age_cache(result: BuildResult, seconds: float) -> None:
    """Make every entry of the build's cache ``seconds`` older."""
    path = cache_file(result)
    data = json.loads(path.read_text(encoding="utf-8"))
    for entry in data["entries"].values():
        entry["fetched_at"] -= seconds
    path.write_text(json.dumps(data), encoding="utf-8")


def test_the_cache_is_keyed_by_api_url_and_repository(
    rocket: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    result = build_changelog()

    data = json.loads(cache_file(result).read_text(encoding="utf-8"))
    assert list(data["entries"]) == [f"{rocket.url}/repos/acme/rocket"]
    assert [
        release["tag"]
        for release in data["entries"][f"{rocket.url}/repos/acme/rocket"]["releases"]
    ] == ["v1.0.0"]


def test_a_fresh_environment_reuses_the_cache(
    rocket: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    build_changelog()

    second = build_changelog(freshenv=True)

    assert second.page.release_ids == ["release-1.0.0"]
    assert len(rocket.requests) == 1


def test_an_incremental_build_does_not_call_github(
    rocket: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    build_changelog()

    second = build_changelog()

    assert "0 added, 0 changed, 0 removed" in second.status
    assert len(rocket.requests) == 1


def test_a_stale_page_is_refreshed(
    rocket: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    first = build_changelog()
    age_cache(first, 2 * 3600)
    rocket.add_release("acme/rocket", "v1.1.0", published="2024-02-01T00:00:00Z")

    second = build_changelog()

    assert second.page.release_ids == ["release-1.1.0", "release-1.0.0"]
    assert len(rocket.requests) == 2


def test_a_page_built_offline_is_refreshed_when_back_online(
    rocket: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    rocket.behaviour = Behaviour.SERVER_ERROR
    first = build_changelog()
    assert first.page.release_ids == []
    rocket.behaviour = Behaviour.OK

    second = build_changelog()

    assert second.page.release_ids == ["release-1.0.0"]


def test_a_setting_changed_through_the_environment_refreshes_the_page(
    rocket: FakeGitHub,
    build_changelog: BuildChangelog,
    changelog_environ: pytest.MonkeyPatch,
) -> None:
    rocket.add_release(
        "acme/rocket", "v1.1.0rc1", published="2024-02-01T00:00:00Z", prerelease=True
    )
    first = build_changelog()
    changelog_environ.setenv("CHANGELOG_INCLUDE_PRERELEASES", "0")

    second = build_changelog()

    assert first.page.release_ids == ["release-1.1.0rc1", "release-1.0.0"]
    assert second.page.release_ids == ["release-1.0.0"]
    assert len(rocket.requests) == 1


def test_a_stale_cache_is_used_when_github_fails(
    rocket: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    first = build_changelog()
    age_cache(first, 2 * 3600)
    rocket.behaviour = Behaviour.SERVER_ERROR

    second = build_changelog(freshenv=True)

    assert second.warnings == ""
    assert second.page.release_ids == ["release-1.0.0"]
    assert "changelog-unavailable" not in second.page.source
    lines = [line for line in second.status.splitlines() if "could not fetch" in line]
    assert lines == [
        "changelog: could not fetch the releases of acme/rocket (GitHub answered 500: Server Error);"
        " showing the releases cached 120 minutes ago"
    ]


def test_the_cache_can_be_disabled(
    rocket: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    first = build_changelog(changelog_cache_ttl=0)
    build_changelog(freshenv=True, changelog_cache_ttl=0)

    assert len(rocket.requests) == 2
    assert not cache_file(first).exists()


def test_cache_entries_expire(tmp_path: Path) -> None:
    cache = ReleaseCache(tmp_path / "cache.json", ttl=60)
    key = cache_key("https://api.github.com/", "acme/rocket")
    cache.put(key, [RELEASE])

    entry = cache.get_fresh(key)
    assert entry is not None
    assert entry.releases == (RELEASE,)
    assert key == "https://api.github.com/repos/acme/rocket"

    expired = ReleaseCache(tmp_path / "cache.json", ttl=0.01)
    time.sleep(0.02)
    assert expired.get_fresh(key) is None
    assert expired.get(key) == entry


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"version": 0, "entries": {}}',
        '{"version": 1, "entries": {"k": {"fetched_at": 1, "releases": [{"tag": 1}]}}}',
    ],
)
def test_an_unusable_cache_file_is_an_empty_cache(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cache.json"
    path.write_text(content, encoding="utf-8")
    cache = ReleaseCache(path, ttl=60)

    assert cache.get("k") is None

    cache.put("k", [RELEASE])
    assert cache.get("k") is not None
