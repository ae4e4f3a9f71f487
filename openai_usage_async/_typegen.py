"""Writes ``_typed_usage.py``, the typed surface of ``client.usage``, from the endpoint table.

::

    python -m openai_usage_async._typegen           # rewrite _typed_usage.py
    python -m openai_usage_async._typegen --check   # exit 1 if it is stale

Run it after changing ``_sansio/endpoints.py`` (an endpoint, a filter, a ``group_by``
value) or the signatures of ``Endpoint`` or ``Usage.gather`` in ``_resources.py``;
``tests/test_typed_usage.py`` fails until the file is regenerated.

Theory of operation
-------------------
At run time every endpoint is one ``Endpoint``, whose ``**filters`` are checked against
its spec. For type checkers each endpoint needs its own signatures: its filters as keyword
arguments, its ``group_by`` values, its result type. One generic class cannot say that
(mypy cannot ``Unpack`` a type variable into ``**filters``), so this writes one Protocol
per endpoint, and a blocking twin of each for ``UsageClient``:

* the methods and their common arguments are read (with ``ast``, never imported) from
  ``Endpoint`` in ``_resources.py``, their template: ``R`` becomes the endpoint's result
  Struct, ``G`` its ``group_by`` Literal, and ``**filters`` one keyword argument per
  filter of its spec;
* the blocking twin drops ``async`` and turns ``PageIterator[X]`` and
  ``BucketIterator[X]`` into ``BlockingIterator`` of pages and buckets of ``X``;
* ``UsageEndpoints`` (the base of ``Usage``) and ``BlockingUsage`` annotate each
  ``client.usage`` attribute with its Protocol; ``GatherArguments`` types ``gather``'s
  ``**common`` with every filter of every endpoint;
* under ``TYPE_CHECKING``, one function per endpoint returns an ``Endpoint`` as its
  Protocol, so mypy proves that the runtime class accepts every call the Protocol types.

The output is already in ``ruff format`` style (CI checks it), so regenerating needs no
formatter.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import copy
import pathlib
import sys
import textwrap
from collections.abc import Iterator, Sequence
from typing import Final

from ._sansio.endpoints import ENDPOINTS, EndpointSpec, FilterSpec
from .models import KNOWN_RESULT_TYPES

__all__ = ["TARGET", "main", "render"]

_PACKAGE: Final = pathlib.Path(__file__).parent
TEMPLATE: Final = _PACKAGE / "_resources.py"
TARGET: Final = _PACKAGE / "_typed_usage.py"

_LINE: Final = 100  # ruff's line-length for this project
_METHODS: Final = ("get", "pages", "iter", "list")
# What a blocking method returns for what the async one returns.
_BLOCKING_ITERATORS: Final = {"PageIterator": "UsagePage", "BucketIterator": "UsageBucket"}

# Where each name the output may use comes from, in the order ruff's isort sorts them. At
# run time the output imports only the standard library and _sansio, which never change
# with it: a stale file still imports (a removed result Struct, say), so the package, and
# this generator, still run; annotations are strings that only type checkers read.
_STDLIB: Final = {
    "collections.abc": ("Mapping", "Sequence"),
    "typing": ("TYPE_CHECKING", "Any", "Literal", "Protocol", "TypedDict", "Unpack"),
}
_LOCAL: Final = {
    "._sansio.endpoints": ("BucketWidth", "EndpointSpec"),
    "._sansio.query": ("ExtraQuery", "TimeArg"),
}
_TYPE_CHECKING_ONLY: Final = {
    "._blocking": ("BlockingIterator",),
    "._fanout": ("BucketIterator", "PageIterator"),
    "._resources": ("Endpoint",),
    ".models": ("UnknownResult", "UsageBucket", "UsagePage"),  # and the result Structs
}


def camel(name: str) -> str:
    """``file_search_calls`` -> ``FileSearchCalls``."""
    return "".join(part.capitalize() for part in name.split("_"))


# -- reading the template ----------------------------------------------------------------


class _Method:
    """One public method of the template: its keyword arguments, return and docstring."""

    def __init__(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        arguments = node.args
        if arguments.posonlyargs or arguments.vararg is not None:
            raise ValueError(f"{node.name}: the template has no *args or positional-only ones")
        if arguments.defaults:
            raise ValueError(f"{node.name}: the template's positional arguments have no default")
        self.name = node.name
        self.positional = [(a.arg, a.annotation) for a in arguments.args[1:]]  # after self
        self.is_async = isinstance(node, ast.AsyncFunctionDef)
        self.keywords = [
            (a.arg, a.annotation, default)
            for a, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
        ]
        self.kwarg = arguments.kwarg
        self.returns = node.returns
        self.doc = ast.get_docstring(node) or ""


def _read_template(source: str) -> tuple[dict[str, _Method], bool, _Method]:
    """Endpoint's public methods, whether ``__call__ = get``, and ``Usage.gather``."""
    classes = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}
    methods: dict[str, _Method] = {}
    call_is_get = False
    for node in classes["Endpoint"].body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in _METHODS:
            methods[node.name] = _Method(node)
            if methods[node.name].kwarg is None or methods[node.name].positional:
                raise ValueError(f"Endpoint.{node.name}: expected keyword arguments, **filters")
        elif isinstance(node, ast.Assign) and ast.unparse(node) == "__call__ = get":
            call_is_get = True
    if list(methods) != list(_METHODS):
        raise ValueError(f"Endpoint: expected the methods {_METHODS}, found {tuple(methods)}")
    [gather] = (
        _Method(n)
        for n in classes["Usage"].body
        if isinstance(n, ast.AsyncFunctionDef) and n.name == "gather"
    )
    return methods, call_is_get, gather


class _Substitute(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.names.get(node.id, node.id), node.ctx)


def _annotation(node: ast.expr | None, names: dict[str, str]) -> ast.expr:
    if node is None:
        raise ValueError("the template leaves an argument unannotated")
    out: ast.expr = _Substitute(names).visit(copy.deepcopy(node))
    return out


def _blocking_return(node: ast.expr) -> ast.expr:
    """``PageIterator[X]`` -> ``BlockingIterator[UsagePage[X]]``; anything else as it is."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id in _BLOCKING_ITERATORS
    ):
        item = ast.Subscript(ast.Name(_BLOCKING_ITERATORS[node.value.id]), node.slice)
        return ast.Subscript(ast.Name("BlockingIterator"), item)
    return node


# -- writing -------------------------------------------------------------------------------


class _Writer:
    """Lines of output, and every name they use (for the imports)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: set[str] = set()

    def __call__(self, *lines: str) -> None:
        self.lines.extend(lines)

    def type(self, node: ast.expr) -> str:
        self.names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
        return ast.unparse(node)

    def docstring(self, text: str, indent: str) -> None:
        body = text.strip().splitlines()
        if len(body) == 1 and len(indent) + len(body[0]) + 6 <= _LINE:
            self(f'{indent}"""{body[0]}"""')
            return
        self(f'{indent}"""{body[0]}')
        self(*(f"{indent}{line}".rstrip() for line in body[1:]))
        self(f'{indent}"""')

    def parameter(self, name: str, annotation: ast.expr, default: str | None) -> None:
        tail = "," if default is None else f" = {default},"
        line = f"        {name}: {self.type(annotation)}{tail}"
        if len(line) <= _LINE:
            self(line)
            return
        # What ruff format makes of a long union: one operand a line, `|` leading.
        operands: list[ast.expr] = []
        node = annotation
        while isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            operands.insert(0, node.right)
            node = node.left
        operands.insert(0, node)
        if len(operands) < 2:
            raise ValueError(f"{line.strip()}: too long, and the generator cannot split it")
        self(f"        {name}: {ast.unparse(operands[0])}")
        self(*(f"        | {ast.unparse(o)}" for o in operands[1:-1]))
        self(f"        | {ast.unparse(operands[-1])}{tail}")


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, _LINE - len(indent) - 4, break_on_hyphens=False)


def _filter_type(spec: FilterSpec, choice_alias: dict[str, str]) -> ast.expr:
    if spec.kind == "bool":
        return ast.parse("bool | None", mode="eval").body
    one = choice_alias.get(spec.name, "str")
    return ast.parse(f"{one} | Sequence[{one}] | None", mode="eval").body


def _literal(values: Sequence[str]) -> str:
    return "Literal[" + ", ".join(f'"{v}"' for v in values) + "]"


def _alias(w: _Writer, name: str, values: Sequence[str]) -> None:
    line = f"{name} = {_literal(values)}"
    w.names.add("Literal")
    if len(line) <= _LINE:
        w(line)
    else:
        w(f"{name} = Literal[", *(f'    "{v}",' for v in values), "]")


def _filters_of_every_endpoint() -> dict[str, FilterSpec]:
    """Each filter name once: one name means one filter, whichever endpoint has it."""
    seen: dict[str, FilterSpec] = {}
    for spec in ENDPOINTS.values():
        for name, fspec in spec.filters.items():
            if seen.setdefault(name, fspec) != fspec:
                raise ValueError(f"{name}: two endpoints give this filter different specs")
    return seen


def _method(
    w: _Writer,
    method: _Method,
    names: dict[str, str],
    filters: Sequence[tuple[str, ast.expr]],
    *,
    blocking: bool,
    name: str | None = None,
) -> None:
    keyword = "def" if blocking or not method.is_async else "async def"
    w(f"    {keyword} {name or method.name}(", "        self,", "        *,")
    for keyword_name, annotation, default in method.keywords:
        w.parameter(
            keyword_name,
            _annotation(annotation, names),
            None if default is None else ast.unparse(default),
        )
    for filter_name, annotation in filters:
        w.parameter(filter_name, annotation, "None")
    returns = _annotation(method.returns, names)
    if blocking:
        returns = _blocking_return(returns)
    w(f"    ) -> {w.type(returns)}:")
    if name == "__call__":
        w.docstring(f"Calling the endpoint is :meth:`{method.name}`.", "        ")
    elif blocking:
        iterates = w.type(returns).startswith("BlockingIterator[")
        doc = (
            f"As :meth:`Endpoint.{method.name}`, as an ordinary iterator: ``close()`` or "
            "leaving a ``with`` block stops its requests."
            if iterates
            else f"As :meth:`Endpoint.{method.name}`, returning the value, not an awaitable."
        )
        w.docstring("\n".join(_wrap(doc, "        ")), "        ")
    else:
        w.docstring(method.doc, "        ")


def _endpoint_protocol(
    w: _Writer,
    name: str,
    spec: EndpointSpec,
    methods: dict[str, _Method],
    call_is_get: bool,
    choice_alias: dict[str, str],
    *,
    blocking: bool,
) -> None:
    result = KNOWN_RESULT_TYPES[spec.result_object].__name__
    w.names.update({result, "Protocol", "EndpointSpec"})
    names = {"R": result, "G": f"{camel(name)}GroupBy"}
    filters = [(f, _filter_type(fspec, choice_alias)) for f, fspec in spec.filters.items()]
    client = "UsageClient" if blocking else "AsyncUsageClient"
    w(f"class {'Blocking' if blocking else ''}{camel(name)}Endpoint(Protocol):")
    summary = f"``client.usage.{name}``: ``{spec.path}``."
    details = (
        f"Of ``{client}``; results :class:`{result}`. Filters: {', '.join(spec.filters)}. "
        f"``group_by``: {', '.join(spec.group_by)}. Bucket widths: {', '.join(spec.widths)}."
    )
    w.docstring("\n".join([*_wrap(summary, "    "), "", *_wrap(details, "    ")]), "    ")
    w("", "    @property", "    def spec(self) -> EndpointSpec:")
    w('        """The endpoint\'s row of the endpoint table."""')
    for method_name, method in methods.items():
        w("")
        _method(w, method, names, filters, blocking=blocking)
        if method_name == "get" and call_is_get:
            # A Protocol cannot say `__call__ = get` (its members need declared types).
            w("")
            _method(w, method, names, filters, blocking=blocking, name="__call__")
    w("", "")


def _imports(names: set[str], results: set[str], defined: set[str]) -> Iterator[str]:
    known = {
        n for table in (_STDLIB, _LOCAL, _TYPE_CHECKING_ONLY) for t in table.values() for n in t
    }
    unknown = names - known - results - defined - {"builtins", *dir(builtins)}
    if unknown:
        raise ValueError(
            f"{', '.join(sorted(unknown))}: used by the template, and the generator does not "
            "know where to import it from: add it to _STDLIB, _LOCAL or _TYPE_CHECKING_ONLY"
        )

    def one(module: str, wanted: Sequence[str], indent: str = "") -> Iterator[str]:
        if not wanted:
            return
        line = f"{indent}from {module} import {', '.join(wanted)}"
        if len(line) <= _LINE:
            yield line
        else:
            yield f"{indent}from {module} import ("
            yield from (f"{indent}    {n}," for n in wanted)
            yield f"{indent})"

    yield "import builtins"
    for module, available in _STDLIB.items():
        yield from one(module, [n for n in available if n in names])
    yield ""
    for module, available in _LOCAL.items():
        yield from one(module, [n for n in available if n in names])
    yield ""
    yield "if TYPE_CHECKING:"
    for module, available in _TYPE_CHECKING_ONLY.items():
        wanted = [n for n in available if n in names]
        if module == ".models":
            wanted = sorted({*wanted, *results})
        yield from one(module, wanted, "    ")


_HEADER: Final = '''\
"""The typed surface of ``client.usage``, for type checkers and editors.

Generated by ``python -m openai_usage_async._typegen`` from the endpoint table
(``_sansio/endpoints.py``) and the signatures of ``Endpoint`` and ``Usage.gather``
(``_resources.py``): do not edit; ``tests/test_typed_usage.py`` fails when it is stale.

At run time every endpoint is one ``Endpoint``. Type checkers see each through its
Protocol here: its filters as keyword arguments, its ``group_by`` values, its result
type; the ``Blocking`` twins are ``UsageClient``'s.
"""

from __future__ import annotations
'''


def render(template: str | None = None) -> str:
    """The text of ``_typed_usage.py`` for the endpoint table and ``template`` (the source
    of ``_resources.py``, read from the package when None)."""
    source = TEMPLATE.read_text(encoding="utf-8") if template is None else template
    methods, call_is_get, gather = _read_template(source)
    every_filter = _filters_of_every_endpoint()
    choice_alias = {
        name: camel(fspec.field) for name, fspec in every_filter.items() if fspec.choices
    }
    results = {KNOWN_RESULT_TYPES[s.result_object].__name__ for s in ENDPOINTS.values()}

    w = _Writer()
    w("# Values a filter takes, where the API enumerates them.")
    for name, fspec in every_filter.items():
        if fspec.choices:
            _alias(w, choice_alias[name], fspec.choices)
    w("", "# Each endpoint's `group_by` values.")
    for name, spec in ENDPOINTS.items():
        _alias(w, f"{camel(name)}GroupBy", spec.group_by)
    w("", "")
    for blocking in (False, True):
        for name, spec in ENDPOINTS.items():
            _endpoint_protocol(w, name, spec, methods, call_is_get, choice_alias, blocking=blocking)

    # gather's **common: list's arguments (group_by of any endpoint), then every filter.
    w("class GatherArguments(TypedDict, total=False):")
    w.docstring(
        "What :meth:`Usage.gather` takes as ``**common``: the arguments of ``list`` and every\n"
        "endpoint's filters (an endpoint given a filter it does not have refuses it, naming\n"
        "both, before any request).",
        "    ",
    )
    w("")
    w.names.add("TypedDict")
    for name, annotation, _ in methods["list"].keywords:
        w(f"    {name}: {w.type(_annotation(annotation, {'G': 'str'}))}")
    for name, fspec in every_filter.items():
        w(f"    {name}: {w.type(_filter_type(fspec, choice_alias))}")
    w("", "")

    for blocking in (False, True):
        if blocking:
            w("class BlockingUsage(Protocol):")
            w.docstring("``UsageClient().usage``: the endpoints, and :meth:`gather`.", "    ")
        else:
            w("class UsageEndpoints:")
            w.docstring(
                "The endpoints of ``client.usage`` as type checkers see them: the base of\n"
                ":class:`Usage`, which makes each one an ``Endpoint`` at run time.",
                "    ",
            )
        w("")
        for name in ENDPOINTS:
            w(f"    {name}: {'Blocking' if blocking else ''}{camel(name)}Endpoint")
        if blocking:
            w("", "    def gather(", "        self,")
            for name, annotation in gather.positional:
                w.parameter(name, _annotation(annotation, {}), None)
            if gather.keywords:
                w("        *,")
            for name, annotation, default in gather.keywords:
                w.parameter(
                    name,
                    _annotation(annotation, {}),
                    None if default is None else ast.unparse(default),
                )
            if gather.kwarg is not None:
                annotation = _annotation(gather.kwarg.annotation, {})
                w(f"        **{gather.kwarg.arg}: {w.type(annotation)},")
            w(f"    ) -> {w.type(_annotation(gather.returns, {}))}:")
            doc = "As :meth:`Usage.gather`, returning the value, not an awaitable."
            w.docstring(doc, "        ")
        w("", "")

    # mypy proves here that the one runtime class is every endpoint's Protocol.
    w.names.add("TYPE_CHECKING")
    w("if TYPE_CHECKING:")
    w("    # Endpoint, as each endpoint's Protocol: it takes every call the Protocol types.")
    for name, spec in ENDPOINTS.items():
        result = KNOWN_RESULT_TYPES[spec.result_object].__name__
        w.names.add("Endpoint")
        w(
            f"    def _{name}(",
            f"        endpoint: Endpoint[{result}, {camel(name)}GroupBy],",
            f"    ) -> {camel(name)}Endpoint:",
            "        return endpoint",
            "",
        )
    while w.lines[-1] == "":
        w.lines.pop()

    exported = sorted(
        [
            *choice_alias.values(),
            *(f"{camel(n)}GroupBy" for n in ENDPOINTS),
            *(f"{camel(n)}Endpoint" for n in ENDPOINTS),
            *(f"Blocking{camel(n)}Endpoint" for n in ENDPOINTS),
            "BlockingUsage",
            "GatherArguments",
            "UsageEndpoints",
        ]
    )
    head = [_HEADER, *_imports(w.names, results, set(exported)), "", "__all__ = ["]
    head += [f'    "{n}",' for n in exported]
    head += ["]", "", ""]
    return "\n".join([*head, *w.lines]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``_typed_usage.py``, or with ``--check`` only say whether it is stale."""
    parser = argparse.ArgumentParser(prog="python -m openai_usage_async._typegen")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if args.check:
        if current != text:
            print(f"{TARGET.name} is stale: run python -m openai_usage_async._typegen")
            return 1
        return 0
    if current != text:
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
