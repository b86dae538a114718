"""Which driver errors a worker retries: the transient ones, for both drivers."""

from __future__ import annotations

import psycopg
import psycopg.errors
import pytest

from procrastinate import exceptions, psycopg_common

pytest.importorskip(
    "psycopg2", reason="psycopg2 is missing: run scripts/bootstrap (all extras)"
)
import psycopg2
import psycopg2.errors

from procrastinate.contrib import psycopg2_common

CASES = [
    (psycopg.errors.ReadOnlySqlTransaction, exceptions.TransientDatabaseError),
    (psycopg.errors.SerializationFailure, exceptions.TransientDatabaseError),
    (psycopg.errors.TooManyConnections, exceptions.DatabaseUnavailable),
    (psycopg.errors.AdminShutdown, exceptions.DatabaseUnavailable),
    (psycopg.OperationalError, exceptions.DatabaseUnavailable),
]


@pytest.mark.parametrize(("error", "expected"), CASES)
def test_psycopg_transient_errors(
    error: type[psycopg.Error], expected: type[Exception]
) -> None:
    assert isinstance(psycopg_common.translate_error(error("x")), expected)


def test_psycopg_other_errors_are_not_transient() -> None:
    translated = psycopg_common.translate_error(psycopg.errors.ForeignKeyViolation("x"))
    assert not isinstance(translated, exceptions.TransientDatabaseError)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (psycopg2.errors.ReadOnlySqlTransaction, exceptions.TransientDatabaseError),
        (psycopg2.OperationalError, exceptions.DatabaseUnavailable),
        (psycopg2.errors.ForeignKeyViolation, exceptions.ConnectorException),
    ],
)
def test_psycopg2_errors(error: type[Exception], expected: type[Exception]) -> None:
    translated = psycopg2_common.translate_error(error("x"))
    assert type(translated) is expected
