"""Running the installed `diem` command as a person would: the console script
beside this Python (`make install-run` installs it), in a subprocess, with only
the DIEM_* settings given (none inherited)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DIEM = Path(sys.executable).with_name("diem")
TIMEOUT_SECONDS = 300.0


def environment(settings: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DIEM_")}
    # wide tables (no wrapped ids), no colour codes in what the tests read
    return {**inherited, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", **settings}


def command(*args: str) -> list[str]:
    assert DIEM.exists(), f"{DIEM} is missing: `make install-run` installs the diem command"
    return [str(DIEM), *args]


def diem(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args),
        env=environment(env),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign_fields(partner_id: str, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "name": "Free tea for everyone",
        "partner_id": partner_id,
        "voucher": {"title": "One free tea", "value_vnd": 20_000},
        "points_price": 0,
        "inventory": 100_000,
        "per_subscriber_limit": 1,
        "starts_at": iso(now - timedelta(hours=1)),
        "ends_at": iso(now + timedelta(days=3)),
        "voucher_valid_days": 7,
        **fields,
    }


class Lines:
    """A running diem's stdout, line by line, each awaited with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._lines: queue.Queue[str] = queue.Queue()
        stdout = process.stdout
        threading.Thread(target=lambda: [self._lines.put(line) for line in stdout], daemon=True).start()

    def next(self, timeout: float) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from diem within {timeout:.0f} s") from None
