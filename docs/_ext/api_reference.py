"""Make the autodoc output of the API reference read like documentation.

autodoc shows what the interpreter sees: defaults that attrs builds (``NOTHING`` for a
factory), the repr of classes and private functions used as defaults, ``Bases:
object``, the overloads of a decorator instead of its signature, and parameter lists
where the undocumented parameters come last, with a type and no text. This extension
renders those defaults the way a reader would write them (and no ``(value)`` after an
enum), drops the ``object`` base,
keeps the real signature of overloaded functions, and lists every parameter in
signature order, taking the text of an undocumented one from where the code already
says it: the attribute it sets (attrs classes), the sync or async twin of the method,
the same method or class in a base class, or another method of the class.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import attr
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docstrings import prepare_docstring

_PARAM = re.compile(r"^:param (?:[^:]+ )?\**(?P<name>\w+):")
# A field (``:raises X:``), not a role at the start of a line (``:class:`X```).
_FIELD = re.compile(r"^:[^:`\s][^:`]*:(\s|$)")
_CALLABLE_KINDS = {"class", "exception", "function", "method", "decorator"}
_LITERALS: dict[Any, str] = {dict: "{}", list: "[]", set: "set()", tuple: "()"}


class _Shown:
    """A default value, shown as the given text in a signature."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _public_name(value: Any) -> str | None:
    """``module.Name`` under the shortest public module that exports ``value``."""
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    if any(part.startswith("_") for part in qualname.split(".")):
        return None
    parts = module.split(".")
    for length in range(1, len(parts) + 1):
        candidate = ".".join(parts[:length])
        try:
            exported = getattr(importlib.import_module(candidate), qualname, None)
        except ImportError:
            continue
        if exported is value:
            return f"{candidate}.{qualname}"
    return f"{module}.{qualname}"


def _readable(value: Any) -> str | None:
    """How a default reads in a signature, or None when its repr is fine."""
    if isinstance(value, attr.Factory):  # type: ignore[arg-type]
        factory = value.factory
        if factory in _LITERALS:
            return _LITERALS[factory]
        name = _public_name(factory)
        return f"{name}()" if name else "..."
    if inspect.isclass(value) or inspect.isroutine(value):
        return _public_name(value) or "..."
    return None


def _signature(what: str, obj: Any) -> inspect.Signature | None:
    """The signature of ``obj`` as the reader calls it: without ``self``."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    if what == "method" and parameters and parameters[0].name in ("self", "cls"):
        return signature.replace(parameters=parameters[1:])
    return signature


def _attrs_defaults(cls: type) -> dict[str, Any]:
    return {field.alias or field.name: field.default for field in attr.fields(cls)}


def readable_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    """Rewrite the defaults that would show as ``NOTHING`` or ``<class ...>``."""
    if signature is None or what not in _CALLABLE_KINDS:
        return None
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        # Enums are used through their members, not called.
        return "", return_annotation
    parsed = _signature(what, obj)
    if parsed is None:
        return None
    declared = _attrs_defaults(obj) if inspect.isclass(obj) and attr.has(obj) else {}
    parameters = list(parsed.parameters.values())
    changed = False
    shown = []
    for parameter in parameters:
        default = declared.get(parameter.name, parameter.default)
        text = None if default is inspect.Parameter.empty else _readable(default)
        if text is not None:
            changed = True
            parameter = parameter.replace(default=_Shown(text))
        shown.append(parameter.replace(annotation=inspect.Parameter.empty))
    if not changed:
        return None
    plain = parsed.replace(parameters=shown, return_annotation=inspect.Signature.empty)
    return str(plain), return_annotation


def keep_real_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> None:
    """Show an overloaded function with its own signature: the overloads only say
    which return type goes with which arguments, for type checkers."""
    module = getattr(obj, "__module__", None)
    if what in _CALLABLE_KINDS and module and module.startswith("procrastinate"):
        analyzer = ModuleAnalyzer.for_module(module)
        analyzer.analyze()
        analyzer.overloads.clear()


def drop_object_base(
    app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]
) -> None:
    """A class with no base but ``object`` shows no "Bases" line."""
    bases[:] = [base for base in bases if base is not object]


def remove_empty_bases(app: Sphinx, doctree: nodes.document) -> None:
    """Remove the "Bases:" paragraphs left empty by :func:`drop_object_base`."""
    for paragraph in list(doctree.findall(nodes.paragraph)):
        if paragraph.astext().strip() == "Bases:":
            paragraph.parent.remove(paragraph)


# -- Parameters ------------------------------------------------------------------------


def _blocks(lines: list[str]) -> Iterator[tuple[str | None, list[str]]]:
    """The docstring cut in blocks: each ``:param x:`` field with its continuation
    lines (named ``x``), and everything else (named None)."""
    current: list[str] = []
    current_name: str | None = None
    for line in lines:
        match = _PARAM.match(line)
        is_field = bool(_FIELD.match(line))
        ends_param = current_name is not None and not line.strip()
        if match or is_field or ends_param:
            if current:
                yield current_name, current
            current, current_name = [], match.group("name") if match else None
        current.append(line)
    if current:
        yield current_name, current


def _param_blocks(docstring: str | None) -> dict[str, list[str]]:
    if not docstring:
        return {}
    lines = prepare_docstring(docstring)
    return {name: block for name, block in _blocks(lines) if name is not None}


def _owner(obj: Any) -> type | None:
    """The class defining the function ``obj``, if any."""
    qualname = getattr(obj, "__qualname__", "")
    module = getattr(obj, "__module__", None)
    if "." not in qualname or "<" in qualname or not module:
        return None
    owner: Any = importlib.import_module(module)
    for part in qualname.split(".")[:-1]:
        owner = getattr(owner, part, None)
    return owner if inspect.isclass(owner) else None


def _twin(name: str) -> str:
    return name.removesuffix("_async") if name.endswith("_async") else f"{name}_async"


def _sources(what: str, obj: Any) -> Iterator[str | None]:
    """Docstrings that may describe the parameters of ``obj``, nearest first."""
    if what in ("class", "exception"):
        for base in obj.__mro__[1:]:
            yield base.__doc__
        return
    owner = _owner(obj)
    if owner is None:
        return
    name = obj.__name__
    for cls in owner.__mro__:
        for candidate in (name, _twin(name)):
            member = vars(cls).get(candidate)
            if member is not None and member is not obj:
                yield getattr(member, "__doc__", None)
    for cls in owner.__mro__:
        for member in vars(cls).values():
            yield getattr(member, "__doc__", None)
    yield owner.__doc__


def _attribute_docs(cls: type) -> dict[str, list[str]]:
    if not attr.has(cls):
        return {}
    analyzer = ModuleAnalyzer.for_module(cls.__module__)
    documented = analyzer.find_attr_docs()
    docs: dict[str, list[str]] = {}
    for field in attr.fields(cls):
        comment = documented.get((cls.__qualname__, field.name))
        if comment:
            text = " ".join(line.strip() for line in comment if line.strip())
            docs[field.alias or field.name] = [f":param {field.name}: {text}"]
    return docs


def _lookup(
    name: str, found: dict[str, list[str]], sources: Callable[[], Iterator[str | None]]
) -> list[str] | None:
    if name in found:
        return found[name]
    for docstring in sources():
        block = _param_blocks(docstring).get(name)
        if block:
            return block
    return None


def _insertion_point(blocks: list[tuple[str | None, list[str]]]) -> int:
    """Where the parameters go, among the blocks that are not parameters: where the
    first one was, or else before the first other field (``:raises:``...)."""
    others = 0
    for key, block in blocks:
        if key is not None or _FIELD.match(block[0]):
            return others
        others += 1
    return others


def complete_parameters(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Describe every parameter, in the order of the signature."""
    if what not in _CALLABLE_KINDS or not callable(obj):
        return
    signature = _signature(what, obj)
    if signature is None or not signature.parameters:
        return
    names = list(signature.parameters)
    blocks = list(_blocks(lines))
    documented = {key: block for key, block in blocks if key is not None}
    if inspect.isclass(obj):
        documented = {**_attribute_docs(obj), **documented}
    # Names documented but not in the signature are the keys of ``**options``: they
    # stand where that parameter is.
    extras = [block for key, block in documented.items() if key not in names]
    fields = []
    for parameter in signature.parameters.values():
        block = _lookup(parameter.name, documented, lambda: _sources(what, obj))
        if block is not None:
            fields.append(block)
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            fields.extend(extras)
            extras = []
    fields.extend(extras)
    if not fields:
        return
    kept = [block for key, block in blocks if key is None]
    before = _insertion_point(blocks)
    body = [line for block in kept[:before] for line in block]
    after = [line for block in kept[before:] for line in block]
    if body and body[-1].strip():
        body.append("")
    if after and after[0].strip() and not _FIELD.match(after[0]):
        after.insert(0, "")
    lines[:] = [*body, *(line for block in fields for line in block), *after]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-signature", keep_real_signature)
    app.connect("autodoc-process-signature", readable_signature)
    app.connect("autodoc-process-bases", drop_object_base)
    app.connect("autodoc-process-docstring", complete_parameters)
    app.connect("doctree-read", remove_empty_bases)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
