"""Published packages that tests and benchmarks compare us with, each in its own venv.

Upgrade tests need procrastinate 3.10 itself, the benchmarks need the peers
(procrastinate 3.10, pgqueuer...). They are installed from the package index into
separate virtual environments, never into ``.venv`` and never copied into the
repository. A venv is built once per set of requirements and interpreter, then reused
by every later run: it lives under ``$PROCRASTINATE_PEER_VENVS`` or, by default,
``~/.cache/procrastinate/peer-venvs``.

Concurrent test runs may ask for the same venv: one builds it under a file lock and
marks it complete at the end, so that nobody uses half a venv (an interrupted build is
started again).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Sequence
from pathlib import Path


class PeerVenvError(RuntimeError):
    """A peer venv could not be built (package index unreachable, unknown version)."""


def cache_root() -> Path:
    """The folder that holds every peer venv."""
    configured = os.environ.get("PROCRASTINATE_PEER_VENVS")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "procrastinate" / "peer-venvs"


def venv_name(name: str, requirements: Sequence[str], python_version: str) -> str:
    """The folder name of a venv: readable name plus a digest of what it holds."""
    key = "\n".join([python_version, *sorted(requirements)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{name}-{digest}"


def interpreter_version(interpreter: str) -> str:
    """``sys.version`` of another Python interpreter.

    :raises PeerVenvError: it cannot be run.
    """
    try:
        completed = subprocess.run(
            [interpreter, "-c", "import sys; print(sys.version)"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PeerVenvError(f"cannot run {interpreter}: {exc}") from exc
    return completed.stdout.strip()


def peer_python(
    name: str, requirements: Sequence[str], interpreter: str | None = None
) -> Path:
    """
    Return the interpreter of a venv holding ``requirements`` (pip requirement
    strings), building the venv first if no earlier run did.

    :param interpreter: the Python that the venv is made from; ``None``: the one
        running the tests.
    :raises PeerVenvError: when ``interpreter`` cannot run, or pip cannot install the
        requirements; the message holds the end of pip's output.
    """
    version = sys.version if interpreter is None else interpreter_version(interpreter)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / venv_name(name, requirements, version)
    with open(root / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / COMPLETE).exists():
            _build(target, requirements, interpreter)
    return target / "bin" / "python"


COMPLETE = ".peer-venv-complete"


def _build(target: Path, requirements: Sequence[str], interpreter: str | None) -> None:
    # Console scripts hard-code the venv's path, so it is built where it will stay.
    shutil.rmtree(target, ignore_errors=True)
    if interpreter is None:
        venv.EnvBuilder(with_pip=True).create(target)
    else:
        created = subprocess.run(
            [interpreter, "-m", "venv", str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode:
            raise PeerVenvError(
                f"{interpreter} could not create a venv: {created.stderr.strip()}"
            )
    result = subprocess.run(
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        shutil.rmtree(target, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise PeerVenvError(
            f"could not install {' '.join(requirements)}: " + " / ".join(tail)
        )
    (target / COMPLETE).touch()
