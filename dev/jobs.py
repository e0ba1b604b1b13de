"""The scheduled jobs for `make run`: Chalice's local server does not run
schedules, so `dev.serve` starts `LocalScheduler`, which fires each of app.py's
schedules at its cron time (UTC, as EventBridge does) through the same handler
Lambda calls. With no jobs queue configured the handler works every task of
the run itself, in parallel threads (`chalicelib.jobs.fanout`).

    python -m dev.jobs all                # every job now, against DIEM_DYNAMODB_ENDPOINT
    python -m dev.jobs expire_points      # one of them

Only the cron forms app.py uses are understood: numbers or `*` for minutes,
hours and month, `*` or `L` (the month's last day) or a number for the day of
the month, `?` for the day of the week.
"""

from __future__ import annotations

import argparse
import calendar
import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["LocalScheduler", "due", "main", "schedules"]


def _field(value: Any, now: int) -> bool:
    return str(value) in ("*", "?") or int(value) == now


def due(cron: Any, at: datetime) -> bool:
    """Whether the Chalice `Cron` fires at minute `at` (UTC)."""
    last = calendar.monthrange(at.year, at.month)[1]
    day = str(cron.day_of_month)
    day_ok = day in ("*", "?") or (day == "L" and at.day == last) or (day.isdigit() and int(day) == at.day)
    return (
        _field(cron.minutes, at.minute)
        and _field(cron.hours, at.hour)
        and day_ok
        and _field(cron.month, at.month)
        and str(cron.day_of_week) in ("*", "?")
        and _field(cron.year, at.year)
    )


def schedules() -> dict[str, tuple[Any, Callable[..., Any]]]:
    """app.py's schedules: name -> (its Cron, the Lambda handler)."""
    import app as app_module

    found = {}
    for source in app_module.app.event_sources:
        expression = getattr(source, "schedule_expression", None)
        if expression is not None:
            found[source.name] = (expression, getattr(app_module, source.name))
    return found


def _event(name: str, at: datetime) -> dict[str, Any]:
    return {
        "id": f"local-{name}-{at:%Y%m%d%H%M}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "ap-southeast-1",
        "resources": [f"arn:aws:events:ap-southeast-1:123456789012:rule/{name}"],
        "detail": {},
        "version": "0",
    }


def fire(name: str, at: datetime | None = None) -> Any:
    _, handler = schedules()[name]
    return handler(_event(name, at or datetime.now(UTC)), None)


class LocalScheduler:
    """Fires each schedule when its minute comes (checked every `tick` seconds;
    each minute at most once). `now` is injectable for the tests."""

    def __init__(
        self,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick: float = 20.0,
        report: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        self.now, self.tick, self.report = now, tick, report
        self._stop = threading.Event()
        self._last: datetime | None = None
        self._thread: threading.Thread | None = None

    def check(self) -> list[str]:
        """Fire what is due in the minutes since the last check; the names fired."""
        minute = self.now().replace(second=0, microsecond=0)
        start = minute if self._last is None else self._last + timedelta(minutes=1)
        self._last = minute
        fired = []
        at = start
        while at <= minute:
            for name, (cron, handler) in schedules().items():
                if due(cron, at):
                    try:
                        result = handler(_event(name, at), None)
                        self.report(f"[jobs] {name} at {at:%Y-%m-%d %H:%M} UTC: {json.dumps(result)}")
                    except Exception as exc:  # a failed run is caught up by the next ones
                        self.report(f"[jobs] {name} at {at:%Y-%m-%d %H:%M} UTC failed: {type(exc).__name__}: {exc}")
                    fired.append(name)
            at += timedelta(minutes=1)
        return fired

    def start(self) -> LocalScheduler:
        def loop() -> None:
            while not self._stop.wait(self.tick):
                self.check()

        self.check()
        self._thread = threading.Thread(target=loop, name="local-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def main(argv: list[str] | None = None) -> int:
    names = sorted(schedules())
    parser = argparse.ArgumentParser(prog="python -m dev.jobs", description="Run diem's scheduled jobs now.")
    parser.add_argument("job", choices=[*names, "all"])
    args = parser.parse_args(argv)
    for name in names if args.job == "all" else [args.job]:
        print(f"{name}: {json.dumps(fire(name))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
