"""Run the examples of the documentation pages against a real database.

Every Markdown page under ``docs/`` (except the included ones, the changelog and the
Sphinx extensions) is one test. Its fenced code blocks run in page order, in a fresh
temporary directory that is the current directory and the first entry of
``sys.path``, against a fresh database: ``PGDATABASE`` names it, so
``PsycopgConnector()`` and the ``procrastinate`` command reach it like a reader's
would reach theirs. The database holds the Procrastinate schema, unless the page says
otherwise (see below).

Conventions, for the authors of pages:

``python`` blocks
    Run in one namespace per page, in order. Top-level ``await`` is allowed: such a
    block runs on the page's event loop, which lives as long as the page, so an app
    opened with ``await app.open_async()`` in one block can be used in the next. A
    block whose first line is a comment naming a Python file (``# tasks.py``,
    ``# myproject/tasks.py``) is not run: it is written to that file, which later
    blocks and commands can import.

``console``, ``bash`` and ``shell`` blocks
    Lines starting with ``$ `` are commands (a trailing ``\\`` continues them on the
    next line); the other lines are the expected output. Each expected line must match
    a line of the command's output (standard output and error together), in order,
    other lines may come in between, and ``...`` matches any text within a line. The
    supported commands are ``procrastinate ...`` (run as ``python -m procrastinate``),
    ``python ...`` and ``export NAME=value`` (for the page's later commands); a command
    may start with ``NAME=value`` assignments. A command must exit with 0, or with 1
    when its expected output contains ``error:``.

``sql`` blocks
    Run on the page's database.

Other languages (``text``, ``ini``, ``dockerfile``, ``yaml``...)
    Never run. Use them for what is not meant to run here.

MyST comments right above a block (``%`` lines) change how it runs:

``% skip-example``
    Don't run the block (a ``pip install``, a command that needs a server...).
``% file: <path>``
    Write the block to ``<path>`` instead of running it, whatever its language.
``% example: interrupt``
    The block's command runs until its expected output has appeared, then receives
    ``SIGINT`` (as a reader's Control-C) and must exit with 0: for commands that would
    run forever, such as ``procrastinate worker``.

A ``% examples: empty-database`` line anywhere in a page gives it a database without
the Procrastinate schema, for pages that create it.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib
import inspect
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

# Pages without examples of their own, or not ours to run.
EXCLUDED_PAGES = {"changelog.md", "contributing.md"}
EXCLUDED_DIRECTORIES = {"_build", "_ext", "_static", "_templates"}

RUNNABLE_LANGUAGES = {"python", "console", "bash", "shell", "sql"}
INERT_LANGUAGES = {
    "text",
    "ini",
    "dockerfile",
    "yaml",
    "toml",
    "json",
    "rst",
    "pycon",
    "systemd",
    "nginx",
    "",
}
COMMAND_TIMEOUT = 60.0
INTERRUPT_TIMEOUT = 30.0

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^%\s*(?P<text>.*)$")
_FILE_COMMENT = re.compile(r"^#\s*(?P<path>[\w./-]+\.py)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclasses.dataclass
class Block:
    """A fenced code block of a page."""

    language: str
    code: str
    line: int
    markers: list[str]

    @property
    def skipped(self) -> bool:
        return "skip-example" in self.markers

    @property
    def interrupt(self) -> bool:
        return "example: interrupt" in self.markers

    @property
    def file(self) -> str | None:
        for marker in self.markers:
            if marker.startswith("file:"):
                return marker.removeprefix("file:").strip()
        if self.language == "python":
            first_line = self.code.split("\n", 1)[0]
            match = _FILE_COMMENT.match(first_line)
            if match:
                return match["path"]
        return None


@dataclasses.dataclass
class Page:
    """A documentation page and its code blocks."""

    path: Path
    blocks: list[Block]
    options: set[str]

    @property
    def name(self) -> str:
        return self.path.relative_to(DOCS).as_posix()

    @property
    def runnable(self) -> list[Block]:
        return [
            block
            for block in self.blocks
            if not block.skipped
            and (block.language in RUNNABLE_LANGUAGES or block.file is not None)
        ]


def parse_page(path: Path) -> Page:
    """The code blocks of a MyST page, with the ``%`` markers right above them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    options: set[str] = set()
    directives: list[str] = []  # fences of the MyST directives we are inside
    markers: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        marker = _MARKER.match(line)
        if marker:
            text = marker["text"].strip()
            if text.startswith("examples:"):
                options.update(text.removeprefix("examples:").split())
            else:
                markers.append(text)
            index += 1
            continue
        fence = _FENCE.match(stripped)
        if (
            directives
            and fence
            and not fence["info"].strip()
            and stripped.startswith(directives[-1])
        ):
            directives.pop()
            markers = []
            index += 1
            continue
        if fence:
            info = fence["info"].strip()
            if info.startswith("{"):
                directives.append(fence["fence"])
                markers = []
                index += 1
                continue
            language = info.split()[0] if info else ""
            start = index + 1
            end = start
            closing = fence["fence"]
            while end < len(lines) and not (
                lines[end].strip().startswith(closing[0] * len(closing))
                and not lines[end].strip().strip(closing[0])
            ):
                end += 1
            indent = len(line) - len(line.lstrip())
            code = "\n".join(text[indent:] for text in lines[start:end])
            blocks.append(Block(language, code + "\n", start, markers))
            markers = []
            index = end + 1
            continue
        if stripped:
            markers = []
        index += 1
    return Page(path, blocks, options)


def documentation_pages() -> list[Path]:
    pages = []
    for path in sorted(DOCS.rglob("*.md")):
        relative = path.relative_to(DOCS)
        if relative.parts[0] in EXCLUDED_DIRECTORIES:
            continue
        if relative.as_posix() in EXCLUDED_PAGES:
            continue
        pages.append(path)
    return pages


PAGES = documentation_pages()


# Matching the expected output of commands


def line_pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in expected.strip().split("...")]
    return re.compile(".*".join(parts))


def match_output(expected: list[str], actual: list[str]) -> int:
    """How many expected lines match, in order, a line of ``actual``."""
    patterns = [line_pattern(line) for line in expected if line.strip()]
    matched = 0
    for line in actual:
        if matched == len(patterns):
            break
        if patterns[matched].fullmatch(line.strip()):
            matched += 1
    return matched


def expected_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]


@dataclasses.dataclass
class Command:
    """A ``$`` command of a console block, with its expected output."""

    text: str
    line: int
    expected: list[str] = dataclasses.field(default_factory=list)


def parse_console(block: Block) -> list[Command]:
    commands: list[Command] = []
    lines = block.code.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("$ "):
            text = line[2:]
            while text.endswith("\\") and index + 1 < len(lines):
                index += 1
                text = text[:-1] + " " + lines[index].strip()
            commands.append(Command(text, block.line + index))
        elif commands:
            commands[-1].expected.append(line)
        elif line.strip():
            raise AssertionError(
                f"line {block.line + index}: output before any `$ ` command: {line!r}"
            )
        index += 1
    return commands


# Running a page


class PageRunner:
    """Runs the blocks of one page in its directory, against its database."""

    def __init__(self, page: Page, directory: Path, database: str | None) -> None:
        self.page = page
        self.directory = directory
        self.database = database
        self.namespace: dict[str, Any] = {
            "__name__": "docs_example_"
            + re.sub(r"\W", "_", page.name.removesuffix(".md"))
        }
        self.exports: dict[str, str] = {}
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        loop = self.loop
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(
                    asyncio.gather(*pending, return_exceptions=True)
                )
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def where(self, line: int) -> str:
        return f"docs/{self.page.name}, line {line}"

    def run(self, block: Block) -> None:
        path = block.file
        if path is not None:
            target = self.directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
            importlib.invalidate_caches()
            return
        if block.language == "python":
            self.run_python(block)
        elif block.language == "sql":
            self.run_sql(block)
        else:
            for command in parse_console(block):
                self.run_command(command, interrupt=block.interrupt)

    def run_python(self, block: Block) -> None:
        # Line numbers of tracebacks point into the page.
        source = "\n" * (block.line) + block.code
        code = compile(
            source,
            f"docs/{self.page.name}",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        )
        result = eval(code, self.namespace)
        if inspect.iscoroutine(result):
            self.loop.run_until_complete(result)

    def run_sql(self, block: Block) -> None:
        assert self.database is not None
        with psycopg.connect(dbname=self.database, autocommit=True) as connection:
            connection.execute(block.code.encode())

    def environment(self, assignments: dict[str, str]) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("PROCRASTINATE_")
        }
        paths = [str(self.directory), str(REPO), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        env["PYTHONUNBUFFERED"] = "1"
        env["COLUMNS"] = "88"
        if self.database is not None:
            env["PGDATABASE"] = self.database
        env.update(self.exports)
        env.update(assignments)
        return env

    def run_command(self, command: Command, interrupt: bool) -> None:
        words = shlex.split(command.text)
        assignments: dict[str, str] = {}
        while words and _ASSIGNMENT.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            assignments[name] = value
        assert words, f"{self.where(command.line)}: empty command"
        program, *arguments = words
        if program == "export":
            for word in arguments:
                name, _, value = word.partition("=")
                self.exports[name] = value
            return
        if program == "procrastinate":
            argv = [sys.executable, "-m", "procrastinate", *arguments]
        elif program == "python":
            argv = [sys.executable, *arguments]
        else:
            raise AssertionError(
                f"{self.where(command.line)}: `{program}` cannot run in the tests: mark "
                "the block with `% skip-example`, or use another language than console"
            )
        env = self.environment(assignments)
        expect_error = any("error:" in line for line in command.expected)
        if interrupt:
            returncode, output = self.run_until_output(argv, env, command)
        else:
            try:
                completed = subprocess.run(
                    argv,
                    cwd=self.directory,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=COMMAND_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise AssertionError(
                    f"{self.where(command.line)}: `{command.text}` still runs after "
                    f"{COMMAND_TIMEOUT} s (use --one-shot, or `% example: interrupt`)"
                    f"\n{exc.output}"
                ) from None
            returncode, output = completed.returncode, completed.stdout
        actual = output.splitlines()
        expected = expected_lines(command.expected)
        matched = match_output(expected, actual)
        assert matched == len(expected), (
            f"{self.where(command.line)}: `{command.text}` printed\n{output}\n"
            f"which does not match the expected line {expected[matched]!r}"
        )
        wanted = 1 if expect_error else 0
        assert returncode == wanted, (
            f"{self.where(command.line)}: `{command.text}` exited with {returncode} "
            f"instead of {wanted}:\n{output}"
        )

    def run_until_output(
        self, argv: list[str], env: dict[str, str], command: Command
    ) -> tuple[int, str]:
        expected = expected_lines(command.expected)
        lines: list[str] = []
        done = threading.Event()
        process = subprocess.Popen(
            argv,
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                if match_output(expected, lines) == len(expected):
                    done.set()
            done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            done.wait(INTERRUPT_TIMEOUT)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            returncode = process.wait(INTERRUPT_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join(5)
            if process.stdout is not None:
                process.stdout.close()
        return returncode, "\n".join(lines)


def forget_modules(directory: Path) -> None:
    """Unload the modules a page wrote, so that another page may reuse their names."""
    for name, module in list(sys.modules.items()):
        locations = [getattr(module, "__file__", None) or ""]
        locations += list(getattr(module, "__path__", None) or [])
        if any(str(location).startswith(str(directory)) for location in locations):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leave the logging configuration and the environment as the page found them."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [
        logger
        for logger in manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = {
        logger.name: (
            list(logger.handlers),
            logger.level,
            logger.propagate,
            logger.disabled,
        )
        for logger in loggers
    }
    for name in [name for name in os.environ if name.startswith("PROCRASTINATE_")]:
        monkeypatch.delenv(name)
    yield
    for logger in [logging.getLogger(), *manager.loggerDict.values()]:
        if not isinstance(logger, logging.Logger):
            continue
        handlers, level, propagate, disabled = saved.get(
            logger.name, ([], logging.NOTSET, True, False)
        )
        if logger is logging.getLogger():
            # pytest swaps its own capturing handlers on the root logger between the
            # phases of a test: only remove what the page added.
            handlers = [
                handler
                for handler in logger.handlers
                if handler in handlers or type(handler).__module__ == "_pytest.logging"
            ]
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


@pytest.mark.parametrize(
    "path", PAGES, ids=[path.relative_to(DOCS).as_posix() for path in PAGES]
)
def test_page_examples(
    path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    clean_state: None,
) -> None:
    page = parse_page(path)
    unknown = {
        block.language
        for block in page.blocks
        if block.language not in RUNNABLE_LANGUAGES | INERT_LANGUAGES
    }
    assert not unknown, f"docs/{page.name}: unknown code block languages {unknown}"
    if not page.runnable:
        return
    factory = request.getfixturevalue("db_factory")
    if "empty-database" in page.options:
        database = factory()
    else:
        database = factory(template=request.getfixturevalue("template_db"))
    directory = tmp_path / "example"
    directory.mkdir()
    monkeypatch.chdir(directory)
    monkeypatch.syspath_prepend(str(directory))
    monkeypatch.setenv("PGDATABASE", database)
    runner = PageRunner(page, directory, database)
    try:
        for block in page.runnable:
            runner.run(block)
    finally:
        runner.close()
        forget_modules(directory)


def test_parser_reads_markers_and_nested_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "% examples: empty-database\n"
        "````{tip}\n"
        "```python\n"
        "print(1)\n"
        "```\n"
        "````\n"
        "% skip-example\n"
        "```console\n"
        "$ pip install x\n"
        "```\n"
        "% file: notes.txt\n"
        "```text\n"
        "hello\n"
        "```\n",
        encoding="utf-8",
    )
    parsed = parse_page(page)
    assert parsed.options == {"empty-database"}
    assert [block.language for block in parsed.blocks] == ["python", "console", "text"]
    assert parsed.blocks[0].code == "print(1)\n"
    assert parsed.blocks[1].skipped
    assert parsed.blocks[2].file == "notes.txt"
    # A block with a file marker is written whatever its language.
    assert [block.language for block in parsed.runnable] == ["python", "text"]


def test_output_matching() -> None:
    actual = ["INFO:x:Starting job a[1]()", "noise", "Result: 8 after 0.1 s"]
    assert (
        match_output(["...Starting job a[1]()", "Result: 8 after ... s"], actual) == 2
    )
    assert match_output(["Result: 8...", "...Starting job"], actual) == 1
