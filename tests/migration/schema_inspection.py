"""Describe the objects of the ``public`` schema of a database, and compare two
descriptions.

The description is read from pg_catalog, through the functions PostgreSQL itself uses
to dump a schema (``format_type``, ``pg_get_expr``, ``pg_get_constraintdef``,
``pg_get_indexdef``, ``pg_get_triggerdef``...), so that two databases built by
different paths (``schema.sql`` on one side, the migrations on the other) can be
compared object by object. Objects that belong to an extension are left out: they are
the extension's business, not ours.

A description is a tree of plain dicts and lists. Its top level maps a kind of object
("tables", "functions"...) to a collection: a dict from object name to a record of the
object's attributes. A record may itself hold collections (a table's "columns" and
"constraints"). :func:`diff_schemas` walks two such trees.
"""

from __future__ import annotations

import difflib
from typing import Any

import psycopg
from psycopg import rows

Record = dict[str, Any]
Collection = dict[str, Record]
Description = dict[str, Collection]

# Fields that hold a collection of named objects, with the noun naming one of them in
# the messages of diff_schemas.
_NOUNS = {
    "tables": "table",
    "columns": "column",
    "constraints": "constraint",
    "indexes": "index",
    "sequences": "sequence",
    "enums": "enum type",
    "composite_types": "composite type",
    "domains": "domain",
    "functions": "function",
    "triggers": "trigger",
    "views": "view",
}

# A body snippet longer than this is cut: the first lines locate the change, and the
# whole function is one pg_get_functiondef away.
_MAX_SNIPPET_LINES = 16


def _not_from_extension(catalog: str, oid: str) -> str:
    """SQL condition: the object is not a member of an extension."""
    return (
        "NOT EXISTS (SELECT 1 FROM pg_depend AS ext_dep"
        f" WHERE ext_dep.classid = '{catalog}'::regclass"
        f" AND ext_dep.objid = {oid} AND ext_dep.deptype = 'e')"
    )


_PUBLIC_RELATIONS = f"""
    c.relnamespace = 'public'::regnamespace
    AND {_not_from_extension("pg_class", "c.oid")}
"""

_PUBLIC_TYPES = f"""
    t.typnamespace = 'public'::regnamespace
    AND {_not_from_extension("pg_type", "t.oid")}
"""

_TABLES = f"""
SELECT c.relname, c.relkind::text, c.relpersistence::text
FROM pg_class AS c
WHERE c.relkind IN ('r', 'p') AND {_PUBLIC_RELATIONS}
"""

_COLUMNS = f"""
SELECT
    c.relname,
    a.attname,
    format_type(a.atttypid, a.atttypmod),
    a.attnotnull,
    pg_get_expr(d.adbin, d.adrelid),
    a.attidentity::text,
    a.attgenerated::text,
    CASE WHEN a.attcollation <> t.typcollation THEN coll.collname END
FROM pg_attribute AS a
JOIN pg_class AS c ON c.oid = a.attrelid
JOIN pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation AS coll ON coll.oid = a.attcollation
WHERE c.relkind IN ('r', 'p') AND {_PUBLIC_RELATIONS}
    AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

_CONSTRAINTS = f"""
SELECT c.relname, con.conname, con.contype::text, pg_get_constraintdef(con.oid)
FROM pg_constraint AS con
JOIN pg_class AS c ON c.oid = con.conrelid
WHERE c.relkind IN ('r', 'p') AND {_PUBLIC_RELATIONS}
"""

_INDEXES = f"""
SELECT c.relname, pg_get_indexdef(c.oid)
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
WHERE {_PUBLIC_RELATIONS}
"""

# A sequence is tied to a column either as a serial (deptype 'a', OWNED BY) or as an
# identity (deptype 'i'): the two look alike elsewhere, so the kind of link is kept.
_SEQUENCES = f"""
SELECT
    c.relname,
    format_type(s.seqtypid, NULL),
    s.seqincrement,
    s.seqstart,
    s.seqmin,
    s.seqmax,
    s.seqcache,
    s.seqcycle,
    (
        SELECT
            CASE dep.deptype WHEN 'i' THEN 'identity of ' ELSE 'owned by ' END
            || owner.relname || '.' || owner_col.attname
        FROM pg_depend AS dep
        JOIN pg_class AS owner ON owner.oid = dep.refobjid
        JOIN pg_attribute AS owner_col
            ON owner_col.attrelid = dep.refobjid AND owner_col.attnum = dep.refobjsubid
        WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
            AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')
    )
FROM pg_sequence AS s
JOIN pg_class AS c ON c.oid = s.seqrelid
WHERE {_PUBLIC_RELATIONS}
"""

_ENUMS = f"""
SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
FROM pg_type AS t
JOIN pg_enum AS e ON e.enumtypid = t.oid
WHERE t.typtype = 'e' AND {_PUBLIC_TYPES}
GROUP BY t.typname
"""

# Every table has a composite row type too: only the standalone ones (relkind 'c') are
# types of their own.
_COMPOSITE_TYPES = f"""
SELECT
    t.typname,
    array_agg(a.attname::text ORDER BY a.attnum),
    array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
FROM pg_type AS t
JOIN pg_class AS rel ON rel.oid = t.typrelid AND rel.relkind = 'c'
JOIN pg_attribute AS a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE t.typtype = 'c' AND {_PUBLIC_TYPES}
GROUP BY t.typname
"""

_DOMAINS = f"""
SELECT
    t.typname,
    format_type(t.typbasetype, t.typtypmod),
    t.typnotnull,
    t.typdefault,
    (
        SELECT array_agg(pg_get_constraintdef(con.oid) ORDER BY con.conname)
        FROM pg_constraint AS con WHERE con.contypid = t.oid
    )
FROM pg_type AS t
WHERE t.typtype = 'd' AND {_PUBLIC_TYPES}
"""

_FUNCTIONS = f"""
SELECT
    p.proname,
    pg_get_function_identity_arguments(p.oid),
    p.prokind::text,
    pg_get_function_result(p.oid),
    l.lanname,
    p.provolatile::text,
    p.proisstrict,
    p.prosecdef,
    p.proconfig,
    p.prosrc
FROM pg_proc AS p
JOIN pg_language AS l ON l.oid = p.prolang
WHERE p.pronamespace = 'public'::regnamespace
    AND {_not_from_extension("pg_proc", "p.oid")}
"""

_TRIGGERS = f"""
SELECT c.relname, tg.tgname, pg_get_triggerdef(tg.oid), tg.tgenabled::text
FROM pg_trigger AS tg
JOIN pg_class AS c ON c.oid = tg.tgrelid
WHERE NOT tg.tgisinternal AND {_PUBLIC_RELATIONS}
"""

_VIEWS = f"""
SELECT c.relname, c.relkind::text, pg_get_viewdef(c.oid)
FROM pg_class AS c
WHERE c.relkind IN ('v', 'm') AND {_PUBLIC_RELATIONS}
"""

_RELATION_KINDS = {"r": "table", "p": "partitioned table", "v": "view"}
_PERSISTENCES = {"p": "logged", "u": "unlogged", "t": "temporary"}
_CONSTRAINT_TYPES = {
    "c": "check",
    "f": "foreign key",
    "n": "not null",
    "p": "primary key",
    "u": "unique",
    "t": "constraint trigger",
    "x": "exclusion",
}
_FUNCTION_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}
_VOLATILITIES = {"i": "immutable", "s": "stable", "v": "volatile"}
_IDENTITIES = {"": None, "a": "always", "d": "by default"}
_GENERATED = {"": None, "s": "stored", "v": "virtual"}
_TRIGGER_STATES = {"O": "enabled", "D": "disabled", "R": "replica", "A": "always"}


def _fetch(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    # The caller's connection may have any row factory: ask for tuples explicitly.
    with conn.cursor(row_factory=rows.tuple_row) as cursor:
        cursor.execute(query)
        return cursor.fetchall()


def normalize_body(body: str) -> str:
    """A function body without the trailing whitespace of its lines (editors and
    heredocs disagree on it, PostgreSQL keeps it verbatim)."""
    return "\n".join(line.rstrip() for line in body.splitlines())


def _tables(conn: psycopg.Connection[Any]) -> Collection:
    tables: Collection = {
        name: {
            "kind": _RELATION_KINDS[kind],
            "persistence": _PERSISTENCES[persistence],
            "columns": {},
            "column_order": [],
            "constraints": {},
        }
        for name, kind, persistence in _fetch(conn, _TABLES)
    }
    for table, column, *attributes in _fetch(conn, _COLUMNS):
        type_, not_null, default, identity, generated, collation = attributes
        tables[table]["columns"][column] = {
            "type": type_,
            "not_null": not_null,
            "default": default,
            "identity": _IDENTITIES[identity],
            "generated": _GENERATED[generated],
            "collation": collation,
        }
        # Rows come ordered by attnum: the position itself differs after a dropped
        # column, the order does not.
        tables[table]["column_order"].append(column)
    for table, name, type_, definition in _fetch(conn, _CONSTRAINTS):
        tables[table]["constraints"][name] = {
            "type": _CONSTRAINT_TYPES.get(type_, type_),
            "definition": definition,
        }
    return tables


def _indexes(conn: psycopg.Connection[Any]) -> Collection:
    return {
        name: {"definition": definition} for name, definition in _fetch(conn, _INDEXES)
    }


_SEQUENCE_FIELDS = ("type", "increment", "start", "min", "max", "cache", "cycle")


def _sequences(conn: psycopg.Connection[Any]) -> Collection:
    sequences: Collection = {}
    for name, *values, ownership in _fetch(conn, _SEQUENCES):
        sequences[name] = {
            **dict(zip(_SEQUENCE_FIELDS, values, strict=True)),
            "ownership": ownership,
        }
    return sequences


def _enums(conn: psycopg.Connection[Any]) -> Collection:
    return {name: {"labels": list(labels)} for name, labels in _fetch(conn, _ENUMS)}


def _composite_types(conn: psycopg.Connection[Any]) -> Collection:
    return {
        name: {"attributes": [list(pair) for pair in zip(names, types)]}
        for name, names, types in _fetch(conn, _COMPOSITE_TYPES)
    }


def _domains(conn: psycopg.Connection[Any]) -> Collection:
    return {
        name: {
            "type": type_,
            "not_null": not_null,
            "default": default,
            "checks": list(checks or []),
        }
        for name, type_, not_null, default, checks in _fetch(conn, _DOMAINS)
    }


def _functions(conn: psycopg.Connection[Any]) -> Collection:
    functions: Collection = {}
    for name, arguments, kind, *attributes in _fetch(conn, _FUNCTIONS):
        result, language, volatility, strict, security_definer, config, body = (
            attributes
        )
        functions[f"{name}({arguments})"] = {
            "kind": _FUNCTION_KINDS[kind],
            "result": result,
            "language": language,
            "volatility": _VOLATILITIES[volatility],
            "strict": strict,
            "security_definer": security_definer,
            "settings": sorted(config or []),
            "body": normalize_body(body),
        }
    return functions


def _triggers(conn: psycopg.Connection[Any]) -> Collection:
    # Trigger names are unique per table only.
    return {
        f"{name} on {table}": {
            "definition": definition,
            "state": _TRIGGER_STATES.get(state, state),
        }
        for table, name, definition, state in _fetch(conn, _TRIGGERS)
    }


def _views(conn: psycopg.Connection[Any]) -> Collection:
    return {
        name: {
            "materialized": kind == "m",
            "definition": definition,
        }
        for name, kind, definition in _fetch(conn, _VIEWS)
    }


def describe_schema(conn: psycopg.Connection[Any]) -> Description:
    """
    Describe the objects of the ``public`` schema that no extension owns.

    :param conn: a connection to the database to describe; only read from.
    :returns: kind of object -> object name -> attributes (see the module docstring).
    """
    return {
        "tables": _tables(conn),
        "indexes": _indexes(conn),
        "sequences": _sequences(conn),
        "enums": _enums(conn),
        "composite_types": _composite_types(conn),
        "domains": _domains(conn),
        "functions": _functions(conn),
        "triggers": _triggers(conn),
        "views": _views(conn),
    }


def without_column_order(description: Description) -> Description:
    """
    The description with the order of each table's columns left out.

    A database that grew through the Django migrations of procrastinate 3.x (or its
    SQL migrations from 0.x on) has the columns of ``procrastinate_jobs`` in another
    order than ``schema.sql``; only a table rewrite could change that, and nothing
    depends on it: every query names its columns.
    """
    tables = {
        name: {
            field: value for field, value in table.items() if field != "column_order"
        }
        for name, table in description.get("tables", {}).items()
    }
    return {**description, "tables": tables}


def _body_snippet(left: str, right: str, a_name: str, b_name: str) -> str:
    lines = list(
        difflib.unified_diff(
            left.splitlines(),
            right.splitlines(),
            fromfile=a_name,
            tofile=b_name,
            n=1,
            lineterm="",
        )
    )
    if len(lines) > _MAX_SNIPPET_LINES:
        hidden = len(lines) - _MAX_SNIPPET_LINES
        lines = [*lines[:_MAX_SNIPPET_LINES], f"... ({hidden} more diff lines)"]
    return "\n".join(f"    {line}" for line in lines)


def _diff_collection(
    field: str, a: Collection, b: Collection, where: str, names: tuple[str, str]
) -> list[str]:
    noun = _NOUNS.get(field, field)
    differences: list[str] = []
    for key in sorted(a.keys() | b.keys()):
        label = f"{where}{noun} {key}"
        if key not in b:
            differences.append(f"{label}: only in {names[0]}")
        elif key not in a:
            differences.append(f"{label}: only in {names[1]}")
        else:
            differences.extend(_diff_record(a[key], b[key], label, names))
    return differences


def _diff_field(field: str, a: Any, b: Any, label: str, names: tuple[str, str]) -> str:
    if field == "body":
        snippet = _body_snippet(a, b, *names)
        return f"{label}: body differs\n{snippet}"
    readable = field.replace("_", " ")
    verb = "differ" if readable.endswith("s") else "differs"
    return f"{label}: {readable} {verb}: {names[0]} has {a!r}, {names[1]} has {b!r}"


def _diff_record(a: Record, b: Record, label: str, names: tuple[str, str]) -> list[str]:
    differences: list[str] = []
    for field in sorted(a.keys() | b.keys()):
        left, right = a.get(field), b.get(field)
        if field in _NOUNS:
            differences.extend(
                _diff_collection(field, left or {}, right or {}, f"{label}, ", names)
            )
        elif left != right:
            differences.append(_diff_field(field, left, right, label, names))
    return differences


def diff_schemas(
    a: Description, b: Description, *, a_name: str = "a", b_name: str = "b"
) -> list[str]:
    """
    Every difference between two descriptions made by :func:`describe_schema`.

    :param a_name: how the messages call the database of ``a``.
    :param b_name: how the messages call the database of ``b``.
    :returns: one human-readable entry per difference, sorted by kind of object then
        name; a body difference carries an indented unified diff on the following
        lines of the same entry. Empty when the schemas are identical.
    """
    names = (a_name, b_name)
    differences: list[str] = []
    for field in sorted(a.keys() | b.keys()):
        differences.extend(
            _diff_collection(field, a.get(field, {}), b.get(field, {}), "", names)
        )
    return differences
