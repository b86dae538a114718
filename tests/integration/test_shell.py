"""The administration shell, driven interactively over a real database."""

from __future__ import annotations

import io

import procrastinate
from procrastinate import shell, utils


async def run_session(app: procrastinate.App, commands: str) -> str:
    stdout = io.StringIO()
    admin = shell.ProcrastinateShell(
        job_manager=app.job_manager, stdin=io.StringIO(commands), stdout=stdout
    )
    admin.use_rawinput = False
    await utils.sync_to_async(admin.cmdloop)
    return stdout.getvalue()


async def test_interactive_session(app: procrastinate.App) -> None:
    await app.configure_task("mod.add", queue="q").defer_async(a=1)
    await app.configure_task("mod.add", queue="q", lock="l").defer_async(a=2)
    output = await run_session(
        app,
        "list_jobs\nlist_jobs id=2 details\nlist_queues\nlist_locks\ncancel 1\n"
        "retry 1\nlist_jobs status=cancelled\nexit\n",
    )
    intro, *prompts = output.split("procrastinate> ")
    assert intro.startswith("Welcome to the procrastinate shell.   Type help")
    printed = [line for prompt in prompts for line in prompt.splitlines()]
    assert printed == [
        "#1 mod.add on q - [todo]",
        "#2 mod.add on q - [todo]",
        "#2 mod.add on q - [todo] (attempts=0, priority=0, scheduled_at=None, "
        "args={'a': 2}, lock=l)",
        "q: 2 jobs (todo: 2, doing: 0, succeeded: 0, failed: 0, cancelled: 0, "
        "aborted: 0)",
        "l: 1 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 0, "
        "aborted: 0)",
        "#1 mod.add on q - [cancelled]",
        'Error: Job was not found or not in "doing" or "failed" status (job id: 1)',
        "#1 mod.add on q - [cancelled]",
    ]


async def test_a_failing_command_does_not_end_the_session(
    app: procrastinate.App,
) -> None:
    output = await run_session(
        app, "list_jobs bogus=1\nretry notanumber\nbogus\nlist_queues\nEOF\n"
    )
    assert "Error: Unknown filter 'bogus': use id, queue, task" in output
    assert "Error: Unknown command 'bogus': type help" in output
    assert "Error: 'notanumber' is not a job id: give a number, e.g. 42" in output
    assert output.count("procrastinate> ") == 5


async def test_filter_values_with_spaces_and_quotes(app: procrastinate.App) -> None:
    # Values used to be split on whitespace: these jobs could not be found.
    await app.configure_task("mod.add", queue="a b", lock="it's").defer_async(a=1)
    await app.configure_task("mod.add", queue="a").defer_async(a=2)

    output = await run_session(
        app,
        'list_jobs queue=\'a b\'\nlist_jobs "lock=it\'s"\nlist_queues queue="a b"\n'
        "list_jobs task='oops\nexit\n",
    )

    _, *prompts = output.split("procrastinate> ")
    printed = [line for prompt in prompts for line in prompt.splitlines()]
    assert printed == [
        "#1 mod.add on a b - [todo]",
        "#1 mod.add on a b - [todo]",
        "a b: 1 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 0, "
        "aborted: 0)",
        'Error: Cannot read "task=\'oops": No closing quotation; quote a value with '
        "spaces or quotes, e.g. task='my task'",
    ]


async def test_pause_resume_and_queues(app: procrastinate.App) -> None:
    await app.configure_task("mod.add", queue="q").defer_async(a=1)
    output = await run_session(
        app, "pause q\npause q\nqueues\nresume q\nresume q\nqueues\npause\nexit\n"
    )
    printed = [
        line
        for prompt in output.split("procrastinate> ")[1:]
        for line in prompt.splitlines()
    ]
    counts = (
        "1 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 0, aborted: 0)"
    )
    assert printed[:2] == ["Queue 'q' paused", "Queue 'q' was paused already"]
    assert printed[2].startswith("q: paused since ")
    assert printed[2].endswith(f", {counts}")
    assert printed[3:] == [
        "Queue 'q' resumed",
        "Queue 'q' was not paused",
        f"q: active, {counts}",
        "Error: A queue name has 1 to 128 characters, got '' (0 characters)",
    ]


async def test_limit_unlimit_and_limits(app: procrastinate.App) -> None:
    output = await run_session(
        app,
        "limit q max_running=2\nlimit api max_starts=10 per=60\nlimits\n"
        "unlimit q\nunlimit q\nlimits\nlimit q max_running=two\nlimit q\n"
        "limit max_running=1\nexit\n",
    )
    printed = [
        line
        for prompt in output.split("procrastinate> ")[1:]
        for line in prompt.splitlines()
    ]
    assert printed == [
        "Limited queue 'q': at most 2 running",
        "Limited queue 'api': at most 10 starts per 60 s",
        "api: at most 10 starts per 60 s; 0 running",
        "q: at most 2 running; 0 running",
        "Queue 'q' has no limits any more",
        "Queue 'q' had no limits",
        "api: at most 10 starts per 60 s; 0 running",
        "Error: max_running must be a number, not 'two'",
        "Error: give max_running, max_starts (with per), or both",
        "Error: Name one queue: limit QUEUE max_running=N max_starts=N per=SECONDS",
    ]
