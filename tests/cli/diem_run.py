"""Running the installed `diem` command as a person would: the console script
beside this Python (`make install-run` installs it), in a subprocess, with only
the DIEM_* settings given (none inherited)."""

from __future__ import annotations

import os
import queue
import signal
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


class Running:
    """A diem started in the background: its stdout line by line (each awaited
    with a deadline), Ctrl-C, killed on leaving the block if it is still running."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            command(*args), env=environment(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._stderr: list[str] = []
        stdout, stderr = self.process.stdout, self.process.stderr
        assert stdout is not None and stderr is not None
        self._readers = [
            threading.Thread(target=lambda: [self._lines.put(line) for line in stdout], daemon=True),
            threading.Thread(target=lambda: self._stderr.extend(stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def next_line(self, timeout: float) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from diem within {timeout:.0f} s") from None

    def interrupt(self, timeout: float) -> tuple[int, str]:
        """Ctrl-C (SIGINT, as a terminal sends it): the exit code and what diem said on stderr."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=timeout)
        return code, "".join(self._stderr)
