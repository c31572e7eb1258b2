"""Template filters: numbers with thousands separators, relative times with the exact one, sizes."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from markupsafe import Markup, escape

from app.models import STATUS_LABELS
from app.sizes import format_size


def number(value: int | float | None) -> str:
    """1234567 -> '1,234,567'; None -> '–'."""
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def counted(value: int | None, noun: str) -> str:
    """The number and the noun, singular for one: `3 | counted("row")` -> '3 rows'."""
    return f"{number(value)} {noun}{'' if value == 1 else 's'}"


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    """'3 minutes ago', 'in 2 days', 'just now'."""
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    for size, unit in (
        (86400 * 365, "year"),
        (86400 * 30, "month"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
    ):
        if seconds >= size:
            count = round(seconds / size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def time_tag(value: datetime | None) -> Markup:
    """A <time> element showing the relative time with the exact UTC time on hover."""
    if value is None:
        return Markup("never")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    exact = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        escape(value.isoformat()), escape(exact), escape(relative_time(value))
    )


def _short_date(value: datetime, now: datetime) -> str:
    """'13 Dec', with the year when it is not this year's."""
    text = f"{value.day} {value:%b}"
    return text if value.year == now.year else f"{text} {value.year}"


def availability(expires_at: datetime | None, now: datetime | None = None) -> Markup:
    """'available for 7 more days, until 13 Dec' or 'expired 2 days ago' (exact UTC on hover)."""
    if expires_at is None:
        return Markup("available until it is deleted")
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    expires_at = expires_at.astimezone(UTC)
    exact = expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    tag = Markup('<time datetime="{}" title="{}">{}</time>')
    if expires_at <= now:
        when = tag.format(expires_at.isoformat(), exact, relative_time(expires_at, now))
        return Markup("expired {}").format(when)
    left = (expires_at - now).total_seconds()
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if left >= size:
            count = round(left / size)
            span = f"{count} more {unit}{'s' if count != 1 else ''}"
            break
    else:
        span = "less than a minute more"
    when = tag.format(expires_at.isoformat(), exact, _short_date(expires_at, now))
    return Markup("available for {}, until {}").format(span, when)


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def browser_name(user_agent: str | None) -> str:
    """'Chrome on Windows' from a User-Agent header, as people name their browsers."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "A browser")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    return f"{browser} on {system}" if system else browser


def status_label(status: str | None) -> str:
    """A subscription status as people read it: "non_subscribed" -> "Non-subscribed"."""
    return STATUS_LABELS.get(status or "", status or "")


def register(app: Flask) -> None:
    """Make the filters available to templates."""
    app.add_template_filter(number, "number")
    app.add_template_filter(counted, "counted")
    app.add_template_filter(relative_time, "relative_time")
    app.add_template_filter(time_tag, "time_tag")
    app.add_template_filter(availability, "availability")
    app.add_template_filter(format_size, "file_size")
    app.add_template_filter(browser_name, "browser_name")
    app.add_template_filter(status_label, "status_label")
