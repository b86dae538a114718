"""Which migrations a database lacks, and whether the code can run without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from procrastinate import schema

PRE_A = "03.10.00_01_pre_a.sql"
PRE_B = "04.00.00_02_pre_b.sql"
POST_A = "03.10.00_50_post_a.sql"
POST_B = "04.00.00_51_post_b.sql"


def test_migration_names_are_the_packaged_files_in_order() -> None:
    folder = Path(schema.SchemaManager.get_migrations_path())

    names = schema.SchemaManager.get_migration_names()

    assert names == sorted(path.name for path in folder.glob("*.sql"))
    assert names


@pytest.mark.parametrize(
    ("name", "post"), [(PRE_A, False), (POST_A, True), ("01.00.00_49_pre_x.sql", False)]
)
def test_post_migrations_have_serials_from_50(name: str, post: bool) -> None:
    assert schema.is_post_migration(name) is post


def test_missing_migrations_in_applying_order() -> None:
    packaged = [POST_B, PRE_A, PRE_B, POST_A]

    assert schema.missing_migrations(
        packaged, [PRE_A, "99.00.00_01_pre_newer.sql"]
    ) == [
        POST_A,
        PRE_B,
        POST_B,
    ]


def test_nothing_missing_passes() -> None:
    assert schema.check_migrations([]) == []


def test_only_post_migrations_missing_passes_and_names_them() -> None:
    assert schema.check_migrations([POST_A, POST_B]) == [POST_A, POST_B]


def test_a_missing_pre_migration_fails_naming_the_first_missing_one() -> None:
    # The files apply in order: the post migration before the pre one comes first.
    with pytest.raises(schema.MissingMigrations) as excinfo:
        schema.check_migrations([POST_A, PRE_B])

    assert excinfo.value.missing == [POST_A, PRE_B]
    assert str(excinfo.value).startswith(f"The database lacks the migration {POST_A},")


def test_migrations_line_without_missing_post_migrations() -> None:
    assert schema.migrations_line([]) == "Migrations: OK"


def test_migrations_line_names_the_missing_post_migrations() -> None:
    assert schema.migrations_line([POST_A, POST_B]) == (
        "Migrations: OK, but apply the post migrations once no worker of the previous "
        f"version runs: {POST_A}, {POST_B}"
    )
