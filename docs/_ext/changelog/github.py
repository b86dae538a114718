"""Fetch the published releases of a GitHub repository with PyGithub.

Fetching is bounded in time: requests time out quickly, rate limits and
server errors are retried a few times only, and every wait between two
attempts is capped, so a build never sleeps until a rate limit resets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import Iterator
from typing import Any

import github
import requests
import urllib3
from github.GithubRetry import GithubRetry
from github.GitRelease import GitRelease

__all__ = ["FetchError", "FetchOptions", "Release", "fetch_releases"]


_UNEXPECTED_ANSWER = (
    github.BadAttributeException,
    AttributeError,
    KeyError,
    TypeError,
    ValueError,
)


class FetchError(Exception):
    """The releases could not be fetched.

    Its message is one line, safe to show: it never contains the token.
    """


@dataclasses.dataclass(frozen=True)
class Release:
    """A published (non-draft) GitHub release."""

    tag: str
    name: str
    body: str
    url: str
    published_at: datetime.datetime
    prerelease: bool

    @property
    def version(self) -> str:
        """The tag without its leading ``v`` (``v1.2.0`` gives ``1.2.0``)."""
        if self.tag[:1] in ("v", "V") and self.tag[1:2].isdigit():
            return self.tag[1:]
        return self.tag

    @property
    def title(self) -> str:
        """The release name, or its tag when it has no name."""
        return self.name.strip() or self.tag

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable representation (see :meth:`from_json`)."""
        data = dataclasses.asdict(self)
        data["published_at"] = self.published_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Release:
        """Build a release from the output of :meth:`to_json`.

        :raises KeyError, TypeError, ValueError: if ``data`` is malformed.
        """
        return cls(
            tag=str(data["tag"]),
            name=str(data["name"]),
            body=str(data["body"]),
            url=str(data["url"]),
            published_at=_aware(datetime.datetime.fromisoformat(data["published_at"])),
            prerelease=bool(data["prerelease"]),
        )


@dataclasses.dataclass(frozen=True)
class FetchOptions:
    """How to reach the GitHub API.

    :param api_url: Root of the REST API (``https://api.github.com``).
    :param token: Token to authenticate with; anonymous access when ``None``.
    :param timeout: Timeout of each HTTP request, in seconds.
    :param retries: How many times a failed request is retried.
    :param max_wait: Total time spent waiting between attempts, in seconds.
    :param per_page: Number of releases requested per page.
    """

    api_url: str = "https://api.github.com"
    token: str | None = dataclasses.field(default=None, repr=False)
    timeout: int = 10
    retries: int = 2
    max_wait: float = 4.0
    per_page: int = 100


def fetch_releases(repository: str, options: FetchOptions) -> list[Release]:
    """Fetch every published release of ``repository``, newest first.

    All pages are read; drafts are skipped; releases are sorted by
    publication date, most recent first.

    :param repository: ``owner/repo``.
    :param options: How to reach the API.
    :raises FetchError: if GitHub could not be reached or answered an error.
    """
    try:
        releases = _fetch(repository, options)
    except github.GithubException as exc:
        raise FetchError(_redact(_describe_github_error(exc), options.token)) from exc
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        message = f"could not reach {options.api_url}: {type(exc).__name__}"
        raise FetchError(_redact(message, options.token)) from exc
    except _UNEXPECTED_ANSWER as exc:
        # PyGithub trusts the payload: a proxy's HTML page, or JSON of
        # another shape, surfaces as one of these.
        message = f"unexpected answer from {options.api_url}: {type(exc).__name__}"
        raise FetchError(_redact(message, options.token)) from exc
    return sorted(releases, key=lambda release: release.published_at, reverse=True)


def _fetch(repository: str, options: FetchOptions) -> list[Release]:
    with _quiet_libraries(), _client(options) as client:
        # A lazy repository object lists its releases without fetching itself.
        releases = client.get_repo(repository).get_releases()
        return [_release(item) for item in releases if not item.draft]


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    # PyGithub and urllib3 log each retry (to stderr when logging is not
    # configured, as in a Sphinx build); the extension reports the outcome
    # itself, in one line.
    loggers = [logging.getLogger(name) for name in ("github", "urllib3")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _client(options: FetchOptions) -> github.Github:
    auth = github.Auth.Token(options.token) if options.token else None
    return github.Github(
        base_url=options.api_url,
        auth=auth,
        timeout=options.timeout,
        retry=_retry(options),
        per_page=options.per_page,
        # Throttling only matters for bursts of writes; we read a few pages.
        seconds_between_requests=None,
        lazy=True,
    )


def _retry(options: FetchOptions) -> CappedRetry:
    return CappedRetry(
        max_sleep=options.max_wait / max(options.retries, 1),
        total=options.retries,
        connect=options.retries,
        # A request that timed out once would most likely time out again.
        read=0,
        backoff_factor=0.5,
        # Hand the last error response to PyGithub, which raises a
        # meaningful exception, rather than a bare "too many retries".
        raise_on_status=False,
    )


class CappedRetry(GithubRetry):
    """A :class:`~github.GithubRetry.GithubRetry` whose waits are capped.

    PyGithub's retry waits until a rate limit resets (up to an hour), and
    urllib3's honours any ``Retry-After``; this one sleeps at most
    ``max_sleep`` seconds between two attempts.
    """

    def __init__(self, *, max_sleep: float, **kwargs: Any) -> None:
        self.max_sleep = max_sleep
        super().__init__(**kwargs)

    def new(self, **kwargs: Any) -> CappedRetry:
        """Return a copy with updated counters, keeping the cap."""
        kwargs["max_sleep"] = self.max_sleep
        retry: CappedRetry = super().new(**kwargs)
        return retry

    def sleep(self, response: Any = None) -> None:
        """Sleep before the next attempt, for at most ``max_sleep`` seconds."""
        delay = min(self._wanted_delay(response), self.max_sleep)
        if delay > 0:
            time.sleep(delay)

    def _wanted_delay(self, response: Any) -> float:
        if self.respect_retry_after_header and response is not None:
            retry_after = self.get_retry_after(response)
            if retry_after:
                return retry_after
        return self.get_backoff_time()


def _release(item: GitRelease) -> Release:
    published = item.published_at or item.created_at
    return Release(
        tag=item.tag_name,
        name=item.name or "",
        body=item.body or "",
        url=item.html_url,
        published_at=_aware(published),
        prerelease=bool(item.prerelease),
    )


def _aware(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def _describe_github_error(exc: github.GithubException) -> str:
    if isinstance(exc, github.BadCredentialsException):
        return "GitHub rejected the token (401 Bad credentials)"
    if _is_rate_limit(exc):
        return f"GitHub API rate limit exceeded ({exc.status})"
    if isinstance(exc, github.UnknownObjectException):
        return "repository not found on GitHub (404)"
    message = " ".join(str(exc.message or "").split())
    return f"GitHub answered {exc.status}" + (f": {message}" if message else "")


def _is_rate_limit(exc: github.GithubException) -> bool:
    if isinstance(exc, github.RateLimitExceededException) or exc.status == 429:
        return True
    # After the retries, the body of a rate-limited answer has been read by
    # the retry logic, and only the headers tell what happened.
    headers = {key.lower(): value for key, value in (exc.headers or {}).items()}
    return exc.status == 403 and headers.get("x-ratelimit-remaining") == "0"


def _redact(message: str, token: str | None) -> str:
    # Belt and braces: no message we build contains the token, but one
    # coming from a library might echo a header back.
    one_line = " ".join(message.split())
    return one_line.replace(token, "***") if token else one_line
