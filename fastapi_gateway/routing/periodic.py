"""The background jobs of each serving process (the route table's poll, the numbers' writes,
the rollout controller) run on a timer and must outlive an outage of the database without
flooding the log: one line when a job starts failing, one when it works again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["every"]


async def every(
    seconds: float, job: Callable[[], Awaitable[object]], *, logger: logging.Logger, failing: str, recovered: str,
    first_wait: bool = True,
) -> None:
    """Run ``job`` every ``seconds`` for ever. ``failing`` is logged with the error's class and
    text (``%s``) when it starts failing, ``recovered`` when it succeeds again."""
    down = False
    while True:
        if first_wait:
            await anyio.sleep(seconds)
        first_wait = True
        try:
            await job()
        except Exception as error:  # noqa: BLE001 - the job runs again next time; one line per outage
            if not down:
                logger.warning(failing, f"{type(error).__name__}: {error}")
            down = True
        else:
            if down:
                logger.warning(recovered)
            down = False
