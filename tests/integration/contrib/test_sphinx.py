"""The Sphinx extension, building a small project that documents tasks."""

from __future__ import annotations

import pathlib
import shutil
import sys

import pytest
import sphinx
from sphinx.cmd import build

from procrastinate.contrib import sphinx as procrastinate_sphinx

TEST_ROOT = pathlib.Path(__file__).parent / "sphinx" / "test-root"
TASKS_MODULE = "sphinx_ext_tasks"


def build_html(directory: pathlib.Path, *options: str) -> str:
    """
    Build a copy of the test project in ``directory``, with warnings as errors, and
    return its HTML page; ``options`` replace the options of its ``automodule``.
    """
    source = directory / "source"
    shutil.copytree(TEST_ROOT, source)
    if options:
        index = source / "index.rst"
        head = index.read_text().split("   :members:")[0]
        index.write_text(head + "".join(f"   {option}\n" for option in options))
    output = directory / "html"
    # conf.py extends sys.path and the build imports the tasks module: neither
    # should outlive the build.
    saved_path = list(sys.path)
    try:
        status = build.build_main(
            ["-b", "html", "-E", "-W", "-q", str(source), str(output)]
        )
    finally:
        sys.path[:] = saved_path
        sys.modules.pop(TASKS_MODULE, None)
    assert status == 0
    return (output / "index.html").read_text()


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The HTML page of the test project as it is."""
    return build_html(tmp_path_factory.mktemp("sphinx"))


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


def test_undoc_members_includes_undocumented_tasks(tmp_path: pathlib.Path) -> None:
    html = build_html(tmp_path, ":members:", ":undoc-members:")
    assert 'id="sphinx_ext_tasks.undocumented_task"' in html


def test_exclude_members_applies_to_tasks(tmp_path: pathlib.Path) -> None:
    html = build_html(tmp_path, ":members:", ":exclude-members: sum_numbers")
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
    assert (("connect", "config-inited") in app.calls) == (sphinx.version_info >= (9,))
