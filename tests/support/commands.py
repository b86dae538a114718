"""The ``procrastinate`` command in subprocesses: one-off commands, and workers left
running in the background.

Commands run with the environment they are given (the test's ``PG*`` variables) from
the repository root, so that ``--app=tests.<suite>.app.app`` imports. Workers started
with :class:`Workers` are killed at :meth:`Workers.close` whatever happened, and their
logs printed there (pytest shows them for failed tests).
"""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from . import records, waiting

REPO_ROOT = Path(__file__).resolve().parents[2]
# "procrastinate: error: ..." or, for a usage error, "procrastinate defer: error: ...".
ERROR_LINE = re.compile(r"^procrastinate( [a-z]+){0,2}: error: ")
COMMAND_TIMEOUT = 30.0
WORKER_START_TIMEOUT = 15.0


@dataclasses.dataclass(frozen=True)
class Result:
    """What a finished ``procrastinate`` command did."""

    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"{' '.join(self.args[2:])}\nexit code {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )

    def check(self) -> Result:
        """Assert the command succeeded.

        :raises AssertionError: its exit code is not 0; the message holds its output.
        """
        assert self.returncode == 0, str(self)
        return self

    def error_line(self) -> str:
        """
        Assert the command failed the way a CLI should: exit code 1, no traceback,
        exactly one error line on stderr. Returns that line.

        :raises AssertionError: it failed otherwise, or did not fail.
        """
        assert self.returncode == 1, str(self)
        assert "Traceback" not in self.stderr, str(self)
        errors = [line for line in self.stderr.splitlines() if ERROR_LINE.match(line)]
        assert len(errors) == 1, str(self)
        return errors[0]


class Cli:
    """Runs ``python -m procrastinate`` from the repository root, with the app at
    ``app_path`` unless a command is run with ``app=False``."""

    def __init__(self, env: dict[str, str], app_path: str) -> None:
        self.env = env
        self.app_path = app_path

    def command(self, args: Sequence[str], app: bool = True) -> list[str]:
        """The argument list of ``procrastinate ARGS``."""
        prefix = [sys.executable, "-m", "procrastinate"]
        return [*prefix, f"--app={self.app_path}", *args] if app else [*prefix, *args]

    def popen(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        app: bool = True,
        log: IO[bytes] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a command; its output goes to ``log`` (merged) or to pipes."""
        return subprocess.Popen(
            self.command(args, app),
            cwd=REPO_ROOT,
            env=self.env if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=log or subprocess.PIPE,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
        )

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, app: bool = True
    ) -> Result:
        """Run one command to its end.

        :raises AssertionError: it did not end within :data:`COMMAND_TIMEOUT`.
        """
        (result,) = self.many([args], env=env, app=app)
        return result

    def many(
        self,
        commands: Sequence[Sequence[str]],
        *,
        env: dict[str, str] | None = None,
        envs: Sequence[dict[str, str]] | None = None,
        app: bool = True,
    ) -> list[Result]:
        """
        Run independent commands at the same time and wait for all of them: a
        command mostly spends its time starting Python. ``envs`` gives each command
        its own environment.

        :raises AssertionError: one did not end within :data:`COMMAND_TIMEOUT`.
        """
        envs = envs or [env or self.env] * len(commands)
        processes = [
            self.popen(args, env=cmd_env, app=app)
            for args, cmd_env in zip(commands, envs, strict=True)
        ]
        try:
            return [_communicate(process) for process in processes]
        finally:
            # After a failure, the other commands must not outlive the test.
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def _communicate(process: subprocess.Popen[bytes]) -> Result:
    try:
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{process.args!r} did not end within {COMMAND_TIMEOUT} s:\n"
            f"{stdout.decode()}{stderr.decode()}"
        ) from None
    return Result(
        args=[str(arg) for arg in process.args],  # type: ignore[union-attr]
        returncode=process.returncode,
        stdout=stdout.decode(),
        stderr=stderr.decode(),
    )


@dataclasses.dataclass
class WorkerProcess:
    """A ``procrastinate worker`` subprocess, its output going to a log file."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        """What the worker wrote so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> int:
        """Send ``sig`` and wait for the worker to exit; returns its exit code.

        :raises AssertionError: it did not exit within ``timeout`` seconds.
        """
        self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"The worker did not stop within {timeout} s of {sig.name}:\n{self.log}"
            ) from None


class Workers:
    """Starts workers in the background; :meth:`close` kills those still running."""

    def __init__(self, cli: Cli, db: records.Database, log_dir: Path) -> None:
        self.cli = cli
        self.db = db
        self.log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        """
        Start ``procrastinate worker <args>`` and wait until it has registered in the
        database, i.e. until it is about to fetch jobs.

        :raises AssertionError: it exited, or did not register in time.
        """
        # Not a count: a starting worker may prune a dead one before it registers.
        newest = self.db.newest_worker_id()
        log_path = self.log_dir / f"worker-{len(self.started)}.log"
        with log_path.open("wb") as log:
            popen = self.cli.popen(["worker", *args], env=env, log=log)
        worker = WorkerProcess(popen=popen, log_path=log_path)
        self.started.append(worker)

        def ready() -> bool:
            if popen.poll() is not None:
                raise AssertionError(f"The worker exited early:\n{worker.log}")
            return self.db.newest_worker_id() > newest

        waiting.wait_until_sync(
            ready, WORKER_START_TIMEOUT, "the worker to register", interval=0.05
        )
        return worker

    def close(self) -> None:
        """Kill the workers still running and print every worker's log."""
        for index, worker in enumerate(self.started):
            if worker.popen.poll() is None:
                worker.popen.kill()
            worker.popen.wait()
            print(f"--- worker {index} (exit code {worker.popen.returncode}) ---")
            print(worker.log)
