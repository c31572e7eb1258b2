"""Periodic jobs, run by RQ's cron scheduler (one or more `scheduler` processes)."""

from __future__ import annotations

import logging

from redis import Redis
from rq.cron import CronScheduler

from app.jobs.maintenance import daily_cleanup

DAILY_CLEANUP_CRON = "0 4 * * *"


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
    return scheduler
