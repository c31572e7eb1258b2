"""The header links and dashboard actions; entries whose blueprint is absent are left out."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

NAV_LINKS = [
    ("main.dashboard", "Dashboard"),
    ("wizard.upload", "Import"),
    ("contacts.index", "Contacts"),
    ("history.index", "History"),
    ("exports.new", "Export"),
    ("api.docs", "API"),
]

DASHBOARD_ACTIONS = [
    ("wizard.upload", "Import contacts", "Upload a CSV, Excel or JSON file"),
    ("exports.new", "Export contacts", "Download contacts as CSV, Excel or JSON"),
    ("history.index", "History", "Past imports and exports"),
]


def _available(entries: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return [e for e in entries if e[0] in current_app.view_functions]


def register(app: Flask) -> None:
    """Expose the links to every template."""

    @app.context_processor
    def navigation() -> dict[str, Any]:
        return {
            "nav_links": _available(NAV_LINKS),  # type: ignore[arg-type]
            "dashboard_actions": _available(DASHBOARD_ACTIONS),  # type: ignore[arg-type]
        }
