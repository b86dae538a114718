"""``procrastinate_fetch_jobs_v2`` inlines the query of
``procrastinate_fetchable_jobs_v1`` for fetches that no queue limit applies to, because
calling the function costs a fifth more per fetch, and the lock rule cannot be an SQL
function that PostgreSQL inlines (its ``NOT EXISTS`` sublink prevents inlining). These
checks keep the two copies of which jobs may start alike, so that they cannot drift."""

from __future__ import annotations

import pathlib
import re

import pytest

import procrastinate

SCHEMA = pathlib.Path(procrastinate.__file__).parent / "sql" / "schema.sql"
#: The lines of the copies that legitimately differ: v1 takes its exclusions as
#: arguments, v2 excludes the paused queues it reads itself.
EXCLUSIONS = re.compile(r"\b(excluded_queue_names|excluded_ids|_paused)\b")


def function_body(schema: str, name: str) -> str:
    """The text of the function ``name`` in ``schema``, from its ``CREATE FUNCTION``
    to the end of its body.

    :raises AssertionError: if ``schema`` does not define ``name`` exactly once.
    """
    starts = [
        m.start() for m in re.finditer(rf"^CREATE FUNCTION {name}\(", schema, re.M)
    ]
    assert len(starts) == 1, f"{name} is defined {len(starts)} times in schema.sql"
    end = schema.index("\n$$;", starts[0])
    return schema[starts[0] : end]


def fetch_rule(body: str) -> list[str]:
    """The candidate query of a fetch function: its lines from the ``todo`` filter to
    the ``SKIP LOCKED`` clause, stripped of indentation and of :data:`EXCLUSIONS`.

    :raises AssertionError: if ``body`` holds no such query, or more than one.
    """
    lines = [line.strip().rstrip(";") for line in body.splitlines()]
    starts = [i for i, line in enumerate(lines) if line == "WHERE jobs.status = 'todo'"]
    assert len(starts) == 1, f"{len(starts)} candidate queries where one was expected"
    end = lines.index("FOR UPDATE OF jobs SKIP LOCKED", starts[0])
    return [line for line in lines[starts[0] : end + 1] if not EXCLUSIONS.search(line)]


def test_fetch_jobs_v2_inlines_the_fetchable_jobs_v1_rule_unchanged() -> None:
    schema = SCHEMA.read_text(encoding="utf-8")
    v1 = fetch_rule(function_body(schema, "procrastinate_fetchable_jobs_v1"))
    v2 = fetch_rule(function_body(schema, "procrastinate_fetch_jobs_v2"))
    # The lock rule is part of what is compared: a copy missing it cannot pass.
    assert "jobs.lock IS NULL" in v1
    assert v2 == v1


def test_fetch_rule_tells_a_changed_copy_apart() -> None:
    schema = SCHEMA.read_text(encoding="utf-8")
    body = function_body(schema, "procrastinate_fetch_jobs_v2")
    changed = body.replace("jobs.lock_mode = 'ordered'", "jobs.lock_mode = 'mutex'")
    assert changed != body
    assert fetch_rule(changed) != fetch_rule(body)


def test_function_body_requires_one_definition() -> None:
    with pytest.raises(AssertionError, match="defined 0 times"):
        function_body("CREATE FUNCTION other()\nAS $$\n$$;\n", "missing")
