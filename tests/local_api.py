"""`python -m dev.serve` as `make run` starts it, for the tests of the local server.

A subprocess (moto's embedded server shares process-global state with
`moto.mock_aws`, which other tests enter and leave), on a free port, with a
known JWT secret; ready when `/v1/health` answers 200 (polled, with a
deadline); the demo ids it printed are parsed from its output.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.auth import mint_token

ROOT = Path(__file__).resolve().parents[1]
SECRET = "local-server-secret-0123456789abcdef0123"
READY_SECONDS = 120.0
STOP_SECONDS = 30.0
POLL_SECONDS = 0.2


@dataclass
class LocalApi:
    """The running `dev.serve` and what it printed."""

    port: int
    process: subprocess.Popen[str]
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=2000))
    ids: dict[str, Any] = field(default_factory=dict)
    secret: str = SECRET

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return "".join(list(self.output)[-200:])

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def token(self, role: str, subject: str) -> str:
        return mint_token(role, subject, 3600, self.secret)

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None) -> Any:
        """One request on a connection of its own; the status and the decoded JSON body."""
        conn = self.connection()
        try:
            data = None if body is None else json.dumps(body)
            sent = {**(headers or {}), **({"Content-Type": "application/json"} if data is not None else {})}
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drain(api: LocalApi) -> None:
    assert api.process.stdout is not None
    for line in api.process.stdout:
        api.output.append(line)


def _demo_ids(text: str) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for name, pattern in (
        ("subscribers", r"subscribers:\s+(.+)"),
        ("partner_id", r"partner:\s+(\S+)"),
        ("api_key", r"API key:\s+(\S+)"),
        ("campaign_id", r"campaign:\s+(\S+)"),
        ("dynamodb", r"DynamoDB \(embedded engine\):\s+(\S+)"),
        ("ussd_key", r"USSD gateway key:\s+(\S+)"),
        ("sms_key", r"SMS gateway key:\s+(\S+)"),
    ):
        match = re.search(pattern, text)
        assert match, f"dev.serve did not print the demo {name}:\n{text}"
        ids[name] = match.group(1).strip()
    ids["subscribers"] = [s.strip() for s in ids["subscribers"].split(",")]
    # households: the demo household (`make run` seeds one)
    household = re.search(r"household:\s+(\S+)", text)
    assert household, f"dev.serve did not print the demo household:\n{text}"
    ids["household_id"] = household.group(1)
    return ids


def _health(api: LocalApi) -> int | None:
    conn = api.connection(timeout=5)
    try:
        conn.request("GET", "/v1/health")
        return conn.getresponse().status
    except OSError:  # not listening yet, or still seeding (the request waits in the backlog)
        return None
    finally:
        conn.close()


def start(secret: str = SECRET, extra_env: dict[str, str] | None = None) -> LocalApi:
    """Start `python -m dev.serve` (what `make run` runs) and wait for its first 200;
    `extra_env` adds to its environment (the browser tests' identity provider)."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "DB_PORT": "0", "DIEM_JWT_SECRET": secret}
    for name in ("DIEM_DYNAMODB_ENDPOINT", "DIEM_TABLE_PREFIX", "SEED", "QUIET"):
        env.pop(name, None)
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "dev.serve"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    api = LocalApi(port, process, secret=secret)
    threading.Thread(target=_drain, args=(api,), daemon=True).start()
    deadline = time.monotonic() + READY_SECONDS
    try:
        while _health(api) != 200:
            if process.poll() is not None:
                raise AssertionError(f"dev.serve exited with {process.returncode}:\n{api.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no 200 from /v1/health within {READY_SECONDS:.0f} s:\n{api.log()}")
            time.sleep(POLL_SECONDS)
        api.ids = _demo_ids("".join(api.output))
    except BaseException:
        stop(api)
        raise
    return api


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop(api: LocalApi) -> list[int]:
    """SIGINT, as Ctrl-C sends it, to dev.serve; the processes it left behind (killed)."""
    process = api.process
    children = _children(process.pid)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_SECONDS)
    deadline = time.monotonic() + STOP_SECONDS
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left
