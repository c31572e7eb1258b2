"""The camelCase names the API and the CLI show a job's stored (snake_case) results under."""

from __future__ import annotations

from typing import Any

from pydantic.alias_generators import to_camel


def camel_keys(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its keys in camelCase, as the API's response models name their fields."""
    return {to_camel(key): value for key, value in data.items()}
