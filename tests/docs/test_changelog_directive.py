"""The directive's options, the configuration values, and this project's use."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import cast

import pytest
from changelog.config import Settings, resolve
from changelog.directive import changelog_url, github_releases, pypi_project
from sphinx.config import Config
from sphinx.errors import ConfigError

from .conftest import BuildChangelog
from .fake_github import FakeGitHub

REPOSITORY_ROOT = Path(__file__).parents[2]

GITHUB_FORM = "expected https://github.com/<owner>/<repo>/releases"
PYPI_FORM = "expected https://pypi.org/project/<name>"


@pytest.mark.sphinx("html", testroot="changelog-options")
def test_malformed_options_are_directive_errors(
    fake_github: FakeGitHub, build_changelog: BuildChangelog
) -> None:
    result = build_changelog()

    warnings = re.sub(r"\x1b\[[0-9;]*m", "", result.warnings)
    errors = re.findall(
        r"(index\.md|rst\.rst):(\d+): ERROR: (.*?)(?: \[docutils\])?$",
        warnings,
        re.MULTILINE,
    )
    assert errors == [
        (
            "index.md",
            "3",
            "Invalid :github: option of the \"changelog\" directive: 'https://github.com/acme/rocket'; "
            + GITHUB_FORM,
        ),
        (
            "index.md",
            "7",
            "Invalid :pypi: option of the \"changelog\" directive: 'https://pypi.org/rocket'; "
            + PYPI_FORM,
        ),
        (
            "index.md",
            "12",
            "Invalid :changelog-url: option of the \"changelog\" directive: 'rocket.example.org/changelog';"
            " expected an http(s) URL such as https://example.org/changelog.html",
        ),
        (
            "index.md",
            "17",
            'The "changelog" directive needs a :github: option: https://github.com/<owner>/<repo>/releases',
        ),
        (
            "index.md",
            "21",
            "Invalid :github: option of the \"changelog\" directive: ''; "
            + GITHUB_FORM,
        ),
        (
            "rst.rst",
            "6",
            'Invalid :github: option of the "changelog" directive:'
            " 'git@github.com:acme/rocket.git'; " + GITHUB_FORM,
        ),
    ]
    assert fake_github.requests == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "https://github.com/acme/rocket/releases",
            ("https://github.com", "acme/rocket"),
        ),
        (
            "https://github.com/acme/rocket.py/releases/",
            ("https://github.com", "acme/rocket.py"),
        ),
        (
            " https://ghe.example.com/acme/rocket/releases ",
            ("https://ghe.example.com", "acme/rocket"),
        ),
    ],
)
def test_github_option(value: str, expected: tuple[str, str]) -> None:
    assert github_releases(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "github.com/acme/rocket/releases",
        "https://github.com/acme/rocket",
        "https://github.com/acme/rocket/releases/tag/v1.0.0",
        "https://github.com/acme/releases",
        "https://github.com/acme/rocket/releases?page=2",
        "ftp://github.com/acme/rocket/releases",
    ],
)
def test_malformed_github_option(value: str | None) -> None:
    with pytest.raises(ValueError, match=re.escape(GITHUB_FORM)):
        github_releases(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "https://pypi.org/project/procrastinate/",
            "https://pypi.org/project/procrastinate",
        ),
        (
            "https://pypi.org/project/zope.interface",
            "https://pypi.org/project/zope.interface",
        ),
        (
            "https://test.pypi.org/project/rocket",
            "https://test.pypi.org/project/rocket",
        ),
    ],
)
def test_pypi_option(value: str, expected: str) -> None:
    assert pypi_project(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "pypi.org/project/rocket",
        "https://pypi.org/rocket",
        "https://pypi.org/project/",
        "https://pypi.org/project/a/b",
    ],
)
def test_malformed_pypi_option(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(PYPI_FORM)):
        pypi_project(value)


def test_changelog_url_option() -> None:
    url = "https://procrastinate.readthedocs.io/en/stable/changelog.html"

    assert changelog_url(url) == url
    with pytest.raises(ValueError, match="expected an http"):
        changelog_url("procrastinate.readthedocs.io")


def test_this_project_changelog() -> None:
    changelog = (REPOSITORY_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    page = (REPOSITORY_ROOT / "docs" / "changelog.md").read_text(encoding="utf-8")

    assert changelog.startswith("# Changelog\n")
    block = re.search(r"```\{changelog\}\n(.*?)```", changelog, re.DOTALL)
    assert block is not None
    options = dict(re.findall(r"^:([\w-]+): (\S+)$", block.group(1), re.MULTILINE))
    assert github_releases(options["github"]) == (
        "https://github.com",
        "procrastinate-org/procrastinate",
    )
    assert pypi_project(options["pypi"]) == "https://pypi.org/project/procrastinate"
    assert changelog_url(options["changelog-url"]).startswith(
        "https://procrastinate.readthedocs.io/"
    )
    assert "```{include} ../CHANGELOG.md\n```" in page


def make_config(**values: object) -> Config:
    """A stand-in for Sphinx's configuration, with the extension's defaults."""
    defaults: dict[str, object] = {
        "changelog_github_token": None,
        "changelog_github_api_url": None,
        "changelog_include_prereleases": None,
        "changelog_fail_on_fetch_error": None,
        "changelog_github_timeout": 10,
        "changelog_github_retries": 2,
        "changelog_github_max_wait": 4.0,
        "changelog_cache_ttl": 3600,
    }
    return cast(Config, types.SimpleNamespace(**{**defaults, **values}))


def test_default_settings() -> None:
    settings = resolve(make_config(), {})

    assert settings == Settings(
        fetch=settings.fetch,
        include_prereleases=True,
        fail_on_fetch_error=False,
        cache_ttl=3600,
    )
    assert settings.fetch.api_url == "https://api.github.com"
    assert settings.fetch.token is None
    assert (
        settings.fetch.timeout,
        settings.fetch.retries,
        settings.fetch.max_wait,
    ) == (10, 2, 4.0)


def test_settings_from_the_environment() -> None:
    environ = {
        "GITHUB_TOKEN": "generic",
        "CHANGELOG_GITHUB_TOKEN": "dedicated",
        "CHANGELOG_GITHUB_API_URL": "https://ghe.example.com/api/v3/",
        "CHANGELOG_INCLUDE_PRERELEASES": "no",
        "CHANGELOG_FAIL_ON_FETCH_ERROR": "True",
    }

    settings = resolve(make_config(), environ)

    assert settings.fetch.token == "dedicated"
    assert settings.fetch.api_url == "https://ghe.example.com/api/v3"
    assert settings.include_prereleases is False
    assert settings.fail_on_fetch_error is True


def test_conf_py_wins_over_the_environment() -> None:
    config = make_config(
        changelog_github_token="from-conf",
        changelog_include_prereleases=True,
        changelog_fail_on_fetch_error=False,
    )
    environ = {
        "GITHUB_TOKEN": "from-env",
        "CHANGELOG_INCLUDE_PRERELEASES": "0",
        "CHANGELOG_FAIL_ON_FETCH_ERROR": "1",
    }

    settings = resolve(config, environ)

    assert settings.fetch.token == "from-conf"
    assert settings.include_prereleases is True
    assert settings.fail_on_fetch_error is False


def test_github_token_is_the_fallback() -> None:
    assert resolve(make_config(), {"GITHUB_TOKEN": "generic"}).fetch.token == "generic"


@pytest.mark.parametrize(
    ("config", "environ", "message"),
    [
        (
            {},
            {"CHANGELOG_FAIL_ON_FETCH_ERROR": "maybe"},
            "CHANGELOG_FAIL_ON_FETCH_ERROR must be a boolean",
        ),
        (
            {},
            {"CHANGELOG_GITHUB_API_URL": "api.github.com"},
            "changelog_github_api_url must be an http",
        ),
        (
            {"changelog_github_timeout": 0},
            {},
            "changelog_github_timeout must be a positive number",
        ),
    ],
)
def test_invalid_settings(
    config: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(make_config(**config), environ)
