"""The Sphinx extension, building a small project that documents tasks."""

from __future__ import annotations

import pathlib
import shutil
import sys
from collections.abc import Callable

import pytest
import sphinx
from sphinx.cmd import build

from procrastinate.contrib import sphinx as procrastinate_sphinx

TEST_ROOT = pathlib.Path(__file__).parent / "sphinx" / "test-root"
TASKS_MODULE = "sphinx_ext_tasks"


BuildHTML = Callable[..., str]


@pytest.fixture
def build_html(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> BuildHTML:
    """
    Build the test project (with warnings as errors) and return its HTML page;
    ``options`` replace the options of its ``automodule``.
    """
    # conf.py extends sys.path and the build imports the tasks module: neither
    # should outlive the test.
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, TASKS_MODULE, raising=False)

    def build_html(*options: str) -> str:
        source = tmp_path / "source"
        shutil.copytree(TEST_ROOT, source)
        if options:
            index = (source / "index.rst").read_text()
            head = index.split("   :members:")[0]
            (source / "index.rst").write_text(
                head + "".join(f"   {option}\n" for option in options)
            )
        output = tmp_path / "html"
        try:
            status = build.build_main(
                ["-b", "html", "-E", "-W", "-q", str(source), str(output)]
            )
        finally:
            sys.modules.pop(TASKS_MODULE, None)
        assert status == 0
        return (output / "index.html").read_text()

    return build_html


@pytest.fixture
def html(build_html: BuildHTML) -> str:
    """The HTML page of the test project as it is."""
    return build_html()


def test_documents_tasks_with_their_docstring(html: str) -> None:
    assert "Add the two numbers, eventually." in html
    assert "Send the message to everyone who listens." in html


def test_documents_tasks_under_their_function_name_and_signature(html: str) -> None:
    assert 'id="sphinx_ext_tasks.sum_numbers"' in html
    assert 'id="sphinx_ext_tasks.notify_people"' in html
    assert '<span class="n"><span class="pre">a</span></span>' in html


def test_marks_async_tasks(html: str) -> None:
    notify_section = html.split('id="sphinx_ext_tasks.notify_people"')[1]
    assert "async" in notify_section.split("</dt>")[0]


def test_skips_undocumented_tasks_like_functions(html: str) -> None:
    assert "undocumented_task" not in html
    assert "A plain function, documented as usual." in html


def test_undoc_members_includes_undocumented_tasks(build_html: BuildHTML) -> None:
    html = build_html(":members:", ":undoc-members:")
    assert 'id="sphinx_ext_tasks.undocumented_task"' in html


def test_exclude_members_applies_to_tasks(build_html: BuildHTML) -> None:
    html = build_html(":members:", ":exclude-members: sum_numbers")
    assert "sum_numbers" not in html
    assert 'id="sphinx_ext_tasks.notify_people"' in html


def test_setup_metadata() -> None:
    class FakeApp:
        def __init__(self) -> None:
            self.calls: list[tuple[str, object]] = []

        def setup_extension(self, name: str) -> None:
            self.calls.append(("setup_extension", name))

        def connect(self, event: str, callback: object, priority: int = 500) -> int:
            self.calls.append(("connect", event))
            return 0

        def add_autodocumenter(self, cls: type) -> None:
            self.calls.append(("add_autodocumenter", cls))

    app = FakeApp()
    metadata = procrastinate_sphinx.setup(app)  # type: ignore[arg-type]
    assert metadata["parallel_read_safe"] is True
    assert metadata["version"]
    assert app.calls[0] == ("setup_extension", "sphinx.ext.autodoc")
    assert (
        "add_autodocumenter",
        procrastinate_sphinx.ProcrastinateTaskDocumenter,
    ) in app.calls
    assert (("connect", "config-inited") in app.calls) == (
        sphinx.version_info >= (9,)
    )
