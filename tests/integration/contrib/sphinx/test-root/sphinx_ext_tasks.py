"""Tasks documented by the test project of the Sphinx extension."""

from __future__ import annotations

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@app.task(queue="sums")
def sum_numbers(a: int, b: int) -> int:
    """Add the two numbers, eventually."""
    return a + b


@app.task
async def notify_people(message: str) -> None:
    """Send the message to everyone who listens."""


@app.task
def undocumented_task() -> None:
    pass


def plain_function() -> None:
    """A plain function, documented as usual."""
