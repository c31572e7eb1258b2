"""An app context for job functions, built once per worker process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from flask import Flask, current_app, has_app_context

_app: Flask | None = None
_pid: int = os.getpid()


@contextmanager
def job_app_context() -> Iterator[Flask]:
    """Yield an app inside its context; reuse the caller's app when there is one (tests, --sync)."""
    global _app, _pid
    with ExitStack() as stack:
        if has_app_context():
            app = current_app._get_current_object()  # type: ignore[attr-defined]
        else:
            if _app is None:
                from app import create_app

                _app = create_app()
            app = _app
            stack.enter_context(app.app_context())
        if _pid != os.getpid():
            # A forked work horse must not reuse the pooled connections of its parent.
            from app.extensions import db

            db.engine.dispose(close=False)
            app.extensions.pop("redis", None)
            _pid = os.getpid()
        yield app
