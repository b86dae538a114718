"""Tasks are typed: a type checker sees the function's parameters through defer()."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

SNIPPET = textwrap.dedent(
    """
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector())

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(pass_context=True)
    async def ctx(context: procrastinate.JobContext, name: str) -> None: ...

    add.defer(a=1, b=2)
    add.defer(a=1, c=2)
    ctx.defer(name="x")
    ctx.defer(name=3)
    result: str = add(1, 2)
    """
)


def test_wrong_defer_arguments_are_type_errors(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "snippet.py"
    source.write_text(SNIPPET)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    lines = sorted(int(line.split(":")[1]) for line in errors)
    # Only the three wrong lines: the unexpected keyword, the wrong type through a
    # pass_context task, and the return type of a direct call.
    assert lines == [14, 16, 17], result.stdout
