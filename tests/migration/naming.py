"""The naming convention of the SQL migration files, as functions that tests of any
migration folder can share.

A migration is named ``xx.yy.zz_ab_description.sql``:

- ``xx.yy.zz`` is the version of the release that introduces it, two digits each,
  zero-padded, so that sorting the names sorts the versions;
- ``ab`` is a two-digit serial: 01-49 for a "pre" migration, applied before the new
  code is deployed (its description starts with ``pre_``), 50-99 for a "post" migration,
  applied after it (its description starts with ``post_``);
- ``description`` is short: lowercase ASCII letters, digits and underscores.

Sorting the names gives the order in which the migrations are applied, so versions
never decrease along it. A new migration is named after the latest released version:
procrastinate 3.10.0 today, whose databases our migrations start from, later the
latest release tag of this repository. So no version is above the latest tag (a typo),
and none is below 3.10.0: such a file would sort among the migrations of procrastinate
3.x, which 3.10 databases have applied already.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

CONVENTION = "xx.yy.zz_ab_description.sql"
MAX_DESCRIPTION_LENGTH = 50
PRE_SERIALS = range(1, 50)
POST_SERIALS = range(50, 100)

# Files a migration folder may hold besides the migrations.
NON_MIGRATION_FILES = frozenset({"README.md", "__init__.py"})

_VERSION = re.compile(r"\d{2}\.\d{2}\.\d{2}")
_SERIAL = re.compile(r"\d{2}")
_DESCRIPTION = re.compile(r"[a-z0-9_]+")
_TAG = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")

Version = tuple[int, int, int]


class MigrationNameError(ValueError):
    """A file name breaks the naming convention; the message names the rule."""


class TagUnavailable(Exception):
    """No release tag can be read (no tag yet, no git, or not a git checkout)."""


@dataclasses.dataclass(frozen=True)
class MigrationName:
    """The parts of a valid migration file name."""

    filename: str
    version: Version
    serial: int
    phase: str
    description: str

    @property
    def order_key(self) -> tuple[Version, int]:
        return (self.version, self.serial)


def _fail(filename: str, rule: str) -> MigrationNameError:
    return MigrationNameError(f"{filename!r}: {rule} (expected {CONVENTION})")


def _split(filename: str) -> tuple[str, str, str]:
    if not filename.endswith(".sql"):
        raise _fail(filename, "the extension must be '.sql', in lowercase")
    parts = filename.removesuffix(".sql").split("_", 2)
    if len(parts) != 3:
        raise _fail(
            filename, "the name must have a version, a serial and a description"
        )
    return parts[0], parts[1], parts[2]


def _parse_version(filename: str, text: str) -> Version:
    if not _VERSION.fullmatch(text):
        raise _fail(
            filename,
            f"the version {text!r} must be three zero-padded two-digit numbers "
            "xx.yy.zz",
        )
    major, minor, patch = (int(number) for number in text.split("."))
    return (major, minor, patch)


def _parse_serial(filename: str, text: str) -> int:
    if not _SERIAL.fullmatch(text) or text == "00":
        raise _fail(filename, f"the serial {text!r} must be two digits, from 01 to 99")
    return int(text)


def _parse_phase(filename: str, description: str) -> str:
    if not _DESCRIPTION.fullmatch(description):
        raise _fail(
            filename,
            f"the description {description!r} may only hold lowercase ASCII letters, "
            "digits and underscores",
        )
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise _fail(
            filename,
            "the description must be short: at most "
            f"{MAX_DESCRIPTION_LENGTH} characters",
        )
    phase, _, rest = description.partition("_")
    if phase not in ("pre", "post") or not rest.strip("_"):
        raise _fail(
            filename,
            "the description must start with 'pre_' or 'post_' followed by a name",
        )
    return phase


def _check_serial_range(filename: str, phase: str, serial: int) -> None:
    expected = PRE_SERIALS if phase == "pre" else POST_SERIALS
    if serial not in expected:
        raise _fail(
            filename,
            f"a {phase!r} migration must use a serial from {expected.start:02d} to "
            f"{expected.stop - 1:02d} (pre: 01-49, post: 50-99), not {serial:02d}",
        )


def parse_migration_name(filename: str) -> MigrationName:
    """
    Check a file name against the convention and split it into its parts.

    :raises MigrationNameError: the name breaks a rule, which the message names.
    """
    version_text, serial_text, description = _split(filename)
    version = _parse_version(filename, version_text)
    serial = _parse_serial(filename, serial_text)
    phase = _parse_phase(filename, description)
    _check_serial_range(filename, phase, serial)
    return MigrationName(filename, version, serial, phase, description)


def format_version(version: Version) -> str:
    return ".".join(f"{number:02d}" for number in version)


def check_order(names: Iterable[MigrationName]) -> list[str]:
    """
    Problems in the order of migrations sorted by file name (the applying order):
    a version lower than the one before, or a serial used twice in one version.
    """
    problems: list[str] = []
    ordered = sorted(names, key=lambda name: name.filename)
    for previous, current in itertools.pairwise(ordered):
        if current.version < previous.version:
            problems.append(
                f"{current.filename!r}: version {format_version(current.version)} "
                f"is lower than that of {previous.filename!r}, which sorts before it: "
                "versions must not decrease in file name order"
            )
        elif current.order_key == previous.order_key:
            problems.append(
                f"{current.filename!r}: serial {current.serial:02d} of version "
                f"{format_version(current.version)} is also used by "
                f"{previous.filename!r}: serials are unique within a version"
            )
    return problems


def parse_tag(tag: str) -> Version:
    """
    The version of a release tag such as ``1.2.3`` (a suffix like ``rc1`` is ignored).

    :raises ValueError: the tag does not start with a version.
    """
    match = _TAG.match(tag)
    if match is None:
        raise ValueError(f"the git tag {tag!r} does not look like a version (1.2.3)")
    major, minor, patch = (int(number) for number in match.groups())
    return (major, minor, patch)


# The release of procrastinate 3.x whose databases the migrations start from.
HISTORY_START: Version = (3, 10, 0)


def check_version_floor(names: Iterable[MigrationName]) -> list[str]:
    """Problems of migrations whose version is below :data:`HISTORY_START`."""
    return [
        f"{name.filename!r}: version {format_version(name.version)} is below "
        f"{format_version(HISTORY_START)}, the procrastinate release our migrations "
        "start from: the file would sort among the migrations of procrastinate 3.x, "
        "which its databases have applied already"
        for name in names
        if name.version < HISTORY_START
    ]


def check_version_ceiling(names: Iterable[MigrationName], tag: str) -> list[str]:
    """
    Problems of migrations whose version is above ``tag``, the latest release: a new
    migration is named after the latest released version.
    """
    latest = parse_tag(tag)
    return [
        f"{name.filename!r}: version {format_version(name.version)} is above "
        f"{format_version(latest)}, the latest release tag {tag!r}: a new migration "
        "is named after the latest released version"
        for name in names
        if name.version > latest
    ]


def latest_git_tag(directory: Path) -> str:
    """
    The latest tag reachable from HEAD in the git checkout holding ``directory``.

    :raises TagUnavailable: git is missing, ``directory`` is not in a git checkout
        (a source tarball, an installed package), or no tag exists yet.
    """
    git = shutil.which("git")
    if git is None:
        raise TagUnavailable("git is not installed")
    result = subprocess.run(
        [git, "describe", "--tags", "--abbrev=0"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()
        raise TagUnavailable(
            "git describe --tags found no tag"
            + (f" ({reason[0]})" if reason else "")
            + "; a source tarball or a repository before its first release has none"
        )
    return result.stdout.strip()


def migration_files(folder: Path) -> list[str]:
    """The names of the files of a migration folder, but for the README and the like,
    sorted: the applying order."""
    return sorted(
        path.name
        for path in folder.iterdir()
        if path.is_file() and path.name not in NON_MIGRATION_FILES
    )
