"""The readable API documentation: tables built from the OpenAPI document, rendered on the server."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

_CODE = re.compile(r"`([^`]+)`")

METHODS = ("get", "post", "put", "patch", "delete")


def prose(text: str) -> Markup:
    """A description as HTML: escaped, with `code` spans."""
    escaped = str(escape(text))  # the text is escaped first; only our <code> tags are added
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))  # nosec B704


def type_html(schema: dict[str, Any]) -> Markup:
    """A schema's type in a few words, with links to named schemas."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup('<a href="#schema-{0}"><code>{0}</code></a>').format(name)
    if "anyOf" in schema:
        parts = [type_html(s) for s in schema["anyOf"]]
        return Markup(" or ").join(parts)
    if "const" in schema:
        return Markup("<code>{}</code>").format(repr(schema["const"]).replace("'", '"'))
    if "enum" in schema:
        return Markup("one of ") + Markup(", ").join(
            Markup("<code>{}</code>").format(v) for v in schema["enum"]
        )
    kind = schema.get("type", "any")
    if kind == "array":
        return Markup("list of ") + type_html(schema.get("items", {}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return Markup("map of name to ") + type_html(schema["additionalProperties"])
    label = Markup("<code>{}</code>").format(kind)
    if schema.get("format"):
        label += Markup(" ({})").format(schema["format"])
    if "contentMediaType" in schema:
        label = Markup("file")
    return label


def _properties(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": type_html(prop),
            "required": name in required,
            "description": prose(prop.get("description", "")),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _body(schema: dict[str, Any]) -> Markup:
    if "$ref" in schema or "properties" not in schema:
        return type_html(schema)
    fields = [
        Markup("<code>{}</code>{} ({})").format(p["name"], "" if p["required"] else "?", p["type"])
        for p in _properties(schema)
    ]
    return Markup("fields ") + Markup(", ").join(fields)


def operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the document, in order, ready for the template."""
    found = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody") or {}
            responses = []
            for status, response in op["responses"].items():
                content: dict[str, Any] = response.get("content", {})
                first: dict[str, Any] = next(iter(content.values()), {})
                schema = first.get("schema")
                responses.append(
                    {
                        "status": status,
                        "description": prose(response.get("description", "")),
                        "body": type_html(schema) if schema else Markup("–"),
                    }
                )
            found.append(
                {
                    "id": op["operationId"],
                    "tag": op["tags"][0],
                    "method": method,
                    "path": path,
                    "summary": op["summary"],
                    "description": prose(op["description"]),
                    "needs_token": op.get("security") != [],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "type": escape(p["schema"].get("format") or p["schema"].get("type")),
                            "required": p.get("required", False),
                            "description": prose(p.get("description", "")),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "bodies": [
                        (media, _body(spec["schema"]))
                        for media, spec in body.get("content", {}).items()
                    ],
                    "body_required": body.get("required", False),
                    "responses": responses,
                }
            )
    return found


def schema_tables(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every named schema with its fields."""
    return [
        {
            "name": name,
            "description": prose(schema.get("description", "")),
            "properties": _properties(schema),
        }
        for name, schema in sorted(doc["components"]["schemas"].items())
    ]
