"""Griffe extension: read the package's reST-flavoured docstrings as Markdown.

The docstrings follow the stdlib's habits (``code``, ``text::`` before an indented
example, ``:class:`Name``` roles). mkdocstrings renders Markdown, so before it does,
this turns a ``::`` paragraph's indented block into a fenced block (Python when it
parses as Python) and a role into inline code. Loaded by ``mkdocs.yml``
(``extensions:`` of the Python handler).
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:mod|class|meth|func|data|attr|exc|obj|const):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _language(code: str) -> str:
    """``python`` for what parses as Python (top-level ``await`` allowed), else ``text``."""
    try:
        compile(
            code, "<docstring>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
    except SyntaxError:
        return "text"
    return "python"


def markdown_from_rst(text: str) -> str:
    """``text`` with its literal blocks fenced and its roles made inline code."""
    text = _ROLE.sub(_role, text)
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.lstrip().startswith((">>>", "...")):
            stripped = line.rstrip()[:-2].rstrip()
            if stripped:
                out.append(stripped + ":")
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i][:1] in " \t"):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            body = textwrap.dedent("\n".join(block)).strip("\n")
            out += ["", f"```{_language(body)}", *body.splitlines(), "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring of a loaded package (aliases are left to their targets)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[Any] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_alias or id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = markdown_from_rst(obj.docstring.value)
            stack.extend(obj.members.values())
