"""Periodic jobs, run by RQ's cron scheduler (one or more `scheduler` processes)."""

from __future__ import annotations

import logging

from redis import Redis
from rq.cron import CronScheduler

from app.jobs.maintenance import daily_cleanup, recover_jobs

DAILY_CLEANUP_CRON = "0 4 * * *"
RECOVERY_INTERVAL = 60  # seconds between looks for imports a dead worker left behind


def build_scheduler(connection: Redis, logging_level: int = logging.INFO) -> CronScheduler:
    """A cron scheduler with every periodic job of the app registered."""
    scheduler = CronScheduler(connection=connection, logging_level=logging_level)
    scheduler.register(
        daily_cleanup,
        queue_name="maintenance",
        cron=DAILY_CLEANUP_CRON,
        job_timeout=3600,
        name="daily_cleanup",
    )
    scheduler.register(
        recover_jobs,
        queue_name="maintenance",
        interval=RECOVERY_INTERVAL,
        job_timeout=300,
        name="recover_jobs",
    )
    return scheduler
