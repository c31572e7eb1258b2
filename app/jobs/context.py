"""An app context for job functions: the app this worker process built.

The process that runs jobs builds the app first (`flask --app wsgi worker`, or any entry point
calling `create_app`), which hands it here (`use_app`): this module never imports the app
factory, so the job layer does not depend on the app that depends on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from flask import Flask, current_app, has_app_context

_app: Flask | None = None
_pid: int = os.getpid()


def use_app(app: Flask) -> None:
    """The app jobs of this process run in (the app built last, in a process that builds several)."""
    global _app
    _app = app


@contextmanager
def job_app_context() -> Iterator[Flask]:
    """Yield an app inside its context; reuse the caller's app when there is one (tests, --sync)."""
    global _app, _pid
    with ExitStack() as stack:
        if has_app_context():
            app = current_app._get_current_object()  # type: ignore[attr-defined]
        else:
            if _app is None:
                raise RuntimeError(
                    "This process has no app to run jobs in: start workers with "
                    "`flask --app wsgi worker`, or call app.create_app() first."
                )
            app = _app
            stack.enter_context(app.app_context())
        if _pid != os.getpid():
            # A forked work horse must not reuse the pooled connections of its parent.
            from app.extensions import db

            db.engine.dispose(close=False)
            app.extensions.pop("redis", None)
            _pid = os.getpid()
        yield app
