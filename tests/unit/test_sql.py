"""The named queries file."""

from __future__ import annotations

import pytest

from procrastinate import sql


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
