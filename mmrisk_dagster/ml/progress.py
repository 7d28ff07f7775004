"""Progress of a long step, reported at every tenth of the work with its rate and estimate.

The reporter takes a plain `log(message)` callable (an asset passes `context.log.info`) and a
clock, so it stays free of Dagster and is tested with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def progress_message(what: str, done: int, total: int, elapsed: float) -> str:
    """'encoding texts: 2,000/10,000 (20%), 412/s, about 19s left' for `done` of `total` in `elapsed` s."""
    rate = done / elapsed if elapsed > 0 else float("inf")
    left = (total - done) / rate if rate > 0 else float("inf")
    estimate = (
        "done"
        if done >= total
        else f"about {format_duration(left)} left"
        if left != float("inf")
        else "no estimate yet"
    )
    return f"{what}: {done:,}/{total:,} ({done / total:.0%}), {rate:,.0f}/s, {estimate}"


class ProgressReporter:
    """Calls `log` each time the finished share crosses the next multiple of `step`."""

    def __init__(
        self,
        what: str,
        total: int,
        log: Callable[[str], object],
        step: float = 0.1,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.what, self.total, self.log, self.step, self.clock = what, total, log, step, clock
        self.done = 0
        self.started = clock()
        self._next_share = step

    def advance(self, count: int) -> None:
        self.done += count
        share = self.done / self.total if self.total else 1.0
        if share + 1e-12 < self._next_share:
            return
        self.log(progress_message(self.what, self.done, self.total, self.clock() - self.started))
        # One message per call however many steps it crossed: a big batch does not flood the log.
        while self._next_share <= share + 1e-12:
            self._next_share += self.step
