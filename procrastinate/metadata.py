"""The package's metadata (version, author...), read from its installed distribution."""

from __future__ import annotations

from importlib import metadata


def extract_metadata() -> dict[str, str]:
    """Version, author, email, license and URL; placeholders when not installed."""
    try:
        meta = metadata.metadata("procrastinate")
    except metadata.PackageNotFoundError:
        return {
            "author": "",
            "email": "",
            "license": "MIT",
            "url": "",
            "version": "0.0.0",
        }
    urls = dict(
        url.split(", ", 1) for url in meta.get_all("Project-URL") or [] if ", " in url
    )
    return {
        "author": meta.get("Author") or meta.get("Author-email") or "",
        "email": meta.get("Author-email") or "",
        "license": meta.get("License-Expression") or meta.get("License") or "MIT",
        "url": urls.get("Homepage", ""),
        "version": meta["Version"],
    }
