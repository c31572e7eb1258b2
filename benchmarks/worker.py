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
    """Work the given queues until empty; print {"peak_rss_mb": ...}.

    With --wait, it first prints "ready" once the app is loaded and starts working when a line
    arrives on its standard input: the benchmark then times a job from enqueue to `completed` as
    a deployed worker, already waiting, runs it (without the ~1.7 s of loading the app).
    """
    wait = "--wait" in sys.argv
    names = [name for name in sys.argv[1:] if name != "--wait"]
    app = create_app()
    if wait:
        print("ready", flush=True)
        sys.stdin.readline()
    with app.app_context():
        queues = [get_queue(name) for name in (names or ["imports"])]
        SimpleWorker(queues, connection=redis_connection()).work(
            burst=True, logging_level="WARNING"
        )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "reader_peak_rss_mb": round(child_kb / 1024, 1),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
