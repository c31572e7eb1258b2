"""What a view reads from the request, found in its code: the query parameters and form fields
it names (`request.args.get("page")`, `request.form.get(f"map-{i}")`) and the WTForms forms it
builds, following the calls it makes into `app.web`."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from wtforms import Form
from wtforms.fields import FieldList, FormField


def form_fields(app: Flask, form: type[Form]) -> list[str]:
    """The names of a WTForms form's fields, entries of field lists included."""

    def names(fields: Any) -> Iterator[str]:
        for item in fields:
            if isinstance(item, FieldList):
                yield from names(item)
            elif isinstance(item, FormField):
                yield from names(item.form)
            else:
                yield item.name

    with app.test_request_context():
        return list(names(form(meta={"csrf": False})))


@dataclass
class Reads:
    """Names a view reads from request.args and request.form, and the forms it builds."""

    args: set[str] = field(default_factory=set)  # regular expressions (an f-string: `map-.+`)
    form: set[str] = field(default_factory=set)
    whole_args: bool = False  # request.args handed on whole (as a form's data)
    forms: set[type[Form]] = field(default_factory=set)
    seen: set[Callable[..., Any]] = field(default_factory=set)


def _name_pattern(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(
            re.escape(part.value) if isinstance(part, ast.Constant) else ".+"
            for part in node.values
        )
    return None


def _request_attr(node: ast.expr) -> str | None:
    """`args` or `form` when the node is `request.args` / `request.form`."""
    if (
        isinstance(node, ast.Attribute)
        and node.attr in ("args", "form")
        and isinstance(node.value, ast.Name)
        and node.value.id == "request"
    ):
        return node.attr
    return None


def view_reads(function: Callable[..., Any], reads: Reads | None = None) -> Reads:
    """What `function` and the functions of app.web it calls read from the request."""
    reads = reads if reads is not None else Reads()
    function = inspect.unwrap(function)
    if function in reads.seen:
        return reads
    reads.seen.add(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    named = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if isinstance(target, ast.Attribute) and target.attr in ("get", "getlist"):
            source = _request_attr(target.value)
            pattern = _name_pattern(node.args[0]) if node.args else None
            if source and pattern:
                getattr(reads, source).add(pattern)
                named.add(id(target.value))
        called = _resolve(target, function.__globals__)
        if inspect.isclass(called) and issubclass(called, Form):
            reads.forms.add(called)
        elif inspect.isfunction(called) and called.__module__.startswith("app.web"):
            view_reads(called, reads)
    reads.whole_args |= any(
        _request_attr(n) == "args" and id(n) not in named for n in ast.walk(tree)
    )
    return reads


def _resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = names.get(node.value.id)
        if inspect.ismodule(owner):
            return getattr(owner, node.attr, None)
    return None
