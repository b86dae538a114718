"""The documentation site builds offline, without a single warning, and is complete:
every page, every public object of the API and every command of the command line."""

from __future__ import annotations

import argparse
import html
import inspect
import re

import pytest

import procrastinate
from procrastinate import cli, exceptions

from .conftest_site import DOCS, BuiltSite, built_site, site_build  # noqa: F401

PAGES = [
    "index",
    "quickstart",
    *(
        f"tutorial/{name}"
        for name in (
            "index",
            "project",
            "web",
            "retries",
            "locks",
            "periodic",
            "watching",
            "deploying",
        )
    ),
    "howto/index",
    *(
        f"howto/basics/{name}"
        for name in (
            "app",
            "connector",
            "open_connection",
            "tasks",
            "defer",
            "batch_defer",
            "worker",
            "command_line",
        )
    ),
    *(
        f"howto/advanced/{name}"
        for name in (
            "blueprints",
            "cancellation",
            "context",
            "cron",
            "custom_json_encoder_decoder",
            "events",
            "locks",
            "middleware",
            "priorities",
            "queueing_locks",
            "retry",
            "schedule",
            "shutdown",
            "sphinx",
            "sync_defer",
        )
    ),
    *(
        f"howto/production/{name}"
        for name in (
            "concurrency",
            "connections",
            "delete_finished_jobs",
            "deployment",
            "external_connection",
            "logging",
            "migrations",
            "monitoring",
            "retry_stalled_jobs",
            "schema",
            "testing",
        )
    ),
    "reference/index",
    "reference/api",
    "reference/cli",
    "reference/database",
    "discussions",
    "glossary",
    "contributing",
    "demos",
    "changelog",
]

# Public objects that are not in ``procrastinate.__all__``, by their documented name.
OTHER_OBJECTS = [
    "procrastinate.tasks.Task",
    "procrastinate.tasks.Task.defer",
    "procrastinate.tasks.Task.defer_async",
    "procrastinate.tasks.Task.configure",
    "procrastinate.tasks.Task.batch_defer",
    "procrastinate.jobs.JobDeferrer",
    "procrastinate.jobs.Job",
    "procrastinate.jobs.Status",
    "procrastinate.jobs.DeleteJobCondition",
    "procrastinate.job_context.AbortReason",
    "procrastinate.connector.BaseAsyncConnector",
    "procrastinate.manager.JobManager",
    "procrastinate.manager.JobManager.retry_job_by_id",
    "procrastinate.manager.JobManager.cancel_job_by_id",
    "procrastinate.manager.JobManager.get_stalled_jobs",
    "procrastinate.worker.Worker",
    "procrastinate.middleware.TaskMiddleware",
    "procrastinate.middleware.WorkerMiddleware",
    "procrastinate.middleware.compose",
    "procrastinate.builtin_tasks.remove_old_jobs",
    "procrastinate.schema.SchemaManager",
    "procrastinate.App.run_worker",
    "procrastinate.App.task",
    "procrastinate.App.periodic",
]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.create_parser()
    (action,) = (
        action
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return dict(action.choices)


def text_of(page: str) -> str:
    """The text of a page, without tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_build_has_no_warnings(site_build: BuiltSite) -> None:  # noqa: F811
    assert site_build.returncode == 0, site_build.output[-6000:]
    problems = [
        line
        for line in site_build.output.splitlines()
        if "WARNING" in line or "ERROR" in line
    ]
    assert not problems, "\n".join(problems)


def test_build_is_offline(built_site: BuiltSite) -> None:  # noqa: F811
    # The changelog could not reach GitHub and says where the notes are instead.
    changelog = text_of(built_site.page("changelog"))
    assert "github.com/procrastinate-org/procrastinate/releases" in (
        built_site.page("changelog")
    )
    assert "Changelog" in changelog


@pytest.mark.parametrize("page", PAGES)
def test_page_exists(built_site: BuiltSite, page: str) -> None:  # noqa: F811
    content = built_site.page(page)
    assert "<h1>" in content


def test_pages_are_in_the_navigation(built_site: BuiltSite) -> None:  # noqa: F811
    navigation = built_site.page("index")
    for page in PAGES:
        if page != "index":
            assert f'href="{page}.html"' in navigation, page


@pytest.mark.parametrize("name", procrastinate.__all__)
def test_public_name_is_documented(built_site: BuiltSite, name: str) -> None:  # noqa: F811
    assert f'id="procrastinate.{name}"' in built_site.page("reference/api")


@pytest.mark.parametrize("name", OTHER_OBJECTS)
def test_other_object_is_documented(built_site: BuiltSite, name: str) -> None:  # noqa: F811
    assert f'id="{name}"' in built_site.page("reference/api")


def test_every_exception_is_documented(built_site: BuiltSite) -> None:  # noqa: F811
    api = built_site.page("reference/api")
    classes = [
        name
        for name, obj in vars(exceptions).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == exceptions.__name__
    ]
    assert classes
    missing = [
        name for name in classes if f'id="procrastinate.exceptions.{name}"' not in api
    ]
    assert not missing


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_cli_page_shows_each_command_help(
    built_site: BuiltSite,  # noqa: F811
    command: str,
) -> None:
    page = text_of(built_site.page("reference/cli"))
    assert f"usage: procrastinate {command}" in page
    parser = subcommands()[command]
    assert parser.description
    assert parser.description in " ".join(page.split())
    options = [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    ]
    for option in options:
        assert option in page, option


def test_cli_page_shows_the_main_help(built_site: BuiltSite) -> None:  # noqa: F811
    page = text_of(built_site.page("reference/cli"))
    assert "usage: procrastinate [-h]" in page
    for option in ("--app", "--verbose", "--log-format", "--log-format-style"):
        assert option in page


def test_cli_page_lists_every_environment_variable(
    built_site: BuiltSite,  # noqa: F811
) -> None:
    helps = cli.create_parser().format_help() + "".join(
        parser.format_help() for parser in subcommands().values()
    )
    variables = set(re.findall(r"PROCRASTINATE_[A-Z_]+", helps))
    assert "PROCRASTINATE_APP" in variables
    page = built_site.page("reference/cli")
    article = page[page.index("<article") : page.index("</article>")]
    section = text_of(article).split("Environment variables", 1)[1]
    missing = sorted(variable for variable in variables if variable not in section)
    assert not missing


def test_no_mermaid_nor_remote_assets(built_site: BuiltSite) -> None:  # noqa: F811
    # The site must work offline: no script or stylesheet from a CDN.
    for path in built_site.html.rglob("*.html"):
        content = path.read_text(encoding="utf-8")
        remote = re.findall(
            r'<(?:script|link)[^>]+(?:src|href)="(https?:[^"]+)"', content
        )
        assert not remote, (path, remote)


def test_edit_links_point_to_the_repository(built_site: BuiltSite) -> None:  # noqa: F811
    assert (
        "https://github.com/procrastinate-org/procrastinate/edit/main/docs/quickstart.md"
        in built_site.page("quickstart")
    )


def test_readthedocs_configuration() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((DOCS.parent / ".readthedocs.yaml").read_text())
    assert config["version"] == 2
    assert config["build"]["os"] == "ubuntu-24.04"
    assert config["build"]["tools"]["python"] == "3.12"
    assert (DOCS.parent / config["sphinx"]["configuration"]).exists()
    assert config["sphinx"]["fail_on_warning"] is True
    steps = config["build"]["jobs"]["post_install"]
    upgrade = next(i for i, step in enumerate(steps) if '"pip>=25.1"' in step)
    group = next(i for i, step in enumerate(steps) if "--group docs" in step)
    assert upgrade < group
    (install,) = config["python"]["install"]
    assert install["method"] == "pip"
    assert install["path"] == "."
