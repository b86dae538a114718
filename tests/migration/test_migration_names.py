"""The migration files follow the naming convention ``xx.yy.zz_ab_description.sql``.

- ``xx.yy.zz``: the version of the release that introduces the migration, two digits
  each, zero-padded;
- ``ab``: a two-digit serial, 01-49 for a "pre" migration (applied before the new code
  is deployed; the description starts with ``pre_``), 50-99 for a "post" migration
  (applied after; the description starts with ``post_``);
- ``description``: short, lowercase ASCII letters, digits and underscores.

Sorting the names gives the applying order, so versions never decrease along it. A new
migration is named after the latest released version, so no version is above the latest
git tag (not checked when there is no tag, or no git checkout, as in a source tarball)
nor below 3.10.0, the procrastinate release whose databases the migrations start from.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from . import naming

FOLDERS = ["migrations", "future_migrations"]


def _parsed(folder: Path) -> list[naming.MigrationName]:
    return [
        naming.parse_migration_name(name) for name in naming.migration_files(folder)
    ]


@pytest.mark.parametrize("folder", FOLDERS)
def test_file_names_follow_the_convention(folder: str, migrations_dir: Path) -> None:
    problems: list[str] = []
    for name in naming.migration_files(migrations_dir.parent / folder):
        try:
            naming.parse_migration_name(name)
        except naming.MigrationNameError as exc:
            problems.append(str(exc))

    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("folder", FOLDERS)
def test_versions_do_not_decrease_in_name_order(
    folder: str, migrations_dir: Path
) -> None:
    problems = naming.check_order(_parsed(migrations_dir.parent / folder))

    assert problems == [], "\n".join(problems)


def test_versions_are_not_below_the_release_the_history_starts_from(
    migrations_dir: Path,
) -> None:
    problems = naming.check_version_floor(_parsed(migrations_dir))

    assert problems == [], "\n".join(problems)


def test_versions_are_at_most_the_latest_tag(migrations_dir: Path) -> None:
    try:
        tag = naming.latest_git_tag(migrations_dir)
    except naming.TagUnavailable as exc:
        pytest.skip(f"no release tag to compare versions with: {exc}")

    problems = naming.check_version_ceiling(_parsed(migrations_dir), tag)

    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    "name",
    [
        "03.10.00_01_pre_upgrade_from_3_10.sql",
        "01.02.03_49_pre_add_index_2.sql",
        "01.02.03_50_post_drop_old_functions.sql",
        "10.20.30_99_post_x.sql",
    ],
)
def test_parse_accepts_good_names(name: str) -> None:
    assert naming.parse_migration_name(name).filename == name


def test_parse_splits_the_name() -> None:
    parsed = naming.parse_migration_name("01.02.03_55_post_remove_v1.sql")

    assert parsed == naming.MigrationName(
        filename="01.02.03_55_post_remove_v1.sql",
        version=(1, 2, 3),
        serial=55,
        phase="post",
        description="post_remove_v1",
    )


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("1.2.3_01_pre_x.sql", "must be three zero-padded two-digit numbers"),
        ("1.2.3_01_x.sql", "must be three zero-padded two-digit numbers"),
        ("01.02_01_pre_x.sql", "must be three zero-padded two-digit numbers"),
        ("01.02.03_1_pre_x.sql", "serial '1' must be two digits"),
        ("01.02.03_00_pre_x.sql", "serial '00' must be two digits, from 01 to 99"),
        ("01.02.03_01_Pre-X.sql", "may only hold lowercase ASCII letters"),
        ("01.02.03_01_pre_é.sql", "may only hold lowercase ASCII letters"),
        ("01.02.03_01_initial.sql", "must start with 'pre_' or 'post_'"),
        ("01.02.03_01_pre_.sql", "must start with 'pre_' or 'post_' followed by"),
        ("01.02.03_01_prefix.sql", "must start with 'pre_' or 'post_'"),
        ("01.02.03_60_pre_x.sql", "'pre' migration must use a serial from 01 to 49"),
        ("01.02.03_10_post_x.sql", "'post' migration must use a serial from 50 to 99"),
        ("01.02.03_10_pre_x.SQL", "extension must be '.sql'"),
        ("01.02.03_10_pre_x.sql.bak", "extension must be '.sql'"),
        ("01.02.03_10.sql", "must have a version, a serial and a description"),
        (f"01.02.03_10_pre_{'x' * 50}.sql", "description must be short"),
    ],
)
def test_parse_rejects_bad_names_naming_the_rule(name: str, rule: str) -> None:
    with pytest.raises(naming.MigrationNameError) as excinfo:
        naming.parse_migration_name(name)

    assert rule in str(excinfo.value)
    assert repr(name) in str(excinfo.value)


def _names(*filenames: str) -> list[naming.MigrationName]:
    return [naming.parse_migration_name(filename) for filename in filenames]


def test_check_order_accepts_the_sorted_applying_order() -> None:
    names = _names(
        "01.00.00_01_pre_a.sql",
        "01.00.00_50_post_b.sql",
        "01.01.00_01_pre_c.sql",
        "01.01.00_02_pre_d.sql",
    )

    assert naming.check_order(names) == []


def test_check_order_rejects_a_serial_used_twice_in_a_version() -> None:
    names = _names("01.00.00_01_pre_a.sql", "01.00.00_01_pre_b.sql")

    [problem] = naming.check_order(names)

    assert "serials are unique within a version" in problem


def test_check_order_rejects_a_decreasing_version() -> None:
    # Valid names always sort by version; only a hand-made name can run backwards.
    names = [
        naming.MigrationName("a.sql", (1, 1, 0), 1, "pre", "pre_a"),
        naming.MigrationName("b.sql", (1, 0, 0), 1, "pre", "pre_b"),
    ]

    [problem] = naming.check_order(names)

    assert "versions must not decrease" in problem


def test_parse_tag_reads_the_version() -> None:
    assert naming.parse_tag("v2.0.1rc1") == (2, 0, 1)


def test_parse_tag_rejects_a_tag_that_is_no_version() -> None:
    with pytest.raises(ValueError, match="does not look like a version"):
        naming.parse_tag("latest")


def test_version_ceiling_allows_the_latest_release_and_older_ones() -> None:
    names = _names("01.02.03_01_pre_a.sql", "01.02.00_01_pre_b.sql")

    assert naming.check_version_ceiling(names, "1.2.3") == []


@pytest.mark.parametrize(
    "filename",
    ["01.02.04_01_pre_a.sql", "01.03.00_01_pre_a.sql", "02.00.00_01_pre_a.sql"],
)
def test_version_ceiling_rejects_a_version_past_the_latest_release(
    filename: str,
) -> None:
    [problem] = naming.check_version_ceiling(_names(filename), "1.2.3")

    assert "named after the latest released version" in problem
    assert "01.02.03" in problem


def test_version_floor_accepts_3_10_and_later() -> None:
    names = _names("03.10.00_01_pre_a.sql", "04.00.00_50_post_b.sql")

    assert naming.check_version_floor(names) == []


def test_version_floor_rejects_a_version_among_those_of_3_x() -> None:
    [problem] = naming.check_version_floor(_names("03.04.00_01_pre_a.sql"))

    assert "below 03.10.00" in problem
    assert "'03.04.00_01_pre_a.sql'" in problem


def test_latest_git_tag_outside_a_checkout_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(naming.TagUnavailable):
        naming.latest_git_tag(tmp_path)


def _git(repo: Path, *args: str) -> None:
    # Settings of the user's own git config must not decide the outcome.
    options = [
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "-c",
        "commit.gpgsign=false",
    ]
    subprocess.run(["git", *options, *args], cwd=repo, check=True, capture_output=True)


def test_latest_git_tag_reads_the_tag(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _git(tmp_path, "init", "--quiet")
    _git(tmp_path, "commit", "--allow-empty", "--quiet", "--message", "first")
    _git(tmp_path, "tag", "1.2.3")
    subfolder = tmp_path / "sql" / "migrations"
    subfolder.mkdir(parents=True)

    assert naming.latest_git_tag(subfolder) == "1.2.3"
