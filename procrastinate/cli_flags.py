"""The building blocks of the ``procrastinate`` command line's parsers: options whose
default may come from a ``PROCRASTINATE_*`` environment variable, pairs of boolean
flags, and the help formatter. :mod:`~procrastinate.cli_parser` and
:mod:`~procrastinate.cli_admin_parser` declare the subcommands with them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from procrastinate import cli_inputs

ENV_PREFIX = "PROCRASTINATE"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where it tells something: not for flags, nor for
    options whose default is "not given"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        meaningless = action.default in (None, "", True, False, argparse.SUPPRESS)
        if meaningless or isinstance(action, argparse._StoreConstAction):
            return help_text
        return super()._get_help_string(action) or help_text


def add_argument(
    parser: argparse._ActionsContainer,
    *args: str,
    envvar: str | None = None,
    envvar_type: Callable[[str], Any] | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """
    ``parser.add_argument`` whose default may come from the environment variable
    ``PROCRASTINATE_<envvar>`` (an empty value counts as unset).

    :raises ValueError: the variable's value cannot be read.
    """
    if envvar is None:
        return parser.add_argument(*args, **kwargs)
    name = f"{ENV_PREFIX}_{envvar}"
    kwargs["help"] = f"{kwargs.get('help', '')} (env: {name})".strip()
    raw = os.environ.get(name)
    if raw:
        cast = envvar_type or kwargs.get("type") or str
        try:
            kwargs["default"] = cast(raw)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise ValueError(f"Invalid value for {name}: {exc}") from exc
    return parser.add_argument(*args, **kwargs)


def add_boolean_flag(
    parser: argparse._ActionsContainer,
    *,
    dest: str,
    true_flags: Sequence[str],
    false_flags: Sequence[str],
    true_help: str,
    false_help: str,
    envvar: str,
    default: bool | None = None,
) -> None:
    """A pair of flags setting ``dest`` to True or False, with an env variable."""
    group = parser.add_mutually_exclusive_group()
    add_argument(
        group,
        *true_flags,
        dest=dest,
        action="store_true",
        help=true_help,
        envvar=envvar,
        envvar_type=cli_inputs.env_bool,
        **({"default": default} if default is not None else {}),
    )
    group.add_argument(*false_flags, dest=dest, action="store_false", help=false_help)
