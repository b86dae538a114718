"""Remember which documents show releases, to refresh them when stale.

Sphinx only re-reads a document when its source changes, so without this a
changelog rendered offline (or an hour ago) would stay as it is in every
incremental build. A document is re-read when the cached releases it shows
are missing or older than the cache TTL.
"""

from __future__ import annotations

from collections.abc import Set

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from .config import settings_for
from .loader import cache_for

__all__ = ["merge_info", "note_release_source", "outdated_documents", "purge_document"]

_ATTRIBUTE = "changelog_release_sources"


def _sources(env: BuildEnvironment) -> dict[str, set[str]]:
    sources: dict[str, set[str]] | None = getattr(env, _ATTRIBUTE, None)
    if sources is None:
        sources = {}
        setattr(env, _ATTRIBUTE, sources)
    return sources


def note_release_source(env: BuildEnvironment, docname: str, key: str) -> None:
    """Record that ``docname`` shows the releases cached under ``key``."""
    _sources(env).setdefault(docname, set()).add(key)


def purge_document(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    """Forget ``docname`` (``env-purge-doc`` handler)."""
    _sources(env).pop(docname, None)


def merge_info(
    app: Sphinx, env: BuildEnvironment, docnames: Set[str], other: BuildEnvironment
) -> None:
    """Merge what a parallel reader recorded (``env-merge-info`` handler)."""
    theirs = _sources(other)
    ours = _sources(env)
    for docname in docnames:
        if docname in theirs:
            ours[docname] = set(theirs[docname])


def outdated_documents(
    app: Sphinx,
    env: BuildEnvironment,
    added: Set[str],
    changed: Set[str],
    removed: Set[str],
) -> list[str]:
    """Return documents whose releases are stale (``env-get-outdated`` handler)."""
    cache = cache_for(app.doctreedir, settings_for(app.config))
    return [
        docname
        for docname, keys in _sources(env).items()
        if docname not in removed and any(cache.get_fresh(key) is None for key in keys)
    ]
