"""A burst RQ worker (no fork) that prints its peak memory when the queues are empty.

Its own peak, and apart the largest peak of a process it started: an import of
IMPORT_PARALLEL_ROWS rows or more reads and validates the file in a forked child, whose memory
(the streaming reader's shared strings, calamine's sheet) the worker's own figure leaves out.
"""

from __future__ import annotations

import json
import resource
import sys

from rq import SimpleWorker

from app import create_app
from app.jobs.queue import get_queue, redis_connection


def main() -> None:
    """Work the given queues until empty; print {"peak_rss_mb": ...}."""
    app = create_app()
    with app.app_context():
        queues = [get_queue(name) for name in (sys.argv[1:] or ["imports"])]
        SimpleWorker(queues, connection=redis_connection()).work(
            burst=True, logging_level="WARNING"
        )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {"peak_rss_mb": round(peak_kb / 1024, 1), "reader_peak_rss_mb": round(child_kb / 1024, 1)}
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
