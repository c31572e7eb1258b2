"""RQ queues and the Redis connection the app, the workers and the scheduler share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job

QUEUES = ("imports", "exports", "maintenance")
DEFAULT_TIMEOUTS = {"imports": 6 * 3600, "exports": 3 * 3600, "maintenance": 3600}


class RedisNotConfigured(RuntimeError):
    """REDIS_URL is empty: `make run` sets it to the bundled server, production must set it."""


# What enqueueing can fail with: the web and the API answer these with "try again shortly".
QUEUE_ERRORS = (RedisError, RedisNotConfigured, OSError)


def redis_connection(app: Flask | None = None) -> Redis:
    """The app's Redis client, made once per app."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    conn = app.extensions.get("redis")
    if conn is None:
        url = app.config.get("REDIS_URL")
        if not url:
            raise RedisNotConfigured(
                "REDIS_URL is not set: start the app with `make run`, or set REDIS_URL."
            )
        conn = Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        app.extensions["redis"] = conn
    return conn


def get_queue(name: str, app: Flask | None = None) -> Queue:
    """One of the app's queues: imports, exports or maintenance."""
    if name not in QUEUES:
        raise ValueError(f"Unknown queue {name!r}; use one of {', '.join(QUEUES)}.")
    return Queue(name, connection=redis_connection(app), default_timeout=DEFAULT_TIMEOUTS[name])


def enqueue_committed(
    queue_name: str, func: Callable[..., Any], *args: Any, job_id: str | None = None, **options: Any
) -> Job:
    """Commit the session, then enqueue: a fast worker must find the row it is given."""
    from app.extensions import db

    db.session.commit()
    options.setdefault("failure_ttl", 7 * 24 * 3600)
    options.setdefault("result_ttl", 24 * 3600)
    return get_queue(queue_name).enqueue(func, *args, job_id=job_id, **options)
