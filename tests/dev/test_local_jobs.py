"""`make run`'s scheduled jobs (dev/jobs.py): app.py's cron expressions read
as EventBridge reads them (UTC, `L` the month's last day), and the local
scheduler firing each schedule's handler once in its minute, catching up the
minutes between two checks; a failing run is reported, not fatal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dev import jobs


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_apps_crons_fire_at_their_minutes_only() -> None:
    crons = {name: cron for name, (cron, _) in jobs.schedules().items()}
    assert set(crons) == {"expire_points", "expire_vouchers", "tenure_bonuses", "review_tiers", "expiry_notices"}
    assert jobs.due(crons["expiry_notices"], at("2027-01-05T02:00"))  # 09:00 in Ha Noi
    assert jobs.due(crons["expire_points"], at("2027-01-05T17:05"))
    assert not jobs.due(crons["expire_points"], at("2027-01-05T17:06"))
    assert not jobs.due(crons["expire_points"], at("2027-01-05T05:05"))
    assert jobs.due(crons["review_tiers"], at("2027-01-31T17:40"))
    assert jobs.due(crons["review_tiers"], at("2028-02-29T17:40"))  # leap year: the 29th is the last
    assert not jobs.due(crons["review_tiers"], at("2027-01-30T17:40"))


@pytest.fixture
def fired(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    real = jobs.schedules()

    def handler(name: str) -> Any:
        def run(event: dict[str, Any], context: Any) -> dict[str, int]:
            calls.append((name, event["time"]))
            if name == "tenure_bonuses":
                raise RuntimeError("the engine is gone")
            return {"subscribers": 0}

        return run

    monkeypatch.setattr(jobs, "schedules", lambda: {n: (cron, handler(n)) for n, (cron, _) in real.items()})
    return calls


def test_the_scheduler_fires_each_schedule_once_and_catches_up_missed_minutes(fired: list[tuple[str, str]]) -> None:
    now = [at("2027-01-31T17:04")]
    lines: list[str] = []
    scheduler = jobs.LocalScheduler(now=lambda: now[0], report=lines.append)
    assert scheduler.check() == []
    now[0] = at("2027-01-31T17:05:30")
    assert scheduler.check() == ["expire_points"]
    assert scheduler.check() == []  # the same minute again: already fired
    now[0] = at("2027-01-31T17:45")  # a long pause: 17:10, 17:20 and 17:40 caught up, in order
    assert scheduler.check() == ["expire_vouchers", "tenure_bonuses", "review_tiers"]
    assert [name for name, _ in fired] == ["expire_points", "expire_vouchers", "tenure_bonuses", "review_tiers"]
    assert fired[0][1] == "2027-01-31T17:05:00Z"
    assert any("tenure_bonuses" in line and "failed: RuntimeError" in line for line in lines)
