"""What the connectors say when something goes wrong: no password, ever, and the
server's whole explanation (DETAIL and HINT)."""

from __future__ import annotations

import socket
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import procrastinate
from procrastinate import connector as connector_module
from procrastinate import exceptions, psycopg_common
from procrastinate.contrib.aiopg import AiopgConnector
from procrastinate.contrib.psycopg2 import Psycopg2Connector
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector

PASSWORD = "s3cr%zzEt-pw"
# libpq quotes the whole URI, or the token, in its message about each of these.
MALFORMED = {
    "unclosed IPv6 bracket": "postgresql://me:Hunter2-pw@[::1/db",
    "bad percent escape": f"postgresql://me:{PASSWORD}@localhost/db",
    "NUL percent escape": "postgresql://me:s3cr%00etpw@localhost/db",
}
SECRETS = ("Hunter2-pw", PASSWORD, "s3cr%00etpw", "s3cr")


async def open_psycopg(conninfo: str) -> None:
    await procrastinate.PsycopgConnector(conninfo=conninfo).open_async()


async def open_sync_psycopg(conninfo: str) -> None:
    procrastinate.SyncPsycopgConnector(conninfo=conninfo).open()


async def open_psycopg2(conninfo: str) -> None:
    Psycopg2Connector(dsn=conninfo).open()


async def open_aiopg(conninfo: str) -> None:
    await AiopgConnector(dsn=conninfo).open_async()


async def open_sqlalchemy(conninfo: str) -> None:
    connector = SQLAlchemyPsycopg2Connector(dsn=conninfo)
    connector.open()


OPENERS: dict[str, Callable[[str], Awaitable[None]]] = {
    "psycopg": open_psycopg,
    "sync psycopg": open_sync_psycopg,
    "psycopg2": open_psycopg2,
    "aiopg": open_aiopg,
}


@pytest.fixture
def closed_port() -> int:
    """A local TCP port on which nothing listens (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_no_secret(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, text


@pytest.mark.parametrize("conninfo", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("opener", OPENERS.values(), ids=OPENERS.keys())
async def test_malformed_conninfo_error_masks_the_password(
    opener: Callable[[str], Awaitable[None]], conninfo: str
) -> None:
    with pytest.raises(exceptions.DatabaseUnavailable) as excinfo:
        await opener(conninfo)

    assert str(excinfo.value).startswith("Could not connect to PostgreSQL: ")
    assert "***" in str(excinfo.value)
    assert_no_secret(excinfo.value)


async def test_sqlalchemy_error_masks_the_password(closed_port: int) -> None:
    # SQLAlchemy parses the URL itself (and masks it in its own messages); the
    # connection error of the driver must not reveal it either.
    conninfo = f"postgresql://me:Hunter2-pw@127.0.0.1:{closed_port}/db"
    with pytest.raises(exceptions.DatabaseUnavailable) as excinfo:
        await open_sqlalchemy(conninfo)
    assert_no_secret(excinfo.value)


async def test_unreachable_server_error_still_chains_the_driver_error(
    closed_port: int,
) -> None:
    # Nothing to mask: the driver's error stays available to debug.
    conninfo = f"postgresql://me:Hunter2-pw@127.0.0.1:{closed_port}/db"
    with pytest.raises(exceptions.DatabaseUnavailable) as excinfo:
        await open_psycopg(conninfo)
    assert excinfo.value.__cause__ is not None
    assert_no_secret(excinfo.value)


@pytest.mark.parametrize(
    ("text", "conninfo", "masked"),
    [
        (
            'in URI: "postgresql://u:pw@[::1/db"',
            "",
            'in URI: "postgresql://u:***@[::1/db"',
        ),
        ('token: "p%zz"', "postgresql://u:p%zz@h/d", 'token: "***"'),
        ("x p@ss y", "postgresql://u:p%40ss@h/d", "x *** y"),
        ("host=h password='a b' port", "", "host=h password=*** port"),
        ("unterminated 'a b", "password='a b", "unterminated '***"),
        ("?password=pw&sslmode=x", "", "?password=***&sslmode=x"),
    ],
)
def test_mask_passwords(text: str, conninfo: str, masked: str) -> None:
    assert psycopg_common.mask_passwords(text, conninfo) == masked


DETAILED_ERROR = """
    DO $$ BEGIN
        RAISE EXCEPTION 'the primary message'
            USING DETAIL = 'what exactly went wrong', HINT = 'what to do about it';
    END $$
"""


def connectors(conninfo: str, db_name: str) -> dict[str, Any]:
    return {
        "psycopg": procrastinate.PsycopgConnector(conninfo=conninfo),
        "sync psycopg": procrastinate.SyncPsycopgConnector(conninfo=conninfo),
        "psycopg2": Psycopg2Connector(dsn=conninfo),
        "aiopg": AiopgConnector(dsn=conninfo),
        "sqlalchemy": SQLAlchemyPsycopg2Connector(dsn=f"postgresql:///{db_name}"),
    }


async def execute(connector: Any, query: str) -> None:
    if isinstance(connector, connector_module.BaseAsyncConnector):
        async with procrastinate.App(connector=connector).open_async():
            await connector.execute_query_async(query)
        return
    with procrastinate.App(connector=connector).open():
        connector.execute_query(query)


@pytest.mark.parametrize(
    "name", ["psycopg", "sync psycopg", "psycopg2", "aiopg", "sqlalchemy"]
)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            DETAILED_ERROR,
            "the primary message DETAIL: what exactly went wrong HINT: what to do "
            "about it",
        ),
        # Used to be "unsupported Unicode escape sequence", alone.
        (
            """SELECT '"\\u0000"'::jsonb""",
            "unsupported Unicode escape sequence DETAIL: \\u0000 cannot be converted "
            "to text.",
        ),
    ],
    ids=["raise with detail and hint", "NUL in jsonb"],
)
async def test_server_errors_keep_detail_and_hint(
    name: str, query: str, expected: str, conninfo: str, db_name: str
) -> None:
    connector = connectors(conninfo, db_name)[name]
    with pytest.raises(exceptions.ConnectorException) as excinfo:
        await execute(connector, query)
    assert expected in str(excinfo.value)
