"""Configuration values of the changelog extension.

A value set in ``conf.py`` wins; the first four are otherwise read from the
environment, which is how CI and ReadTheDocs pass a token without writing it
anywhere:

``changelog_github_token``
    Token for the GitHub API (``CHANGELOG_GITHUB_TOKEN``, then
    ``GITHUB_TOKEN``); anonymous access without one. It is kept in memory
    only: it is removed from the configuration Sphinx pickles.
``changelog_github_api_url``
    Root of the REST API (``CHANGELOG_GITHUB_API_URL``), by default
    ``https://api.github.com``; GitHub Enterprise uses ``https://<host>/api/v3``.
``changelog_include_prereleases``
    Whether pre-releases are shown (``CHANGELOG_INCLUDE_PRERELEASES``), by
    default yes.
``changelog_fail_on_fetch_error``
    Whether failing to fetch the releases fails the build
    (``CHANGELOG_FAIL_ON_FETCH_ERROR``), by default no: the page then links
    to the releases on GitHub, and the build log says why at INFO level.
``changelog_github_timeout``
    Timeout of each request, in whole seconds (10).
``changelog_github_retries``
    How many times a failed request (rate limit, 5xx, refused connection)
    is retried (2).
``changelog_github_max_wait``
    Total seconds spent waiting between retries (4.0), however long GitHub
    asks to wait.
``changelog_cache_ttl``
    Seconds during which fetched releases are reused from the cache in the
    doctree directory (3600); 0 disables the cache.

Environment booleans accept 1/0, true/false, yes/no and on/off.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
import weakref
from collections.abc import Mapping
from typing import Any, Literal

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError

from .github import FetchOptions

__all__ = ["CONFIG_VALUES", "Settings", "register", "resolve", "settings_for"]

DEFAULT_API_URL = "https://api.github.com"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclasses.dataclass(frozen=True)
class _Value:
    default: Any
    types: tuple[type, ...]
    environment: tuple[str, ...] = ()


#: name -> (default, accepted types, environment variables read when unset).
#: A default of ``None`` means "read the environment, then the fallback".
CONFIG_VALUES: dict[str, _Value] = {
    "changelog_github_token": _Value(
        None, (str, type(None)), ("CHANGELOG_GITHUB_TOKEN", "GITHUB_TOKEN")
    ),
    "changelog_github_api_url": _Value(
        None, (str, type(None)), ("CHANGELOG_GITHUB_API_URL",)
    ),
    "changelog_include_prereleases": _Value(
        None, (bool, type(None)), ("CHANGELOG_INCLUDE_PRERELEASES",)
    ),
    "changelog_fail_on_fetch_error": _Value(
        None, (bool, type(None)), ("CHANGELOG_FAIL_ON_FETCH_ERROR",)
    ),
    "changelog_github_timeout": _Value(10, (int,)),
    "changelog_github_retries": _Value(2, (int,)),
    "changelog_github_max_wait": _Value(4.0, (int, float)),
    "changelog_cache_ttl": _Value(3600, (int, float)),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved configuration of the extension."""

    fetch: FetchOptions
    include_prereleases: bool
    fail_on_fetch_error: bool
    cache_ttl: float


_SETTINGS: weakref.WeakKeyDictionary[Config, Settings] = weakref.WeakKeyDictionary()


def register(app: Sphinx) -> None:
    """Declare the configuration values and resolve them once ``conf.py`` is read."""
    for name, value in CONFIG_VALUES.items():
        # The token does not change the output; the others do.
        rebuild: Literal["", "env"] = "" if name == "changelog_github_token" else "env"
        app.add_config_value(name, value.default, rebuild, types=value.types)
    app.connect("config-inited", _on_config_inited)


def _on_config_inited(app: Sphinx, config: Config) -> None:
    settings = _SETTINGS[config] = resolve(config, os.environ)
    # Written back so that Sphinx sees a change made through the environment
    # and re-reads the documents it affects.
    config.changelog_github_api_url = settings.fetch.api_url
    config.changelog_include_prereleases = settings.include_prereleases
    config.changelog_fail_on_fetch_error = settings.fail_on_fetch_error
    # Sphinx pickles the configuration into the build directory: forget the
    # token there, the resolved settings keep it in memory only.
    config.changelog_github_token = None


def settings_for(config: Config) -> Settings:
    """Return the settings resolved for ``config``.

    :raises ConfigError: if a value is invalid.
    """
    settings = _SETTINGS.get(config)
    if settings is None:
        settings = _SETTINGS[config] = resolve(config, os.environ)
    return settings


def resolve(config: Config, environ: Mapping[str, str]) -> Settings:
    """Resolve the configuration, reading ``environ`` for unset values.

    :raises ConfigError: if a value is invalid.
    """
    api_url = _api_url(
        _lookup(config, environ, "changelog_github_api_url") or DEFAULT_API_URL
    )
    fetch = FetchOptions(
        api_url=api_url,
        token=_lookup(config, environ, "changelog_github_token") or None,
        timeout=_positive_int(config, "changelog_github_timeout"),
        retries=max(0, int(config.changelog_github_retries)),
        max_wait=max(0.0, float(config.changelog_github_max_wait)),
    )
    return Settings(
        fetch=fetch,
        include_prereleases=_boolean(
            config, environ, "changelog_include_prereleases", default=True
        ),
        fail_on_fetch_error=_boolean(
            config, environ, "changelog_fail_on_fetch_error", default=False
        ),
        cache_ttl=max(0.0, float(config.changelog_cache_ttl)),
    )


def _lookup(config: Config, environ: Mapping[str, str], name: str) -> Any:
    value = getattr(config, name)
    if value is not None:
        return value
    for variable in CONFIG_VALUES[name].environment:
        if environ.get(variable):
            return environ[variable]
    return None


def _boolean(
    config: Config, environ: Mapping[str, str], name: str, *, default: bool
) -> bool:
    value = _lookup(config, environ, name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    variables = " or ".join(CONFIG_VALUES[name].environment)
    raise ConfigError(
        f"{variables} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}"
    )


def _api_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(
            f"changelog_github_api_url must be an http(s) URL such as {DEFAULT_API_URL}, got {value!r}"
        )
    return value.rstrip("/")


def _positive_int(config: Config, name: str) -> int:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return value
