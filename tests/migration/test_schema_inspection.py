"""The schema comparison catches the differences a migration could leave behind.

Each test changes a clone of the template in one way, compares it with the template
(or with the clone changed in another way) and checks that :func:`diff_schemas`
reports exactly that change: a comparison that misses one kind of difference would let
schema.sql and the migrations drift apart silently. Every change is rolled back with
its transaction, so that one clone serves all the tests (see ``scratch_db``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import rows

from . import schema_inspection
from .schema_inspection import diff_schemas

if TYPE_CHECKING:
    from .conftest import Change, Describe, DescribeAfter

Connection = psycopg.Connection[Any]
FETCH_JOBS = (
    "procrastinate_fetch_jobs_v1(target_queue_names character varying[], "
    "p_worker_id bigint, p_limit integer)"
)


def _function_definition(conn: Connection, name: str) -> str:
    with conn.cursor(row_factory=rows.tuple_row) as cursor:
        cursor.execute(
            "SELECT pg_get_functiondef(oid) FROM pg_proc WHERE proname = %s", (name,)
        )
        [(definition,)] = cursor.fetchall()
    return str(definition)


def _split_body(definition: str) -> tuple[str, str, str]:
    # pg_get_functiondef always quotes the body with this tag.
    head, body, tail = definition.split("$function$")
    return head, body, tail


def _change_one_character_of_a_comment(conn: Connection) -> str:
    head, body, tail = _split_body(
        _function_definition(conn, "procrastinate_fetch_jobs_v1")
    )
    position = body.index("-- ") + len("-- ")
    replacement = "B" if body[position] != "B" else "C"
    changed = body[:position] + replacement + body[position + 1 :]
    return "$function$".join([head, changed, tail])


def _add_trailing_whitespace(conn: Connection) -> str:
    head, body, tail = _split_body(
        _function_definition(conn, "procrastinate_fetch_jobs_v1")
    )
    return "$function$".join([head, body.replace("\n", " \t \n"), tail])


@dataclasses.dataclass(frozen=True)
class Mutation:
    """A change to database B (and rarely A), and the difference it must cause."""

    expected: str
    on_b: Change
    on_a: str = ""


MUTATIONS = {
    "function_body_one_character_of_a_comment": Mutation(
        expected=f"function {FETCH_JOBS}: body differs",
        on_b=_change_one_character_of_a_comment,
    ),
    "column_default": Mutation(
        expected="table procrastinate_jobs, column priority: default differs: "
        "a has '0', b has '1'",
        on_b="ALTER TABLE procrastinate_jobs ALTER COLUMN priority SET DEFAULT 1",
    ),
    "dropped_not_null": Mutation(
        expected="table procrastinate_jobs, column queue_name: not null differs",
        on_b="ALTER TABLE procrastinate_jobs ALTER COLUMN queue_name DROP NOT NULL",
    ),
    "column_type": Mutation(
        expected="table procrastinate_jobs, column queue_name: type differs",
        on_b="ALTER TABLE procrastinate_jobs ALTER COLUMN queue_name TYPE text",
    ),
    "column_order": Mutation(
        expected="table procrastinate_events: column order differs",
        on_b="""
            ALTER TABLE procrastinate_events DROP COLUMN type;
            ALTER TABLE procrastinate_events
                ADD COLUMN type procrastinate_job_event_type;
        """,
    ),
    "index_predicate": Mutation(
        expected="index procrastinate_jobs_priority_idx_v1: definition differs",
        on_b="""
            DROP INDEX procrastinate_jobs_priority_idx_v1;
            CREATE INDEX procrastinate_jobs_priority_idx_v1
                ON procrastinate_jobs (priority DESC, id ASC) WHERE status = 'doing';
        """,
    ),
    "enum_label_added_at_the_end": Mutation(
        expected="enum type procrastinate_job_event_type: labels differ",
        on_b="ALTER TYPE procrastinate_job_event_type ADD VALUE 'paused'",
    ),
    "enum_labels_in_another_order": Mutation(
        expected="enum type procrastinate_job_status: labels differ",
        on_a="ALTER TYPE procrastinate_job_status ADD VALUE 'paused' BEFORE 'todo'",
        on_b="ALTER TYPE procrastinate_job_status ADD VALUE 'paused' AFTER 'aborted'",
    ),
    "composite_type_attribute": Mutation(
        expected="composite type procrastinate_job_to_defer_v1: attributes differ",
        on_b="""
            ALTER TYPE procrastinate_job_to_defer_v1
                ALTER ATTRIBUTE priority TYPE bigint
        """,
    ),
    "missing_trigger": Mutation(
        expected="trigger procrastinate_trigger_delete_jobs_v1 on procrastinate_jobs: "
        "only in a",
        on_b="DROP TRIGGER procrastinate_trigger_delete_jobs_v1 ON procrastinate_jobs",
    ),
    "disabled_trigger": Mutation(
        expected="trigger procrastinate_trigger_delete_jobs_v1 on procrastinate_jobs: "
        "state differs",
        on_b="""
            ALTER TABLE procrastinate_jobs
                DISABLE TRIGGER procrastinate_trigger_delete_jobs_v1
        """,
    ),
    "check_constraint": Mutation(
        expected="table procrastinate_jobs, constraint check_not_todo_abort_requested: "
        "definition differs",
        on_b="""
            ALTER TABLE procrastinate_jobs
                DROP CONSTRAINT check_not_todo_abort_requested,
                ADD CONSTRAINT check_not_todo_abort_requested
                    CHECK (NOT (status = 'failed' AND abort_requested = true))
        """,
    ),
    "foreign_key_action": Mutation(
        expected="table procrastinate_jobs, "
        "constraint procrastinate_jobs_worker_id_fkey: definition differs",
        on_b="""
            ALTER TABLE procrastinate_jobs
                DROP CONSTRAINT procrastinate_jobs_worker_id_fkey,
                ADD CONSTRAINT procrastinate_jobs_worker_id_fkey
                    FOREIGN KEY (worker_id) REFERENCES procrastinate_workers(id)
                    ON DELETE CASCADE
        """,
    ),
    "new_function_overload": Mutation(
        expected="function procrastinate_unregister_worker_v1(worker_id integer): "
        "only in b",
        on_b="""
            CREATE FUNCTION procrastinate_unregister_worker_v1(worker_id integer)
                RETURNS void LANGUAGE sql
                AS $$ DELETE FROM procrastinate_workers WHERE id = worker_id $$
        """,
    ),
    "function_volatility": Mutation(
        expected="function procrastinate_register_worker_v1(): volatility differs",
        on_b="ALTER FUNCTION procrastinate_register_worker_v1() STABLE",
    ),
    "sequence_increment": Mutation(
        expected="sequence procrastinate_events_id_seq: increment differs",
        on_b="ALTER SEQUENCE procrastinate_events_id_seq INCREMENT BY 2",
    ),
    "new_view": Mutation(
        expected="view procrastinate_live_jobs: only in b",
        on_b="""
            CREATE VIEW procrastinate_live_jobs AS
                SELECT id FROM procrastinate_jobs WHERE status IN ('todo', 'doing')
        """,
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_diff_reports_the_mutation(
    mutation: Mutation,
    scratch_db: str,
    template_description: schema_inspection.Description,
    describe_after: DescribeAfter,
) -> None:
    a = template_description
    if mutation.on_a:
        a = describe_after(scratch_db, mutation.on_a)
    b = describe_after(scratch_db, mutation.on_b)

    differences = diff_schemas(a, b)

    assert len(differences) == 1, "\n".join(differences)
    assert differences[0].startswith(mutation.expected), differences[0]


def test_identical_databases_have_no_difference(
    cloned_pair: tuple[str, str], describe_db: Describe
) -> None:
    a, b = cloned_pair

    assert diff_schemas(describe_db(a), describe_db(b)) == []


def test_body_difference_shows_the_changed_lines(
    scratch_db: str,
    template_description: schema_inspection.Description,
    describe_after: DescribeAfter,
) -> None:
    [difference] = diff_schemas(
        template_description,
        describe_after(scratch_db, _change_one_character_of_a_comment),
        a_name="schema.sql",
        b_name="migrations",
    )

    snippet = difference.splitlines()[1:]
    assert snippet[:2] == ["    --- schema.sql", "    +++ migrations"]
    removed = [line for line in snippet if line.startswith("    -    -- ")]
    added = [line for line in snippet if line.startswith("    +    -- ")]
    assert len(removed) == len(added) == 1
    assert removed[0][6:] != added[0][6:]


def test_trailing_whitespace_of_body_lines_is_ignored(
    scratch_db: str,
    template_description: schema_inspection.Description,
    describe_after: DescribeAfter,
) -> None:
    b = describe_after(scratch_db, _add_trailing_whitespace)

    assert diff_schemas(template_description, b) == []


def _extension_available(dbname: str, extension: str) -> bool:
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = %s", (extension,)
        ).fetchall()
    return bool(found)


def test_objects_of_extensions_are_left_out(
    scratch_db: str,
    template_description: schema_inspection.Description,
    describe_after: DescribeAfter,
) -> None:
    if not _extension_available(scratch_db, "citext"):
        pytest.skip("the citext extension is not installed on this server")
    # citext creates a type, casts and dozens of functions in the public schema.
    b = describe_after(scratch_db, "CREATE EXTENSION citext SCHEMA public")

    assert diff_schemas(template_description, b) == []


def test_rolled_back_changes_leave_the_scratch_database_as_the_template(
    scratch_db: str,
    template_description: schema_inspection.Description,
    describe_db: Describe,
) -> None:
    # The tests above share scratch_db: had one change survived its rollback, the
    # later ones would compare against a different starting point.
    assert diff_schemas(template_description, describe_db(scratch_db)) == []


def test_description_covers_the_procrastinate_schema(
    template_description: schema_inspection.Description,
) -> None:
    # Guards against a filter so strict that everything compares equal because
    # nothing is described.
    description = template_description

    jobs = description["tables"]["procrastinate_jobs"]
    assert jobs["column_order"][:3] == ["id", "queue_name", "task_name"]
    assert jobs["columns"]["status"]["default"] == "'todo'::procrastinate_job_status"
    assert jobs["constraints"]["check_not_todo_abort_requested"]["type"] == "check"
    assert description["enums"]["procrastinate_job_status"]["labels"][:2] == [
        "todo",
        "doing",
    ]
    assert ["priority", "integer"] in description["composite_types"][
        "procrastinate_job_to_defer_v1"
    ]["attributes"]
    assert (
        "WHERE (status = 'todo'"
        in (
            description["indexes"]["procrastinate_jobs_queueing_lock_idx_v1"][
                "definition"
            ]
        )
    )
    assert description["sequences"]["procrastinate_workers_id_seq"]["ownership"] == (
        "identity of procrastinate_workers.id"
    )
    assert description["functions"][FETCH_JOBS]["language"] == "plpgsql"
    assert (
        "procrastinate_trigger_delete_jobs_v1 on procrastinate_jobs"
        in (description["triggers"])
    )


def test_diff_of_hand_made_descriptions_names_both_sides() -> None:
    a: schema_inspection.Description = {"views": {"v": {"definition": "SELECT 1"}}}
    b: schema_inspection.Description = {"views": {}, "domains": {"d": {}}}

    assert diff_schemas(a, b, a_name="left", b_name="right") == [
        "domain d: only in right",
        "view v: only in left",
    ]


def test_long_body_difference_is_cut() -> None:
    def body(marker: str) -> schema_inspection.Description:
        lines = "\n".join(f"line {number} {marker}" for number in range(40))
        return {"functions": {"f()": {"body": lines}}}

    [difference] = diff_schemas(body("old"), body("new"))

    assert difference.splitlines()[-1].endswith("more diff lines)")


def test_without_column_order_keeps_everything_else(
    scratch_db: str,
    template_description: schema_inspection.Description,
    describe_after: DescribeAfter,
) -> None:
    moved = describe_after(scratch_db, MUTATIONS["column_order"].on_b)
    retyped = describe_after(scratch_db, MUTATIONS["column_type"].on_b)
    a = schema_inspection.without_column_order(template_description)

    assert diff_schemas(a, schema_inspection.without_column_order(moved)) == []
    assert diff_schemas(a, schema_inspection.without_column_order(retyped)) != []
