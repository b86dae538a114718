"""A small JSON file caching the releases fetched from GitHub.

Live rebuilds (``sphinx-autobuild``) would otherwise call GitHub each time
the changelog page is read. Entries are keyed by API URL and repository;
the token is never stored.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .github import Release

__all__ = ["CacheEntry", "ReleaseCache", "cache_key"]

_FORMAT_VERSION = 1


def cache_key(api_url: str, repository: str) -> str:
    """Return the key of the releases of ``repository`` served by ``api_url``."""
    return f"{api_url.rstrip('/')}/repos/{repository}"


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """Releases of one repository, and when they were fetched (epoch seconds)."""

    fetched_at: float
    releases: tuple[Release, ...]

    def age(self) -> float:
        """Return how many seconds ago the releases were fetched."""
        return time.time() - self.fetched_at


class ReleaseCache:
    """Releases stored in a JSON file, with a time to live.

    A missing, unreadable or malformed file is an empty cache: the cache only
    ever saves requests, it never fails a build.

    :param path: The JSON file.
    :param ttl: Seconds during which an entry is fresh; 0 disables the cache.
    """

    def __init__(self, path: Path, ttl: float) -> None:
        self.path = path
        self.ttl = ttl

    def get(self, key: str) -> CacheEntry | None:
        """Return the entry stored under ``key``, fresh or stale, if any."""
        raw = self._load().get(key)
        if not isinstance(raw, dict):
            return None
        try:
            releases = tuple(Release.from_json(item) for item in raw["releases"])
            return CacheEntry(fetched_at=float(raw["fetched_at"]), releases=releases)
        except (KeyError, TypeError, ValueError):
            return None

    def get_fresh(self, key: str) -> CacheEntry | None:
        """Return the entry stored under ``key`` if it is younger than the TTL."""
        entry = self.get(key)
        if entry is None or not self.is_fresh(entry):
            return None
        return entry

    def is_fresh(self, entry: CacheEntry) -> bool:
        """Tell whether ``entry`` is younger than the TTL."""
        return 0 <= entry.age() < self.ttl

    def put(self, key: str, releases: list[Release]) -> None:
        """Store ``releases`` under ``key``, fetched now.

        :raises OSError: if the file cannot be written.
        """
        entries = self._load()
        entries[key] = {
            "fetched_at": time.time(),
            "releases": [release.to_json() for release in releases],
        }
        self._write({"version": _FORMAT_VERSION, "entries": entries})

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _FORMAT_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so that a concurrent reader never sees half a file.
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(data, file)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
