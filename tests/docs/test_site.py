"""The documentation site builds offline, without a single warning, and is complete:
every page, every public object of the API and every command of the command line."""

from __future__ import annotations

import argparse
import html
import inspect
import re
from collections.abc import Iterator

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
            "windows",
        )
    ),
    *(
        f"howto/advanced/{name}"
        for name in (
            "blueprints",
            "cancellation",
            "context",
            "cron",
            "dynamic_cron",
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
            "other_drivers",
            "logging",
            "migrations",
            "monitoring",
            "retry_stalled_jobs",
            "schema",
            "testing",
        )
    ),
    *(
        f"howto/django/{name}"
        for name in (
            "index",
            "basic_usage",
            "configuration",
            "settings",
            "models_and_admin",
            "link_models",
            "migrations",
            "tests",
            "scripts",
            "startup_actions",
            "logs",
            "related_libraries",
        )
    ),
    "reference/index",
    "reference/api",
    "reference/cli",
    "reference/database",
    "reference/errors",
    "discussions",
    "comparison",
    "adr/index",
    "adr/0001-postgresql-only-broker",
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


# Overviews of a section, reached from the text of the home page: the sidebar lists
# their pages under a caption of their own instead.
OVERVIEWS = ["howto/index", "reference/index"]
SIDEBAR_CAPTIONS = [
    "Tutorial",
    "How-to: Basics",
    "How-to: Advanced",
    "How-to: Production",
    "How-to: Django",
    "Reference",
    "Discussions",
    "Project",
]


def sidebar(page: str) -> str:
    start = page.index('<div class="sidebar-tree">')
    return page[start : page.index("</div>", start)]


def test_pages_are_in_the_navigation(built_site: BuiltSite) -> None:  # noqa: F811
    navigation = sidebar(built_site.page("index"))
    missing = [
        page
        for page in PAGES
        if page not in ("index", *OVERVIEWS) and f'href="{page}.html"' not in navigation
    ]
    assert not missing


def test_overviews_are_linked_from_the_home_page(built_site: BuiltSite) -> None:  # noqa: F811
    article = main_content(built_site.page("index"))
    for page in OVERVIEWS:
        assert f'href="{page}.html"' in article, page


def test_sidebar_has_a_caption_per_section_in_reading_order(
    built_site: BuiltSite,  # noqa: F811
) -> None:
    captions = re.findall(
        r'<p class="caption"[^>]*><span class="caption-text">(.*?)</span>',
        sidebar(built_site.page("quickstart")),
    )
    assert [html.unescape(caption) for caption in captions] == SIDEBAR_CAPTIONS


def test_advanced_guides_are_in_reading_order(built_site: BuiltSite) -> None:  # noqa: F811
    navigation = sidebar(built_site.page("index"))
    advanced = re.findall(r'href="howto/advanced/(\w+)\.html"', navigation)
    # Retries and locks first, as a reader needs them; not by file name.
    assert advanced[:3] == ["retry", "locks", "queueing_locks"]
    assert advanced != sorted(advanced)


def main_content(page: str) -> str:
    start = page.index("<article")
    return page[start : page.index("</article>", start)]


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
    # The site must work offline: no script or stylesheet from a CDN (the canonical
    # link names the published page, and loads nothing).
    for path in built_site.html.rglob("*.html"):
        content = path.read_text(encoding="utf-8")
        remote = re.findall(
            r'<(?:script|link)(?![^>]*rel="canonical")[^>]+(?:src|href)="(https?:[^"]+)"',
            content,
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


# -- Rendering ------------------------------------------------------------------------


def test_shell_output_is_not_highlighted_as_a_prompt(
    built_site: BuiltSite,  # noqa: F811
) -> None:
    # ``#1 tasks.add on sums - [succeeded]`` is output of ``procrastinate shell``, not a
    # root prompt followed by a command.
    quickstart = built_site.page("quickstart")
    assert '<span class="go">#1 tasks.add on sums' in quickstart
    prompts = {
        path.relative_to(built_site.html).as_posix(): re.findall(
            r'<span class="gp">([^<]*)</span>', path.read_text(encoding="utf-8")
        )
        for path in built_site.html.rglob("*.html")
    }
    odd = {
        page: sorted(set(found) - {"$ ", "procrastinate&gt; ", "&gt;&gt;&gt; ", "... "})
        for page, found in prompts.items()
    }
    assert not {page: found for page, found in odd.items() if found}


API_INTERNALS = ["NOTHING", "&lt;function", "&lt;class", "Bases: object"]


@pytest.mark.parametrize("internal", API_INTERNALS)
def test_api_signatures_show_no_internals(
    built_site: BuiltSite,  # noqa: F811
    internal: str,
) -> None:
    api = built_site.page("reference/api")
    assert internal not in text_of(api)
    assert internal not in api


def api_entries(api: str) -> Iterator[tuple[str, list[str], list[tuple[str, str]]]]:
    """Each documented object: its id, the parameters of its signature, and its
    "Parameters" field as (name, description) pairs."""
    for entry in re.split(r'(?=<dt class="sig sig-object py" id=")', api)[1:]:
        identifier = re.match(r'<dt class="sig sig-object py" id="([^"]+)"', entry)
        assert identifier
        signature, _, body = entry.partition("</dt>")
        following = body.find('<dt class="sig')
        body = body if following < 0 else body[:following]
        parameters = re.findall(
            r'<em class="sig-param"><span class="n"><span class="pre">([^<]+)</span>',
            signature,
        )
        field = re.search(
            r'<dt class="field-odd">Parameters<.*?</dt>\s*<dd class="field-odd">(.*?)</dd>',
            body,
            re.DOTALL,
        )
        described = []
        if field:
            items = re.findall(r"<li><p>(.*?)</p></li>", field.group(1), re.DOTALL)
            for item in items or [field.group(1)]:
                name, _, rest = text_of(item).strip().partition(" ")
                described.append((name, rest.partition("\u2013")[2].strip()))
        yield identifier.group(1), parameters, described


def test_every_parameter_is_described_in_signature_order(
    built_site: BuiltSite,  # noqa: F811
) -> None:
    undescribed, disordered = [], []
    for identifier, parameters, described in api_entries(
        built_site.page("reference/api")
    ):
        undescribed += [f"{identifier}({name})" for name, text in described if not text]
        names = [name for name, _ in described]
        if [name for name in parameters if name in names] != [
            name for name in names if name in parameters
        ]:
            disordered.append(identifier)
    assert not undescribed
    assert not disordered


def test_overloaded_decorators_show_their_own_signature(
    built_site: BuiltSite,  # noqa: F811
) -> None:
    api = built_site.page("reference/api")
    signatures = re.findall(
        r'<dt class="sig sig-object py" id="procrastinate\.Blueprint\.task">', api
    )
    assert len(signatures) == 1


def test_private_members_are_not_in_the_index(built_site: BuiltSite) -> None:  # noqa: F811
    index = text_of(built_site.page("genindex"))
    assert "_execute" not in index


def test_diagrams_are_drawn_at_build_time(built_site: BuiltSite) -> None:  # noqa: F811
    for page, count in [("reference/database", 1), ("discussions", 2)]:
        content = built_site.page(page)
        images = re.findall(r'<object data="[./]*(_images/graphviz-\w+\.svg)"', content)
        assert len(images) == count, page
        for image in images:
            svg = (built_site.html / image).read_text(encoding="utf-8")
            assert "<svg" in svg, image
            assert "<text" in svg, image
    # The ASCII drawing that broke apart at some widths is gone.
    assert "┌" not in built_site.page("reference/database")


def test_version_is_shown_on_every_page(built_site: BuiltSite) -> None:  # noqa: F811
    version = procrastinate.__version__
    for page in ("index", "quickstart", "reference/api"):
        content = built_site.page(page)
        assert f'<p class="sidebar-version">Version {version}</p>' in content, page
        assert f"Procrastinate {version}</title>" in content, page


def test_404_page_works_at_any_address(built_site: BuiltSite) -> None:  # noqa: F811
    content = (built_site.html / "404.html").read_text(encoding="utf-8")
    assert "Page not found" in content
    # Served in place of any missing page, at any depth: every link and asset of the
    # site is absolute.
    relative = [
        target
        for target in re.findall(r'(?:href|src)="([^"]+)"', content)
        if not target.startswith(("/", "#", "http://", "https://", "data:"))
    ]
    assert not relative


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("howto_index", "howto/index"),
        ("reference", "reference/api"),
        ("howto/django/models", "howto/django/models_and_admin"),
        ("howto/django/related", "howto/django/related_libraries"),
    ],
)
def test_renamed_pages_redirect(
    built_site: BuiltSite,  # noqa: F811
    old: str,
    new: str,
) -> None:
    redirect = (built_site.html / f"{old}.html").read_text(encoding="utf-8")
    (target,) = set(re.findall(r'url=([^"]+)"', redirect))
    resolved = (built_site.html / old).parent / target
    assert resolved.resolve() == (built_site.html / f"{new}.html").resolve()


def test_pages_have_open_graph_tags(built_site: BuiltSite) -> None:  # noqa: F811
    content = built_site.page("howto/advanced/locks")
    tags = dict(re.findall(r'<meta property="og:(\w+)" content="([^"]*)"', content))
    assert tags["title"] == "Keep jobs from running at the same time"
    assert tags["url"].startswith("https://")
    assert tags["url"].endswith("/howto/advanced/locks.html")
    assert tags["image"].startswith("https://")
    assert len(tags["description"]) > 40
