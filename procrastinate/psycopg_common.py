"""What the psycopg 3 connectors, async and sync, share: parameter adaptation, JSON
hooks and the translation of driver errors."""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import psycopg
import psycopg.errors
from psycopg.types import json as psycopg_json

from procrastinate import connector, exceptions

JSONDumps = Callable[[Any], str]
JSONLoads = Callable[[str | bytes], Any]

_QUEUEING_LOCK_DETAIL = re.compile(
    r"Key \(queueing_lock\)=\((?P<value>.*)\) already exists"
)


def adapt_arguments(
    arguments: dict[str, Any], json_dumps: JSONDumps | None
) -> dict[str, Any] | None:
    """
    Wrap the values meant for ``jsonb`` (dicts, and lists of dicts such as a batch of
    jobs) so that psycopg sends them as JSON, through the user's ``json_dumps``.

    A query without arguments gets ``None``: psycopg then sends it as is, with the
    simple protocol, which allows several statements (the schema) and literal ``%``.
    """
    if not arguments:
        return None
    return {
        key: psycopg_json.Jsonb(value, json_dumps)
        if connector.is_json_argument(value)
        else value
        for key, value in arguments.items()
    }


def configure_json(
    context: psycopg.AsyncCursor[Any] | psycopg.Cursor[Any],
    json_loads: JSONLoads | None,
) -> None:
    """Make ``json``/``jsonb`` values read through this cursor use ``json_loads``."""
    if json_loads is not None:
        psycopg_json.set_json_loads(json_loads, context)


def queueing_lock_from_detail(detail: str | None) -> str | None:
    """The queueing lock value named in a unique violation's detail message."""
    match = _QUEUEING_LOCK_DETAIL.search(detail or "")
    return match.group("value") if match else None


SCHEMA_MISSING_HINT = (
    "The procrastinate schema is missing from this database (or outdated): apply it "
    "with `procrastinate schema --apply`, or run the migrations."
)


def error_message(error: psycopg.Error) -> str:
    """
    The server's message on one line, with its DETAIL and HINT (they often say what
    is wrong and what to do) but without its CONTEXT lines; or the driver's message.
    """
    diag = error.diag
    if not diag.message_primary:
        return " ".join(str(error).split())
    return server_message(diag.message_primary, diag.message_detail, diag.message_hint)


def server_message(primary: str, detail: str | None, hint: str | None) -> str:
    """One line made of a server error's message, DETAIL and HINT."""
    parts = [primary]
    if detail:
        parts.append(f"DETAIL: {detail}")
    if hint:
        parts.append(f"HINT: {hint}")
    return " ".join(" ".join(parts).split())


def translate_error(error: psycopg.Error) -> exceptions.ConnectorException:
    """The procrastinate exception for a psycopg error."""
    message = error_message(error)
    if isinstance(
        error,
        (
            psycopg.errors.UndefinedTable,
            psycopg.errors.UndefinedFunction,
            psycopg.errors.UndefinedObject,
        ),
    ):
        return exceptions.ConnectorException(f"{SCHEMA_MISSING_HINT} ({message})")
    if isinstance(error, psycopg.errors.UniqueViolation):
        return exceptions.UniqueViolation(
            message,
            constraint_name=error.diag.constraint_name,
            queueing_lock=queueing_lock_from_detail(error.diag.message_detail),
        )
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return exceptions.DatabaseUnavailable(message)
    return exceptions.ConnectorException(message)


@contextlib.contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Raise procrastinate exceptions for psycopg errors, chaining the original."""
    try:
        yield
    except psycopg.Error as error:
        raise translate_error(error) from error


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


def raise_unreachable(error: Exception, conninfo: str = "") -> NoReturn:
    """
    Raise the error for a database that cannot be reached, or for connection
    settings that cannot be read, with any password of ``conninfo`` or of the
    driver's message masked. The driver's error is chained, unless its message
    quotes a password (a traceback would show it).

    :raises DatabaseUnavailable: always.
    """
    text = " ".join(str(error).split())
    message = mask_passwords(text, conninfo)
    unavailable = exceptions.DatabaseUnavailable(
        f"Could not connect to PostgreSQL: {message}. Check the connection "
        "settings (conninfo, PG* environment variables) and that the server runs."
    )
    raise unavailable from (error if message == text else None)
