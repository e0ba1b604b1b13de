"""`diem grants` when the API is busy or still working on a chunk, against a
real HTTP server on 127.0.0.1 that answers as the API does in those cases
(the local engine never does: it reports no transaction conflicts): 503
SERVICE_UNAVAILABLE and 409 IDEMPOTENCY_IN_PROGRESS with Retry-After are asked
again with the same Idempotency-Key, anything else stops the run (exit 1)."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from diem_run import diem

BUSY = {"error": {"code": "SERVICE_UNAVAILABLE", "message": "The service is busy; please retry."}}
RUNNING = {"error": {"code": "IDEMPOTENCY_IN_PROGRESS", "message": "A request with this key is in progress."}}
GONE = {"error": {"code": "CAMPAIGN_NOT_ACTIVE", "message": "This campaign is not open now."}}


class Grants(ThreadingHTTPServer):
    """POST /v1/campaigns/c_1/grants: the scripted refusals first, then the API's answer."""

    def __init__(self, script: list[tuple[int, dict[str, Any]]]) -> None:
        super().__init__(("127.0.0.1", 0), GrantsHandler)
        self.script = script
        self.requests: list[tuple[str | None, list[str]]] = []


class GrantsHandler(BaseHTTPRequestHandler):
    server: Grants

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.headers.get("Idempotency-Key"), body["msisdns"]))
        if self.server.script:
            status, answer = self.server.script.pop(0)
        else:
            status, answer = (
                200,
                {"results": [{"msisdn": m, "status": "issued", "code": f"C-{m}"} for m in body["msisdns"]]},
            )
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if status in (409, 503):
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[tuple[Grants, threading.Thread]] = []

    def start(script: list[tuple[int, dict[str, Any]]]) -> Grants:
        server = Grants(script)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _env(server: Grants) -> dict[str, str]:
    return {"DIEM_URL": f"http://127.0.0.1:{server.server_address[1]}", "DIEM_TOKEN": "t"}


def test_a_busy_api_and_a_chunk_still_running_are_asked_again_with_the_same_key(serve: Any, tmp_path: Path) -> None:
    server = serve([(503, BUSY), (409, RUNNING)])
    (tmp_path / "list.csv").write_text("".join(f"09{n:08d}\n" for n in range(1, 6)))
    run = diem("grants", "c_1", "list.csv", "--chunk-size", "3", env=_env(server), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "chunk 1: SERVICE_UNAVAILABLE, asking again in 1 s" in run.stderr
    assert "chunk 1: IDEMPOTENCY_IN_PROGRESS, asking again in 1 s" in run.stderr
    keys = [key for key, _ in server.requests]
    assert len(keys) == 4 and keys[0] == keys[1] == keys[2] != keys[3]
    assert [len(numbers) for _, numbers in server.requests] == [3, 3, 3, 2]
    with (tmp_path / "list.c_1.results.csv").open() as handle:
        assert [r["outcome"] for r in csv.DictReader(handle)] == ["issued"] * 5


def test_a_refused_chunk_stops_the_run_and_the_next_run_sends_the_same_keys(serve: Any, tmp_path: Path) -> None:
    server = serve([(200, {"results": []}), (409, GONE)])  # a first answer that does not fit, then a refusal
    (tmp_path / "list.csv").write_text("0911111111\n")
    broken = diem("grants", "c_1", "list.csv", env=_env(server), cwd=tmp_path)
    assert broken.returncode == 1 and "does not list the numbers sent" in broken.stderr
    refused = diem("grants", "c_1", "list.csv", env=_env(server), cwd=tmp_path)
    assert refused.returncode == 1 and "refused: CAMPAIGN_NOT_ACTIVE (HTTP 409)" in refused.stderr
    done = diem("grants", "c_1", "list.csv", env=_env(server), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len({key for key, _ in server.requests}) == 1  # one chunk, one key, however many runs
