"""The package's metadata (version, author...), read from its installed distribution."""

from __future__ import annotations

from importlib import metadata
from typing import Any


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
    fields: dict[str, Any] = meta.json
    urls = dict(
        url.split(", ", 1) for url in fields.get("project_url", []) if ", " in url
    )
    return {
        "author": fields.get("author") or fields.get("author_email") or "",
        "email": fields.get("author_email") or "",
        "license": fields.get("license_expression") or fields.get("license") or "MIT",
        "url": urls.get("Homepage", ""),
        "version": fields["version"],
    }
