"""What a driver error means to procrastinate, the same for every connector.

A driver describes its error as a :class:`DriverError` (SQLSTATE, message, constraint);
:func:`~procrastinate.connector.errors.translate` picks the procrastinate exception from that description alone, so
that every connector raises the same exception for the same database error. Messages
about connection settings are masked here too: no password reaches a message, a log
line or a traceback.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Any, NoReturn

from procrastinate import exceptions

SCHEMA_MISSING_HINT = (
    "The procrastinate schema is missing from this database (or outdated): apply it "
    "with `procrastinate schema --apply`, or run the migrations."
)

UNIQUE_VIOLATION = "23505"
READ_ONLY_TRANSACTION = "25006"
# undefined_table, undefined_function, undefined_object: the schema is not there.
SCHEMA_MISSING_STATES = frozenset({"42P01", "42883", "42704"})
# admin_shutdown, crash_shutdown: the server ended the session (a restart, a
# pg_terminate_backend), rolling back what it was running.
SESSION_ENDED_STATES = frozenset({"57P01", "57P02"})

_QUEUEING_LOCK_DETAIL = re.compile(
    r"Key \(queueing_lock\)=\((?P<value>.*)\) already exists"
)


@dataclasses.dataclass(frozen=True)
class DriverError:
    """
    A driver's error, as procrastinate reads it.

    :param message: the error on one line (the server's message, DETAIL and HINT, or
        the driver's own message).
    :param sqlstate: the SQLSTATE code sent by the server; ``None`` for an error of the
        driver or of the network.
    :param connection_error: the driver raised it about the connection (DB-API's
        ``OperationalError`` or ``InterfaceError``): unreachable server, lost session.
    :param constraint_name: the constraint that a statement violated, if any.
    :param detail: the server's DETAIL message, if any.
    """

    message: str
    sqlstate: str | None = None
    connection_error: bool = False
    constraint_name: str | None = None
    detail: str | None = None

    @property
    def session_ended(self) -> bool:
        """
        Whether the session ended before the statement's result came: the server
        ended it (the statement was rolled back), or the driver found its socket
        closed (the statement was never sent, or was lost on its way back, committed
        or not: running it again is at least once, as the failure modes page says).
        """
        if self.sqlstate in SESSION_ENDED_STATES:
            return True
        return self.connection_error and self.sqlstate is None


def server_message(primary: str, detail: str | None, hint: str | None) -> str:
    """One line made of a server error's message, DETAIL and HINT."""
    parts = [primary]
    if detail:
        parts.append(f"DETAIL: {detail}")
    if hint:
        parts.append(f"HINT: {hint}")
    return " ".join(" ".join(parts).split())


def describe_dbapi_error(
    error: Any, *, sqlstate: str | None, connection_error: bool
) -> DriverError:
    """
    The description of an error of psycopg or psycopg2, which both carry the
    server's fields in ``error.diag``: the server's message with its DETAIL and HINT
    (not its CONTEXT lines), else the driver's message, on one line.

    :param error: the driver's exception.
    :param sqlstate: its SQLSTATE, as the driver spells the attribute.
    :param connection_error: whether the driver raised it about the connection.
    """
    diag = error.diag
    if diag.message_primary:
        message = server_message(
            diag.message_primary, diag.message_detail, diag.message_hint
        )
    else:
        message = " ".join(str(error).split()) or type(error).__name__
    return DriverError(
        message=message,
        sqlstate=sqlstate,
        connection_error=connection_error,
        constraint_name=diag.constraint_name,
        detail=diag.message_detail,
    )


def queueing_lock_from_detail(detail: str | None) -> str | None:
    """The queueing lock value named in a unique violation's detail message."""
    match = _QUEUEING_LOCK_DETAIL.search(detail or "")
    return match.group("value") if match else None


def translate(error: DriverError) -> exceptions.ConnectorException:
    """
    The procrastinate exception for a driver's error: :class:`UniqueViolation` with
    the constraint's name, :class:`DatabaseUnavailable` for an unreachable server or
    a lost connection, :class:`TransientDatabaseError` for a read-only transaction,
    :class:`ConnectorException` (with a hint when the schema is missing) for others.

    :param error: the description of the driver's error.
    """
    message = error.message
    if error.sqlstate in SCHEMA_MISSING_STATES:
        return exceptions.ConnectorException(f"{SCHEMA_MISSING_HINT} ({message})")
    if error.sqlstate == UNIQUE_VIOLATION:
        return exceptions.UniqueViolation(
            message,
            constraint_name=error.constraint_name,
            queueing_lock=queueing_lock_from_detail(error.detail),
        )
    if error.connection_error or error.session_ended:
        return exceptions.DatabaseUnavailable(message)
    if error.sqlstate == READ_ONLY_TRANSACTION:
        return exceptions.TransientDatabaseError(message)
    return exceptions.ConnectorException(message)


MASK = "***"
# The password of a URI (``scheme://user:password@host``, up to the last ``@`` since
# a malformed URI may hold more) or of a ``password=`` setting, quoted or not.
_URI_PASSWORD = re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^\s\"']*@", re.I)
_SETTING_PASSWORD = re.compile(
    r"(?P<keep>password\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s&\"]+)", re.I
)


def conninfo_passwords(conninfo: str) -> set[str]:
    """
    The password of a connection string, in every form an error message may quote
    it (as written, percent-decoded, unquoted). Found by patterns, not by libpq:
    the strings to mask are precisely those that libpq cannot parse.
    """
    found: set[str] = set()
    uri = re.match(r"\s*[a-z][a-z0-9+.-]*://[^:/@]*:(?P<password>.*)@", conninfo, re.I)
    if uri:
        found.add(uri.group("password"))
    for match in re.finditer(
        r"password\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.)*)'?|(?P<bare>[^\s&]+))",
        conninfo,
        re.I,
    ):
        found.add(match.group("quoted") or match.group("bare") or "")
    decoded = {urllib.parse.unquote(secret) for secret in found}
    unescaped = {re.sub(r"\\(.)", r"\1", secret) for secret in found}
    return {secret for secret in found | decoded | unescaped if secret}


def mask_passwords(text: str, conninfo: str = "") -> str:
    """
    ``text`` with ``***`` instead of any password: those in the URIs and
    ``password=`` settings it quotes, and that of ``conninfo`` wherever it appears.
    """
    # Longest first: a password may contain a shorter one's text.
    for secret in sorted(conninfo_passwords(conninfo), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URI_PASSWORD.sub(rf"\g<keep>{MASK}@", text)
    return _SETTING_PASSWORD.sub(rf"\g<keep>{MASK}", text)


def unreachable(error: Exception, conninfo: str = "") -> exceptions.DatabaseUnavailable:
    """
    The error for a database that cannot be reached, or for connection settings that
    cannot be read, with any password of ``conninfo`` or of the driver's message
    masked. The driver's error is its cause, unless its message quotes a password (a
    traceback would show it): the context is then hidden too.
    """
    text = " ".join(str(error).split())
    message = mask_passwords(text, conninfo)
    unavailable = exceptions.DatabaseUnavailable(
        f"Could not connect to PostgreSQL: {message}. Check the connection "
        "settings (conninfo, PG* environment variables) and that the server runs."
    )
    unavailable.__cause__ = error if message == text else None
    unavailable.__suppress_context__ = True
    return unavailable


def raise_unreachable(error: Exception, conninfo: str = "") -> NoReturn:
    """
    Raise :func:`unreachable`'s error.

    :raises DatabaseUnavailable: always.
    """
    raise unreachable(error, conninfo)


def pool_exhausted(
    error: Exception, reason: exceptions.DatabaseUnavailable | None
) -> exceptions.DatabaseUnavailable:
    """
    The error for a pool that gave no connection in time. The pool does not say why:
    ``reason`` is what a direct connection attempt got from the server (too many
    clients, shutting down...), ``None`` when that attempt worked.
    """
    if reason is not None:
        return reason
    return exceptions.DatabaseUnavailable(
        f"No connection of the pool became free in time ({str(error).strip()}): the "
        "pool's max_size may be too small for what this process runs at once."
    )
