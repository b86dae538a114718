"""Tests of fetching releases with PyGithub, against the fake GitHub API."""

from __future__ import annotations

import datetime
import time

import pytest
from changelog.github import FetchError, FetchOptions, Release, fetch_releases

from .fake_github import Behaviour, FakeGitHub, refused_url

TOKEN = "ghp_fetchSecret0123456789"
REPOSITORY = "acme/rocket"


def options(fake: FakeGitHub | str, **overrides: object) -> FetchOptions:
    """Fetch options pointing at ``fake``, with waits of ~0 seconds."""
    api_url = fake if isinstance(fake, str) else fake.url
    values: dict[str, object] = {"api_url": api_url, "max_wait": 0.0, "timeout": 5}
    values.update(overrides)
    return FetchOptions(**values)  # type: ignore[arg-type]


def fail_to_fetch(fake: FakeGitHub | str, **overrides: object) -> FetchError:
    with pytest.raises(FetchError) as excinfo:
        fetch_releases(REPOSITORY, options(fake, **overrides))
    return excinfo.value


def test_all_pages_are_read(fake_github: FakeGitHub) -> None:
    for number in range(5):
        fake_github.add_release(
            REPOSITORY, f"v1.{number}.0", published=f"2024-0{number + 1}-01T00:00:00Z"
        )

    releases = fetch_releases(REPOSITORY, options(fake_github, per_page=2))

    assert len(releases) == 5
    requests = fake_github.release_requests()
    assert [request.query.get("page", "1") for request in requests] == ["1", "2", "3"]
    assert {request.query["per_page"] for request in requests} == {"2"}


def test_drafts_are_skipped(fake_github: FakeGitHub) -> None:
    fake_github.add_release(REPOSITORY, "v1.0.0", published="2024-01-01T00:00:00Z")
    fake_github.add_release(
        REPOSITORY, "v2.0.0", published="2024-02-01T00:00:00Z", draft=True
    )

    releases = fetch_releases(REPOSITORY, options(fake_github))

    assert [release.tag for release in releases] == ["v1.0.0"]


def test_newest_first_by_publication_date(fake_github: FakeGitHub) -> None:
    # GitHub lists by creation; a prerelease published before the final
    # release must come after it.
    fake_github.add_release(REPOSITORY, "v2.0.0", published="2024-03-01T00:00:00Z")
    fake_github.add_release(REPOSITORY, "v1.0.0", published="2023-01-01T00:00:00Z")
    fake_github.add_release(
        REPOSITORY, "v2.0.0rc1", published="2024-02-01T00:00:00Z", prerelease=True
    )
    fake_github.add_release(REPOSITORY, "v2.1.0", published="2024-04-01T00:00:00Z")

    releases = fetch_releases(REPOSITORY, options(fake_github))

    assert [release.tag for release in releases] == [
        "v2.1.0",
        "v2.0.0",
        "v2.0.0rc1",
        "v1.0.0",
    ]


def test_release_fields(fake_github: FakeGitHub) -> None:
    fake_github.add_release(
        REPOSITORY,
        "v1.2.0",
        published="2024-05-02T10:30:00Z",
        name="Rocket 1.2",
        body="## Notes",
        prerelease=True,
    )
    fake_github.add_release(
        REPOSITORY, "1.1.0", published="2024-01-01T00:00:00Z", name=None, body=None
    )

    named, unnamed = fetch_releases(REPOSITORY, options(fake_github))

    assert named == Release(
        tag="v1.2.0",
        name="Rocket 1.2",
        body="## Notes",
        url="https://github.com/acme/rocket/releases/tag/v1.2.0",
        published_at=datetime.datetime(
            2024, 5, 2, 10, 30, tzinfo=datetime.timezone.utc
        ),
        prerelease=True,
    )
    assert (named.version, named.title) == ("1.2.0", "Rocket 1.2")
    assert (unnamed.version, unnamed.title, unnamed.body) == ("1.1.0", "1.1.0", "")


def test_release_round_trips_through_json() -> None:
    release = Release(
        tag="v1.0.0",
        name="",
        body="x",
        url="https://github.com/acme/rocket/releases/tag/v1.0.0",
        published_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        prerelease=False,
    )

    assert Release.from_json(release.to_json()) == release


def test_token_is_sent(fake_github: FakeGitHub) -> None:
    fake_github.add_release(REPOSITORY, "v1.0.0", published="2024-01-01T00:00:00Z")

    fetch_releases(REPOSITORY, options(fake_github, token=TOKEN))

    assert [request.authorization for request in fake_github.requests] == [
        f"token {TOKEN}"
    ]


def test_anonymous_without_token(fake_github: FakeGitHub) -> None:
    fake_github.add_release(REPOSITORY, "v1.0.0", published="2024-01-01T00:00:00Z")

    fetch_releases(REPOSITORY, options(fake_github, token=None))

    assert [request.authorization for request in fake_github.requests] == [None]


def test_bad_credentials(fake_github: FakeGitHub) -> None:
    fake_github.token = "the-right-token"

    error = fail_to_fetch(fake_github, token=TOKEN)

    assert str(error) == "GitHub rejected the token (401 Bad credentials)"
    assert len(fake_github.requests) == 1


@pytest.mark.parametrize(
    "behaviour", [Behaviour.RATE_LIMITED, Behaviour.TOO_MANY_REQUESTS]
)
def test_rate_limits_are_retried_a_bounded_number_of_times_quickly(
    fake_github: FakeGitHub, behaviour: Behaviour
) -> None:
    fake_github.behaviour = behaviour
    start = time.monotonic()

    error = fail_to_fetch(fake_github, retries=2)

    assert time.monotonic() - start < 5
    assert "rate limit exceeded" in str(error)
    assert len(fake_github.requests) == 3


def test_waiting_for_a_rate_limit_is_capped(fake_github: FakeGitHub) -> None:
    # GitHub asks to wait until the reset (here about 2 seconds) each time.
    fake_github.behaviour = Behaviour.RATE_LIMITED
    start = time.monotonic()

    fail_to_fetch(fake_github, retries=2, max_wait=0.4)

    assert 0.3 < time.monotonic() - start < 1.5
    assert len(fake_github.requests) == 3


def test_a_transient_rate_limit_is_overcome(fake_github: FakeGitHub) -> None:
    fake_github.add_release(REPOSITORY, "v1.0.0", published="2024-01-01T00:00:00Z")
    fake_github.behaviour = Behaviour.TOO_MANY_REQUESTS
    fake_github.failures = 1

    releases = fetch_releases(REPOSITORY, options(fake_github))

    assert [release.tag for release in releases] == ["v1.0.0"]
    assert len(fake_github.requests) == 2


def test_server_errors(fake_github: FakeGitHub) -> None:
    fake_github.behaviour = Behaviour.SERVER_ERROR

    error = fail_to_fetch(fake_github, retries=1)

    assert str(error) == "GitHub answered 500: Server Error"
    assert len(fake_github.requests) == 2


def test_an_answer_that_is_not_the_api(fake_github: FakeGitHub) -> None:
    fake_github.behaviour = Behaviour.NOT_JSON

    error = fail_to_fetch(fake_github)

    assert str(error) == f"unexpected answer from {fake_github.url}: TypeError"


def test_unknown_repository(fake_github: FakeGitHub) -> None:
    assert str(fail_to_fetch(fake_github)) == "repository not found on GitHub (404)"


def test_refused_connection() -> None:
    url = refused_url()

    error = fail_to_fetch(url)

    assert str(error) == f"could not reach {url}: ConnectionError"


# Slow: waits out a timeout of one second, on purpose.
@pytest.mark.slow
def test_a_hanging_server_is_given_up_on_after_the_timeout(
    fake_github: FakeGitHub,
) -> None:
    fake_github.behaviour = Behaviour.HANG
    start = time.monotonic()

    error = fail_to_fetch(fake_github, timeout=1, retries=2)

    assert time.monotonic() - start < 1.4
    assert str(error).startswith(f"could not reach {fake_github.url}")
    # A request that timed out is not retried.
    assert len(fake_github.requests) == 1


@pytest.mark.parametrize(
    "behaviour",
    [Behaviour.BAD_CREDENTIALS, Behaviour.RATE_LIMITED, Behaviour.SERVER_ERROR],
)
def test_the_token_never_appears_in_errors(
    fake_github: FakeGitHub, behaviour: Behaviour
) -> None:
    fake_github.behaviour = behaviour

    error = fail_to_fetch(fake_github, token=TOKEN)

    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    assert TOKEN not in repr(options(fake_github, token=TOKEN))
