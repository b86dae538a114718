"""The named queries file."""

from __future__ import annotations

import pickle

import pytest

from procrastinate import sql
from procrastinate.sql import facts


def test_parse_query_file_names_and_strips_descriptions() -> None:
    text = "-- Header comment\n\n-- one --\n-- what it does\nSELECT 1;\n\n-- two --\n-- desc\n-- more desc\nSELECT\n  2;\n"
    assert sql.parse_query_file(text) == {"one": "SELECT 1;", "two": "SELECT\n  2;"}


def test_parse_query_file_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="twice"):
        sql.parse_query_file("-- a --\nSELECT 1;\n-- a --\nSELECT 2;\n")


def test_packaged_queries_are_parsed() -> None:
    for name in ("defer_jobs", "fetch_jobs", "finish_job", "retry_job", "cancel_job"):
        assert sql.queries[name].strip()
        assert "--" not in sql.queries[name].splitlines()[0]


def test_named_queries_are_plain_strings_carrying_their_name() -> None:
    query = sql.queries["fetch_jobs"]

    assert isinstance(query, str)
    assert query.name == "fetch_jobs"
    assert query == str(query)
    restored = pickle.loads(pickle.dumps(query))
    assert (restored, restored.name) == (query, "fetch_jobs")


def test_queue_channel_matches_the_schema_limit() -> None:
    assert facts.queue_channel("q") == "procrastinate_queue_v1#q"
    assert len(facts.queue_channel("é" * 40).encode()) <= facts.MAX_CHANNEL_BYTES
