"""Run the examples of the documentation pages, and of the README, as a reader would.

Every Markdown page under ``docs/`` (except the changelog, the contributing guide and
the Sphinx extensions) and ``README.md`` is one test. Its code blocks run in page
order, in a fresh empty folder (the reader's project folder), against a fresh
database: the ``PG*`` variables name it, so ``PsycopgConnector()`` and the
``procrastinate`` command reach it like a reader's would reach theirs. The database
holds the Procrastinate schema, unless the page says otherwise (see below). Nothing
is injected: no ``PYTHONPATH``, no ``PROCRASTINATE_*`` variable; the virtual
environment's ``bin`` folder comes first on ``PATH``, as after ``source
.venv/bin/activate``.

Conventions, for the authors of pages:

A block with a file name as caption (``{code-block} python`` with ``:caption:
tasks.py``)
    Is the file the reader saves: it is written to that path of the page's folder,
    whatever its language, for later blocks and commands to use.

``python`` blocks (without caption)
    A complete program the reader could save and run: it has its imports, and async
    code runs inside ``asyncio.run(main())``, with no top-level ``await``. It runs with
    ``python`` in the page's folder and must exit with 0.

``pycon`` blocks
    An interactive session: ``>>>`` and ``...`` prompts, and the output below each
    statement. A page's ``pycon`` blocks share one ``python -m asyncio`` session
    (top-level ``await`` works there), started in the page's folder; each statement
    is typed as shown, followed by Enter when the REPL waits for the end of a
    compound statement (ruff's formatting of transcripts leaves out that bare
    ``...`` line; a blank line inside a compound statement would end it, and fails),
    and must print what is shown below it, and nothing else (``...`` matches
    any text within a line, and a line of its own any number of lines, such as the
    frames of a traceback).

``console`` blocks
    Lines starting with ``$`` are commands (a trailing ``\\`` continues them on the
    next line), run by ``bash`` in the page's folder; ``export`` and ``cd`` last for
    the page's later commands. The other lines are what the command prints (standard
    output and error together), all of it, blank lines aside: ``...`` matches any
    text within a line, and a line of its own any number of lines. A command must
    exit with 0, or with 1 when its expected output contains ``error:``.

``sql`` blocks
    Run on the page's database.

Other languages (``text``, ``ini``, ``dockerfile``, ``yaml``...)
    Never run. Use them for what is not meant to run here.

MyST comments right above a block (``%`` lines; in the README, where GitHub would
show them, HTML comments such as ``<!-- skip-example -->``) change how it runs:

``% skip-example``
    Don't run the block (a ``pip install``, a command that needs a server...): say
    why in the prose.
``% example: interrupt``
    The block's command runs until its expected output has appeared (it may print
    more afterwards, when it stops), then receives ``SIGINT`` (as a reader's
    Control-C) and must exit with 0: for commands that would run forever, such as
    ``procrastinate worker``.
``<!-- file: mymodule.py -->``
    In the README only, where GitHub shows no caption: the block is that file (say
    its name in the prose).
``% example: background``
    The block's command is started, as in another terminal, and the page goes on once
    its expected output has appeared; it gets ``SIGINT`` at the end of the page, and
    must then exit with 0: for a worker or a web server that later blocks use.

A ``% examples: empty-database`` line anywhere in a page gives it a database without
the Procrastinate schema, for pages that create it.
"""

from __future__ import annotations

import ast
import codeop
import dataclasses
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"

# Pages without examples of their own, or not ours to run.
EXCLUDED_PAGES = {"changelog.md", "contributing.md"}
EXCLUDED_DIRECTORIES = {"_build", "_ext", "_static", "_templates"}
# Folders whose pages are one story, run in the order of their index's toctree.
TUTORIALS = {"tutorial"}

RUNNABLE_LANGUAGES = {"python", "pycon", "console", "sql"}
INERT_LANGUAGES = {
    "text",
    "ini",
    "dockerfile",
    "yaml",
    "toml",
    "json",
    "rst",
    "systemd",
    "nginx",
    "",
}
COMMAND_TIMEOUT = 60.0
INTERRUPT_TIMEOUT = 30.0
# Variables of bash itself, not of the reader's environment.
SHELL_VARIABLES = {"_", "PWD", "OLDPWD", "SHLVL"}
SENTINEL = "\x1edocs-example-sentinel"

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^(?:%\s*(?P<myst>.*)|<!--\s*(?P<html>.*?)\s*-->)$")
_KNOWN_MARKERS = re.compile(r"^(skip-example|example:|examples:|file:)")
_CODE_DIRECTIVE = re.compile(r"^\{code-block\}|^\{code\}")
_OPTION = re.compile(r"^:(?P<name>[\w-]+):\s*(?P<value>.*)$")
_PROMPT = re.compile(r"^(?:>>> |\.\.\. )+")


@dataclasses.dataclass
class Block:
    """A code block of a page."""

    language: str
    code: str
    line: int
    markers: list[str]
    caption: str | None = None

    @property
    def skipped(self) -> bool:
        return "skip-example" in self.markers

    @property
    def interrupt(self) -> bool:
        return "example: interrupt" in self.markers

    @property
    def background(self) -> bool:
        return "example: background" in self.markers

    @property
    def file(self) -> str | None:
        """The file the block is saved to: its caption, when it names a file."""
        for marker in self.markers:
            if marker.startswith("file:"):
                return marker.removeprefix("file:").strip()
        if self.caption and re.fullmatch(r"[\w./-]+\.\w+", self.caption):
            return self.caption
        return None


@dataclasses.dataclass
class Page:
    """A documentation page and its code blocks."""

    path: Path
    blocks: list[Block]
    options: set[str]

    @property
    def name(self) -> str:
        if self.path.is_relative_to(DOCS):
            return "docs/" + self.path.relative_to(DOCS).as_posix()
        return self.path.name

    @property
    def runnable(self) -> list[Block]:
        return [
            block
            for block in self.blocks
            if not block.skipped
            and (block.language in RUNNABLE_LANGUAGES or block.file is not None)
        ]


def read_fenced(lines: list[str], start: int, closing: str) -> int:
    """The index of the line closing the fence opened above ``start``."""
    end = start
    while end < len(lines) and not (
        lines[end].strip().startswith(closing[0] * len(closing))
        and not lines[end].strip().strip(closing[0])
    ):
        end += 1
    return end


def parse_page(path: Path) -> Page:
    """The code blocks of a MyST page, with the markers right above them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    options: set[str] = set()
    directives: list[str] = []  # fences of the MyST directives we are inside
    markers: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        marker = _MARKER.match(stripped)
        if marker:
            text = (marker["myst"] or marker["html"] or "").strip()
            if text.startswith("examples:"):
                options.update(text.removeprefix("examples:").split())
            elif _KNOWN_MARKERS.match(text):
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
            caption = None
            start = index + 1
            if info.startswith("{") and not _CODE_DIRECTIVE.match(info):
                directives.append(fence["fence"])
                markers = []
                index += 1
                continue
            if info.startswith("{"):
                info = info.split(maxsplit=1)[1] if " " in info else ""
                while start < len(lines) and _OPTION.match(lines[start].strip()):
                    option = _OPTION.match(lines[start].strip())
                    assert option is not None
                    if option["name"] == "caption":
                        caption = option["value"].strip()
                    start += 1
                if start < len(lines) and not lines[start].strip():
                    start += 1
            language = info.split()[0] if info else ""
            end = read_fenced(lines, start, fence["fence"])
            indent = len(line) - len(line.lstrip())
            code = "\n".join(text[indent:] for text in lines[start:end])
            blocks.append(Block(language, code + "\n", start, markers, caption))
            markers = []
            index = end + 1
            continue
        if stripped:
            markers = []
        index += 1
    return Page(path, blocks, options)


def toctree_pages(index: Path) -> list[Path]:
    """The pages of a tutorial: its index, then its toctree's entries, in order."""
    lines = index.read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("```{toctree}"))
    entries = []
    for line in lines[start + 1 :]:
        if line.startswith("```"):
            break
        if line.strip() and not line.startswith(":"):
            entries.append(index.parent / f"{line.strip()}.md")
    return [index, *entries]


def documentation_pages() -> list[list[Path]]:
    """The tests: one page each, or the pages of a tutorial, which go on from each
    other in one folder and one database."""
    tests = [[README]]
    for path in sorted(DOCS.rglob("*.md")):
        relative = path.relative_to(DOCS)
        if relative.parts[0] in EXCLUDED_DIRECTORIES | TUTORIALS:
            continue
        if relative.as_posix() in EXCLUDED_PAGES:
            continue
        tests.append([path])
    tests += [toctree_pages(DOCS / name / "index.md") for name in sorted(TUTORIALS)]
    return tests


PAGES = documentation_pages()


# Matching the expected output


def line_pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in expected.strip().split("...")]
    return re.compile(".*".join(parts))


def match_all(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is exactly ``expected``, where a line ``...`` stands for
    any number of lines (a traceback's frames, for instance)."""
    if not expected:
        return not actual
    if expected[0].strip() == "...":
        return any(
            match_all(expected[1:], actual[start:]) for start in range(len(actual) + 1)
        )
    return bool(
        actual
        and line_pattern(expected[0]).fullmatch(actual[0].strip())
        and match_all(expected[1:], actual[1:])
    )


def printed_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


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
                text = text + "\n" + lines[index]
            commands.append(Command(text, block.line + index))
        elif commands:
            commands[-1].expected.append(line)
        elif line.strip():
            raise AssertionError(
                f"line {block.line + index}: output before any `$ ` command: {line!r}"
            )
        index += 1
    return commands


@dataclasses.dataclass
class Statement:
    """A statement of a ``pycon`` block: what is typed, and what it prints."""

    line: int
    typed: list[str]
    expected: list[str] = dataclasses.field(default_factory=list)


def parse_pycon(block: Block) -> list[Statement]:
    statements: list[Statement] = []
    for number, line in enumerate(block.code.splitlines(), start=block.line):
        if line.startswith(">>> ") or line == ">>>":
            statements.append(Statement(number, [line[4:]]))
        elif (line.startswith("... ") or line == "...") and (
            statements and not statements[-1].expected
        ):
            statements[-1].typed.append(line[4:])
        elif statements:
            statements[-1].expected.append(line)
        elif line.strip():
            raise AssertionError(
                f"line {number}: output before any `>>> ` prompt: {line!r}"
            )
    return statements


def typed_lines(statement: Statement, where: str) -> list[str]:
    """What the reader types: the statement's lines, then Enter when the REPL waits
    for the end of a compound statement (transcripts formatted by ruff leave out the
    bare ``...`` line).

    :raises AssertionError: the REPL would run the statement before its last line
        (a blank line inside a compound statement ends it).
    """
    compiler = codeop.CommandCompiler()
    compiler.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for count in range(1, len(statement.typed) + 1):
        source = "\n".join(statement.typed[:count])
        try:
            complete = compiler(source, "<input>", "single") is not None
        except SyntaxError:
            complete = True
        if complete and count < len(statement.typed):
            raise AssertionError(
                f"{where}: the REPL runs the statement after its line {count}: start "
                "the next one with `>>> `, or remove the blank line"
            )
        if not complete and count == len(statement.typed):
            return [*statement.typed, ""]
    return statement.typed


# Running a page


class Output:
    """The output of a process, read by a thread, as it comes."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.chunks: queue.Queue[str | None] = queue.Queue()
        self.text = ""
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[str]) -> None:
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            self.chunks.put(chunk.decode("utf-8", errors="replace"))
        self.chunks.put(None)

    def close(self) -> None:
        """Read what is left once the process has ended, and close the stream."""
        self.wait_for(lambda text: False, 5)
        self.thread.join(5)
        self.stream.close()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> bool:
        """Read until ``predicate(text)`` holds or the stream ends; whether it holds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.text):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                chunk = self.chunks.get(timeout=remaining)
            except queue.Empty:
                return False
            if chunk is None:
                self.chunks.put(None)
                return bool(predicate(self.text))
            self.text += chunk
        return True


@dataclasses.dataclass
class Running:
    """A command started in the background."""

    command: Command
    process: subprocess.Popen[str]
    output: Output


def _as_at_a_terminal() -> None:
    # A reader's shell takes Control-C; a test run started in the background (by
    # `cmd &` in a script) ignores SIGINT, and its children would inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class PageRunner:
    """Runs the blocks of one page in its folder, against its database."""

    def __init__(self, page: Page, directory: Path, database: str) -> None:
        self.page = page
        self.directory = directory
        self.cwd = directory
        self.database = database
        self.env = self.initial_environment()
        self.state = directory.parent / "shell-state"
        self.background: list[Running] = []
        self.repl: subprocess.Popen[str] | None = None
        self.repl_output: Output | None = None

    def initial_environment(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PROCRASTINATE_", "PYTEST_", "VIRTUAL_ENV"))
            and name not in {"PYTHONPATH", "COV_CORE_SOURCE", "COV_CORE_CONFIG"}
        }
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(Path(sys.executable).parents[1])
        env["PYTHONUNBUFFERED"] = "1"
        env["COLUMNS"] = "88"
        env["PGDATABASE"] = self.database
        return env

    def where(self, line: int) -> str:
        return f"{self.page.name}, line {line}"

    def run(self, block: Block) -> None:
        path = block.file
        if path is not None:
            target = self.directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
        elif block.language == "python":
            self.run_program(block)
        elif block.language == "pycon":
            for statement in parse_pycon(block):
                self.run_statement(statement)
        elif block.language == "sql":
            self.run_sql(block)
        else:
            for command in parse_console(block):
                self.run_command(command, block)

    def run_program(self, block: Block) -> None:
        script = self.directory / f"example_line_{block.line}.py"
        script.write_text(block.code, encoding="utf-8")
        try:
            completed = subprocess.run(
                ["python", script.name],
                cwd=self.directory,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"{self.where(block.line)}: the program still runs after "
                f"{COMMAND_TIMEOUT} s\n{exc.output}"
            ) from None
        finally:
            script.unlink()
        if completed.returncode != 0:
            raise AssertionError(
                f"{self.where(block.line)}: the program exited with "
                f"{completed.returncode}:\n{completed.stdout}"
            )

    def run_sql(self, block: Block) -> None:
        with psycopg.connect(dbname=self.database, autocommit=True) as connection:
            connection.execute(block.code.encode())

    # The interactive session

    def start_repl(self) -> Output:
        self.repl = subprocess.Popen(
            ["python", "-m", "asyncio"],
            cwd=self.directory,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.repl.stdout is not None
        self.repl_output = Output(self.repl.stdout)
        self.type_in_repl([])  # the banner
        return self.repl_output

    def type_in_repl(self, lines: list[str]) -> list[str]:
        """Type the lines, then wait for what they print, without the prompts."""
        assert self.repl is not None
        assert self.repl.stdin is not None
        output = self.repl_output
        assert output is not None
        output.text = ""
        self.repl.stdin.write(
            "".join(f"{line}\n" for line in lines) + f"print({SENTINEL!r})\n"
        )
        self.repl.stdin.flush()
        if not output.wait_for(lambda text: SENTINEL in text, COMMAND_TIMEOUT):
            raise AssertionError(f"no answer from the REPL:\n{output.text}")
        printed = output.text.split(SENTINEL, 1)[0]
        return [
            stripped
            for line in printed.splitlines()
            if (stripped := _PROMPT.sub("", line).rstrip()) not in ("", ">>>", "...")
        ]

    def run_statement(self, statement: Statement) -> None:
        where = self.where(statement.line)
        typed = typed_lines(statement, where)
        if self.repl is None:
            self.start_repl()
        actual = self.type_in_repl(typed)
        expected = expected_lines(statement.expected)
        if not match_all(expected, actual):
            raise AssertionError(
                f"{where}: `{statement.typed[0]}` printed\n"
                + "\n".join(actual)
                + "\ninstead of\n"
                + "\n".join(expected)
            )

    # Shell commands

    def shell_script(self, command: Command, record: bool) -> str:
        if not record:
            return command.text
        # Keep what the command exported and where it went, for the next commands.
        return (
            f"{command.text}\n"
            "__status=$?\n"
            f"{{ pwd; env -0; }} > {self.state}\n"
            "exit $__status\n"
        )

    def start(self, command: Command, record: bool) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["bash", "-c", self.shell_script(command, record)],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_as_at_a_terminal,
        )

    def restore_shell_state(self) -> None:
        if not self.state.exists():
            return
        cwd, _, variables = self.state.read_text().partition("\n")
        self.cwd = Path(cwd)
        self.env = dict(
            entry.split("=", 1)
            for entry in variables.split("\0")
            if "=" in entry and entry.split("=", 1)[0] not in SHELL_VARIABLES
        )
        self.state.unlink()

    def run_command(self, command: Command, block: Block) -> None:
        where = self.where(command.line)
        expected = expected_lines(command.expected)
        long_running = block.interrupt or block.background
        process = self.start(command, record=not long_running)
        assert process.stdout is not None
        output = Output(process.stdout)
        if long_running:
            # What it prints once stopped comes after what the page shows.
            expected = [*expected, "..."]
            appeared = output.wait_for(
                lambda text: match_all(expected, printed_lines(text)), INTERRUPT_TIMEOUT
            )
            if not appeared or process.poll() is not None:
                self.stop(process)
                output.close()
                raise AssertionError(
                    f"{where}: `{command.text}` printed\n{output.text}\nwhich does "
                    f"not match the expected lines\n" + "\n".join(expected)
                )
            if block.background:
                self.background.append(Running(command, process, output))
                return
            returncode = self.stop(process)
        else:
            try:
                returncode = process.wait(COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stop(process)
                raise AssertionError(
                    f"{where}: `{command.text}` still runs after {COMMAND_TIMEOUT} s "
                    "(use --one-shot, or `% example: interrupt`)"
                ) from None
            self.restore_shell_state()
        output.close()
        if not match_all(expected, printed_lines(output.text)):
            raise AssertionError(
                f"{where}: `{command.text}` printed\n{output.text}\ninstead of\n"
                + "\n".join(expected)
            )
        wanted = 1 if any("error:" in line for line in expected) else 0
        if returncode != wanted:
            raise AssertionError(
                f"{where}: `{command.text}` exited with {returncode} instead of "
                f"{wanted}:\n{output.text}"
            )

    def stop(self, process: subprocess.Popen[str]) -> int:
        """Control-C, as a reader would; kill what does not stop in time."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            return process.wait(INTERRUPT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(
                f"{process.args} did not stop within {INTERRUPT_TIMEOUT} s of SIGINT"
            ) from None

    def close(self) -> None:
        """Stop the background commands and the REPL; each must end cleanly."""
        failures = []
        background, self.background = self.background, []
        for running in background:
            # Every command is stopped, even after one that would not stop.
            try:
                returncode = self.stop(running.process)
            except AssertionError as exc:
                failures.append(f"{self.where(running.command.line)}: {exc}")
                continue
            finally:
                running.output.close()
            if returncode != 0:
                failures.append(
                    f"{self.where(running.command.line)}: `{running.command.text}` "
                    f"exited with {returncode} after SIGINT:\n{running.output.text}"
                )
        repl, self.repl = self.repl, None
        if repl is not None:
            assert repl.stdin is not None
            assert self.repl_output is not None
            repl.stdin.close()
            try:
                returncode = repl.wait(COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                repl.kill()
                returncode = repl.wait()
            self.repl_output.close()
            if returncode != 0:
                failures.append(f"the REPL exited with {returncode}")
        if failures:
            raise AssertionError("\n".join(failures))


def run_page(page: Page, directory: Path, database: str) -> None:
    run_pages([page], directory, database)


def run_pages(pages: list[Page], directory: Path, database: str) -> None:
    """Run the pages in order, each going on where the previous one stopped: same
    folder, same database, same shell variables; each page's session and background
    commands end with it."""
    runner = PageRunner(pages[0], directory, database)
    for page in pages:
        runner.page = page
        try:
            for block in page.runnable:
                runner.run(block)
        finally:
            runner.close()


@pytest.mark.parametrize(
    "paths", PAGES, ids=[parse_page(paths[0]).name for paths in PAGES]
)
def test_page_examples(
    paths: list[Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pages = [parse_page(path) for path in paths]
    for page in pages:
        unknown = {
            block.language
            for block in page.blocks
            if block.language not in RUNNABLE_LANGUAGES | INERT_LANGUAGES
        }
        assert not unknown, f"{page.name}: unknown code block languages {unknown}"
    if not any(page.runnable for page in pages):
        return
    factory = request.getfixturevalue("db_factory")
    if "empty-database" in pages[0].options:
        database = factory()
    else:
        database = factory(template=request.getfixturevalue("template_db"))
    directory = tmp_path / "project"
    directory.mkdir()
    run_pages(pages, directory, database)


# The harness itself


def write_page(tmp_path: Path, text: str) -> Page:
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return parse_page(path)


def test_parser_reads_markers_captions_and_nested_blocks(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
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
        "```{code-block} python\n"
        ":caption: pkg/tasks.py\n"
        "\n"
        "x = 1\n"
        "```\n"
        "<!-- example: interrupt -->\n"
        "```console\n"
        "$ procrastinate worker\n"
        "```\n",
    )
    assert page.options == {"empty-database"}
    assert [block.language for block in page.blocks] == [
        "python",
        "console",
        "python",
        "console",
    ]
    assert page.blocks[0].code == "print(1)\n"
    assert page.blocks[1].skipped
    assert (page.blocks[2].file, page.blocks[2].code) == ("pkg/tasks.py", "x = 1\n")
    assert page.blocks[3].interrupt
    assert [block.language for block in page.runnable] == [
        "python",
        "python",
        "console",
    ]


def test_output_matching() -> None:
    actual = ["INFO:x:Starting job a[1]()", "Result: 8 after 0.1 s"]
    assert match_all(["...Starting job a[1]()", "Result: 8 after ... s"], actual)
    assert not match_all(["Result: 8...", "...Starting job"], actual)
    assert match_all(
        ["Traceback...", "...", "ValueError: ..."],
        ["Traceback (x)", "  a", "  b", "ValueError: x"],
    )
    assert match_all(["a", "...", "b"], ["a", "b"])
    assert not match_all(["a"], ["a", "b"])
    assert not match_all(["a", "...", "c"], ["a", "b"])


def test_pycon_statements() -> None:
    block = Block(
        "pycon",
        ">>> for i in range(2):\n...     print(i)\n...\n0\n...1\n>>> x = 1\n",
        10,
        [],
    )
    statements = parse_pycon(block)
    assert [(s.line, s.typed, s.expected) for s in statements] == [
        (10, ["for i in range(2):", "    print(i)", ""], ["0", "...1"]),
        (15, ["x = 1"], []),
    ]
    assert typed_lines(statements[0], "here") == statements[0].typed
    assert typed_lines(Statement(1, ["if x:", "    pass"]), "here") == [
        "if x:",
        "    pass",
        "",
    ]
    with pytest.raises(AssertionError, match="start the next one"):
        typed_lines(Statement(1, ["x = 1", "y = 2"]), "here")
    with pytest.raises(AssertionError, match="remove the blank line"):
        typed_lines(Statement(1, ["class A:", "    x = 1", "", "    y = 2"]), "here")


@pytest.fixture
def harness_database(db_factory: object) -> Iterator[str]:
    assert callable(db_factory)
    return str(db_factory())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("```python\nimport sys\nsys.exit(3)\n```\n", "exited with 3"),
        ("```pycon\n>>> print(1)\n2\n```\n", "printed\n1\ninstead of\n2"),
        ("```pycon\n>>> print(1)\n```\n", "printed\n1\ninstead of"),
        ("```console\n$ echo hello\nbye\n```\n", "printed\nhello\n\ninstead of\nbye"),
        ("```console\n$ echo a; echo b\na\n```\n", "printed\na\nb\n\ninstead of\na"),
        ("```console\n$ false\n```\n", "exited with 1 instead of 0"),
        ("```console\n$ echo $PYTHONPATH-x\n-x\n$ echo error: $Z\nerror:\n```\n", ""),
    ],
)
def test_a_wrong_example_fails(
    tmp_path: Path, harness_database: str, text: str, message: str
) -> None:
    page = write_page(tmp_path, text)
    directory = tmp_path / "project"
    directory.mkdir()
    if not message:
        with pytest.raises(AssertionError, match="exited with 0 instead of 1"):
            run_page(page, directory, harness_database)
        return
    with pytest.raises(AssertionError, match=re.escape(message)):
        run_page(page, directory, harness_database)


def test_a_page_runs_like_a_reader(tmp_path: Path, harness_database: str) -> None:
    page = write_page(
        tmp_path,
        "```{code-block} python\n"
        ":caption: greet.py\n"
        "\n"
        "async def hello() -> str:\n"
        "    return 'hello'\n"
        "```\n"
        "```pycon\n"
        ">>> from greet import hello\n"
        ">>> await hello()\n"
        "'hello'\n"
        "```\n"
        "```console\n"
        "$ export GREETING=hi\n"
        "$ mkdir sub && cd sub\n"
        "$ echo $GREETING from $(basename $PWD) on $PGDATABASE\n"
        f"hi from sub on {harness_database}\n"
        "$ which procrastinate\n"
        f"{Path(sys.executable).parent}/procrastinate\n"
        "```\n"
        "% example: background\n"
        "```console\n"
        "$ python -c 'import time; print(\"ready\"); time.sleep(60)'\n"
        "ready\n"
        "```\n"
        "```python\n"
        "import greet\n"
        "```\n",
    )
    directory = tmp_path / "project"
    directory.mkdir()
    with pytest.raises(AssertionError, match="after SIGINT"):
        # Python's default Control-C handling does not exit with 0.
        run_page(page, directory, harness_database)
