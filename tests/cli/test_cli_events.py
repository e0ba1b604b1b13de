"""`diem events tail` against a real HTTP server on 127.0.0.1 serving the
contract's feed (API.md "Events and webhooks": `GET /v1/events?after=&types=&limit=`
-> `{items: [{id, type, timestamp, data}], next_cursor}`, the cursor given back
also when a page is empty): every page in commit order, the cursor to resume
from, a cursor file, following new events until Ctrl-C, and refusals, with the
pages and their timing under the test's control. test_cli_api.py reads the
real feed of `make run`'s server (operator, partner, following)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from diem_run import Running, diem

TOKEN, KEY = "operator-token", "dk_partner_key"
DEADLINE_SECONDS = 30.0


class Feed(ThreadingHTTPServer):
    """The events feed: a list in commit order; the cursor is a position in it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.events: list[dict[str, Any]] = []
        self.seen: list[tuple[dict[str, list[str]], str | None, str | None]] = []
        self.lock = threading.Lock()

    def add(self, count: int, kind: str = "voucher.redeemed") -> None:
        with self.lock:
            start = len(self.events)
            for n in range(start, start + count):
                data = {"code": f"CODE-{n}", "campaign_id": "c_1"}
                self.events.append({"id": f"evt_{n:032d}", "type": kind, "timestamp": f"t{n}", "data": data})

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FeedHandler(BaseHTTPRequestHandler):
    server: Feed

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        auth, key = self.headers.get("Authorization"), self.headers.get("X-Api-Key")
        self.server.seen.append((query, auth, key))
        if parts.path != "/v1/events":
            return self._answer(404, {"error": {"code": "NOT_FOUND", "message": "No such route."}})
        if auth != f"Bearer {TOKEN}" and key != KEY:
            return self._answer(401, {"error": {"code": "UNAUTHENTICATED", "message": "Invalid token."}})
        position = int(query.get("after", ["c0"])[0][1:])
        limit = int(query.get("limit", ["50"])[0])
        wanted = set(query["types"][0].split(",")) if "types" in query else None
        with self.server.lock:
            items = []
            while position < len(self.server.events) and len(items) < limit:
                event = self.server.events[position]
                position += 1
                if wanted is None or event["type"] in wanted:
                    items.append(event)
        return self._answer(200, {"items": items, "next_cursor": f"c{position}"})


@pytest.fixture
def feed() -> Iterator[Feed]:
    server = Feed()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _env(feed: Feed, **more: str) -> dict[str, str]:
    return {"DIEM_URL": feed.base, "DIEM_TOKEN": TOKEN, **more}


def test_no_follow_reads_every_page_in_commit_order_then_prints_the_cursor(feed: Feed, tmp_path: Path) -> None:
    feed.add(450)
    run = diem("events", "tail", "--no-follow", "--json", env=_env(feed), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert [json.loads(line) for line in run.stdout.splitlines()] == feed.events
    assert "next cursor: c450" in run.stderr
    assert [q.get("after", [None])[0] for q, _, _ in feed.seen] == [None, "c200", "c400"]
    assert {q["limit"][0] for q, _, _ in feed.seen} == {"200"}

    people = diem("events", "tail", "--no-follow", "--after", "c448", env=_env(feed), cwd=tmp_path)
    assert people.returncode == 0
    lines = people.stdout.splitlines()
    assert len(lines) == 2 and "voucher.redeemed" in lines[0] and "evt_" + "448".zfill(32) in lines[0]
    assert "code=CODE-448" in lines[0]


def test_types_go_to_the_api_and_a_partner_key_is_used_when_set(feed: Feed, tmp_path: Path) -> None:
    feed.add(3)
    feed.add(2, "campaign.ended")
    env = {"DIEM_URL": feed.base, "DIEM_API_KEY": KEY}
    run = diem("events", "tail", "--no-follow", "--json", "--types", "campaign.ended", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert [json.loads(line)["type"] for line in run.stdout.splitlines()] == ["campaign.ended"] * 2
    query, auth, key = feed.seen[-1]
    assert query["types"] == ["campaign.ended"] and (auth, key) == (None, KEY)


def test_a_cursor_file_resumes_where_the_last_run_stopped(feed: Feed, tmp_path: Path) -> None:
    feed.add(5)
    args = ("events", "tail", "--no-follow", "--json", "--cursor-file", "feed.cursor")
    first = diem(*args, env=_env(feed), cwd=tmp_path)
    assert first.returncode == 0 and len(first.stdout.splitlines()) == 5
    assert (tmp_path / "feed.cursor").read_text().strip() == "c5"
    feed.add(2)
    second = diem(*args, env=_env(feed), cwd=tmp_path)
    assert [json.loads(line)["id"] for line in second.stdout.splitlines()] == [e["id"] for e in feed.events[5:]]


def test_follow_prints_new_events_as_they_come_until_ctrl_c(feed: Feed, tmp_path: Path) -> None:
    feed.add(2)
    with Running("events", "tail", "--json", "--interval", "0.1", env=_env(feed), cwd=tmp_path) as tail:

        def next_event() -> dict[str, Any]:
            return dict(json.loads(tail.next_line(DEADLINE_SECONDS)))

        assert [next_event()["id"] for _ in range(2)] == [e["id"] for e in feed.events]
        polls = len(feed.seen)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(feed.seen) < polls + 2:  # it keeps asking while there is nothing new
            assert time.monotonic() < deadline
            time.sleep(0.05)
        feed.add(1)
        assert next_event()["id"] == feed.events[2]["id"]
        code, stderr = tail.interrupt(DEADLINE_SECONDS)
    assert code == 130
    assert "next cursor: c3" in stderr


def test_refusals_are_exit_code_1_with_the_apis_code_and_missing_credentials_2(feed: Feed, tmp_path: Path) -> None:
    refused = diem("events", "tail", "--no-follow", env=_env(feed, DIEM_TOKEN="wrong"), cwd=tmp_path)
    assert refused.returncode == 1 and "refused: UNAUTHENTICATED (HTTP 401): Invalid token." in refused.stderr
    missing = diem("events", "tail", "--no-follow", env={"DIEM_URL": feed.base}, cwd=tmp_path)
    assert missing.returncode == 2 and "DIEM_TOKEN" in missing.stderr
    assert len(feed.seen) == 1  # nothing was sent without credentials
