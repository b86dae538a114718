"""Get the releases of a repository: from the cache, or from GitHub."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .cache import ReleaseCache, cache_key
from .config import Settings
from .github import FetchError, Release, fetch_releases

__all__ = ["CACHE_FILE_NAME", "Outcome", "cache_for", "load_releases"]

#: Name of the cache file, in the doctree directory of the build.
CACHE_FILE_NAME = "changelog-cache.json"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What :func:`load_releases` got.

    :param releases: The releases, newest first; ``None`` if none could be had.
    :param error: Why fetching failed, if it did.
    :param age: Seconds since the releases were fetched, when they come from
        a stale cache entry after a failed fetch.
    """

    releases: tuple[Release, ...] | None
    error: str | None = None
    age: float | None = None


def cache_for(doctreedir: str | Path, settings: Settings) -> ReleaseCache:
    """Return the release cache of the build using ``doctreedir``."""
    return ReleaseCache(Path(doctreedir) / CACHE_FILE_NAME, settings.cache_ttl)


def load_releases(repository: str, settings: Settings, cache: ReleaseCache) -> Outcome:
    """Return the releases of ``repository``, fetching them when not fresh in cache.

    When fetching fails, a stale cache entry is used if there is one. It
    never raises: failures are described in :attr:`Outcome.error`.
    """
    key = cache_key(settings.fetch.api_url, repository)
    fresh = cache.get_fresh(key)
    if fresh is not None:
        return Outcome(releases=fresh.releases)
    try:
        releases = fetch_releases(repository, settings.fetch)
    except FetchError as exc:
        stale = cache.get(key)
        if stale is None:
            return Outcome(releases=None, error=str(exc))
        return Outcome(releases=stale.releases, error=str(exc), age=stale.age())
    _store(cache, key, releases)
    return Outcome(releases=tuple(releases))


def _store(cache: ReleaseCache, key: str, releases: list[Release]) -> None:
    if cache.ttl <= 0:
        return
    try:
        cache.put(key, releases)
    except OSError:
        # A read-only build directory only costs a request next time.
        return
