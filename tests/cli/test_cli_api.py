"""The `diem` command line against the real local server (`python -m dev.serve`,
what `make run` starts): each command as a person runs it, its tables, `--json`
and exit codes; the grant of 5,000 rows with a bad row, interrupted with Ctrl-C
after its first chunk, resumed, and run a third time, issuing nothing twice
(the API's stats)."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import local_api
import pytest
from diem_run import Running, campaign_fields, diem
from local_api import LocalApi

pytestmark = pytest.mark.xdist_group("cli")

MARKETER = "cli-marketer"
POLL_SECONDS = 0.05
CHUNK_DEADLINE_SECONDS = 240.0


def _serve(events: bool) -> Iterator[LocalApi]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EVENTS", "1" if events else "0")
        running = local_api.start()
    yield running
    left = local_api.stop(running)
    assert not left, f"dev.serve left processes behind: {left}"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalApi]:
    """`EVENTS=0 make run`'s server: these tests read no events, and the pipeline
    would spend more on the 5,000-row grant's stream records than the grant."""
    yield from _serve(events=False)


@pytest.fixture
def events_server() -> Iterator[LocalApi]:
    """`make run`'s server with its events pipeline, for the feed (stopped after
    the test: the pipeline polls the streams all the while it runs)."""
    yield from _serve(events=True)


def _marketer(server: LocalApi) -> dict[str, str]:
    return {"DIEM_URL": server.base, "DIEM_TOKEN": server.token("marketer", MARKETER)}


def _bearer(server: LocalApi) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token('marketer', MARKETER)}"}


def _launched(server: LocalApi, **fields: Any) -> str:
    status, body = server.call(
        "POST", "/v1/campaigns", _bearer(server), campaign_fields(server.ids["partner_id"], **fields)
    )
    assert status == 201, body
    status, body = server.call("POST", f"/v1/campaigns/{body['campaign_id']}/launch", _bearer(server))
    assert status == 200 and body["status"] == "active", body
    return str(body["campaign_id"])


def _stats(server: LocalApi, campaign_id: str) -> dict[str, Any]:
    status, body = server.call("GET", f"/v1/campaigns/{campaign_id}", _bearer(server))
    assert status == 200, body
    return dict(body["stats"])


def _refused(run: subprocess.CompletedProcess[str], code: str) -> None:
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert f"refused: {code}" in run.stderr, run.stderr


def _results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_campaign_is_created_from_a_file_after_a_validation_error_then_launched_paused_and_ended(
    server: LocalApi, tmp_path: Path
) -> None:
    env = _marketer(server)
    fields = campaign_fields(server.ids["partner_id"], name="CLI lifecycle")
    (tmp_path / "bad.json").write_text(json.dumps({**fields, "inventory": "lots"}))
    _refused(diem("campaigns", "create", "bad.json", env=env, cwd=tmp_path), "VALIDATION_ERROR")
    assert "inventory" in diem("campaigns", "create", "bad.json", env=env, cwd=tmp_path).stderr

    (tmp_path / "campaign.json").write_text(json.dumps(fields))
    created = diem("campaigns", "create", "campaign.json", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    campaign_id = created.stderr.split("created ")[1].split()[0]
    assert "CLI lifecycle" in created.stdout and "draft" in created.stdout
    # the same file again: the key derived from its fields replays the campaign, no second one
    again = diem("campaigns", "create", "campaign.json", "--json", env=env, cwd=tmp_path)
    assert again.returncode == 0 and json.loads(again.stdout)["campaign_id"] == campaign_id

    listed = diem("campaigns", "list", "--status", "draft", "--all", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    drafts = json.loads(listed.stdout)
    assert [c["campaign_id"] for c in drafts].count(campaign_id) == 1
    assert {c["status"] for c in drafts} == {"draft"}
    table = diem("campaigns", "list", env=env, cwd=tmp_path)
    assert table.returncode == 0 and campaign_id in table.stdout and "CLI lifecycle" in table.stdout

    launched = diem("campaigns", "launch", campaign_id, env=env, cwd=tmp_path)
    assert launched.returncode == 0 and f"{campaign_id} is now active" in launched.stderr
    _refused(diem("campaigns", "launch", campaign_id, env=env, cwd=tmp_path), "INVALID_STATE")
    paused = diem("campaigns", "pause", campaign_id, "--json", env=env, cwd=tmp_path)
    assert paused.returncode == 0 and json.loads(paused.stdout)["status"] == "paused"
    assert diem("campaigns", "launch", campaign_id, env=env, cwd=tmp_path).returncode == 0
    ended = diem("campaigns", "end", campaign_id, env=env, cwd=tmp_path)
    assert ended.returncode == 0 and "is now ended" in ended.stderr

    shown = diem("campaigns", "show", campaign_id, env=env, cwd=tmp_path)
    assert shown.returncode == 0
    for text in (campaign_id, "CLI lifecycle", "ended", "One free tea (20,000 VND)", "issued", "remaining"):
        assert text in shown.stdout
    stats = diem("stats", campaign_id, "--json", env=env, cwd=tmp_path)
    assert stats.returncode == 0
    shown_stats = json.loads(stats.stdout)
    days = shown_stats.pop("daily")
    assert shown_stats == {
        "campaign_id": campaign_id,
        "status": "ended",
        "stats": {"issued": 0, "redeemed": 0, "reversed": 0, "remaining": 100_000, "redemption_rate": 0.0},
    }
    assert all(d["issued"] == d["redeemed"] == d["reversed"] == 0 for d in days), days
    # a campaign from stdin, and the API's refusals with their codes
    piped = diem(
        "campaigns", "create", "-", "--json", env=env, cwd=tmp_path, stdin=json.dumps({**fields, "name": "piped"})
    )
    assert piped.returncode == 0 and json.loads(piped.stdout)["name"] == "piped"
    _refused(diem("stats", "c_no_such_campaign", env=env, cwd=tmp_path), "NOT_FOUND")
    missing = diem("campaigns", "show", "c_no_such_campaign", "--json", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and json.loads(missing.stderr)["error"]["code"] == "NOT_FOUND"
    wrong_role = {**env, "DIEM_TOKEN": server.token("subscriber", server.ids["subscribers"][0])}
    _refused(diem("campaigns", "list", env=wrong_role, cwd=tmp_path), "FORBIDDEN")
    _refused(diem("campaigns", "list", env={**env, "DIEM_TOKEN": "forged"}, cwd=tmp_path), "UNAUTHENTICATED")


def test_a_small_grant_then_the_partners_settlement_of_what_was_redeemed(server: LocalApi, tmp_path: Path) -> None:
    env = _marketer(server)
    campaign_id = _launched(server, name="CLI settlement")
    a, b, c = server.ids["subscribers"]
    (tmp_path / "few.csv").write_text(
        f"phone,name\n0{a[2:]},an\n+84 {b[2:]},binh\n{a},an again\n0911000000,nobody\n{c},chi\n"
    )
    granted = diem("grants", campaign_id, "few.csv", env=env, cwd=tmp_path)
    assert granted.returncode == 0, granted.stderr
    results = _results(tmp_path / f"few.{campaign_id}.results.csv")
    assert [(r["line"], r["msisdn"], r["outcome"], r["error"]) for r in results] == [
        ("2", a, "issued", ""),
        ("3", b, "issued", ""),
        ("4", a, "duplicate", "the same number as an earlier row"),
        ("5", "84911000000", "refused", "NOT_FOUND"),
        ("6", c, "issued", ""),
    ]
    codes = [r["code"] for r in results if r["outcome"] == "issued"]
    assert len(set(codes)) == 3 and _stats(server, campaign_id)["issued"] == 3
    per_day = diem("stats", campaign_id, env=env, cwd=tmp_path)
    assert per_day.returncode == 0 and "Per day (local)" in per_day.stdout, per_day.stdout
    days = json.loads(diem("stats", campaign_id, "--json", env=env, cwd=tmp_path).stdout)["daily"]
    assert sum(d["issued"] for d in days) == 3, days

    partner = {"X-Api-Key": server.ids["api_key"]}
    redemption_ids = []
    for n, code in enumerate(codes[:2]):
        status, body = server.call(
            "POST",
            "/v1/redemptions",
            {**partner, "Idempotency-Key": f"cli-{code}"},
            {"code": code, "order_ref": f"POS-{n}"},
        )
        assert status == 201, body
        redemption_ids.append(body["redemption_id"])
    status, body = server.call("POST", f"/v1/redemptions/{redemption_ids[0]}/reversal", partner)
    assert status == 200, body

    settle = {"DIEM_URL": server.base, "DIEM_API_KEY": server.ids["api_key"]}
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7 * 3600))  # the local day (Asia/Ho_Chi_Minh)
    run = diem("settlement", "--from", today, "--to", today, "--out", "settle.csv", "--json", env=settle, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    rows = _results(tmp_path / "settle.csv")
    assert summary["redemptions"] == len(rows) >= 2 and summary["reversed"] >= 1
    mine = {r["redemption_id"]: r for r in rows if r["redemption_id"] in redemption_ids}
    assert set(mine) == set(redemption_ids)
    assert mine[redemption_ids[0]]["reversed_at"] and not mine[redemption_ids[1]]["reversed_at"]
    assert {mine[i]["code"] for i in redemption_ids} == set(codes[:2])
    assert not (tmp_path / "settle.csv.part").exists()

    # bad usage is 2 and writes nothing; a wrong key is the API's refusal
    bad = diem("settlement", "--from", "yesterday", "--to", today, "--out", "x.csv", env=settle, cwd=tmp_path)
    assert bad.returncode == 2 and "--from" in bad.stderr and not (tmp_path / "x.csv").exists()
    no_key = diem("settlement", "--from", today, "--to", today, "--out", "x.csv", env=env, cwd=tmp_path)
    assert no_key.returncode == 2 and "DIEM_API_KEY" in no_key.stderr
    _refused(
        diem(
            "settlement",
            "--from",
            today,
            "--to",
            today,
            "--out",
            "x.csv",
            env={**settle, "DIEM_API_KEY": "dk_wrong"},
            cwd=tmp_path,
        ),
        "UNAUTHENTICATED",
    )
    assert not (tmp_path / "x.csv").exists()


def test_a_dry_run_reports_unreadable_rows_with_their_lines_and_sends_nothing(server: LocalApi, tmp_path: Path) -> None:
    env = _marketer(server)
    campaign_id = _launched(server, name="CLI dry run")
    a = server.ids["subscribers"][0]
    (tmp_path / "list.csv").write_text(f"{a}\n12345\n\n0{a[2:]}\nnot a number\n")
    run = diem("grants", campaign_id, "list.csv", "--dry-run", "--json", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["rows"], report["unique"], report["duplicates"], report["unreadable"]) == (4, 1, 1, 2)
    assert [(r["line"], r["value"]) for r in report["unreadable_rows"]] == [(2, "12345"), (5, "not a number")]
    people = diem("grants", campaign_id, "list.csv", "--dry-run", env=env, cwd=tmp_path)
    assert "line 2: '12345': not a Vietnamese phone number" in people.stderr
    assert "line 5: 'not a number'" in people.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]  # no results, no state
    assert _stats(server, campaign_id)["issued"] == 0

    # nothing to grant, no such file: bad usage
    (tmp_path / "none.csv").write_text("12345\n")
    assert diem("grants", campaign_id, "none.csv", env=env, cwd=tmp_path).returncode == 2
    assert diem("grants", campaign_id, "missing.csv", env=env, cwd=tmp_path).returncode == 2
    # a campaign that is not open: the API refuses the chunk (1) and says how to go on
    ended = _launched(server, name="CLI ended")
    status, _ = server.call("POST", f"/v1/campaigns/{ended}/end", _bearer(server))
    assert status == 200
    refused = diem("grants", ended, "list.csv", env=env, cwd=tmp_path)
    _refused(refused, "CAMPAIGN_NOT_ACTIVE")
    assert "stopped after 0 of 1 chunk(s): the same command resumes" in refused.stderr
    assert refused.stderr.index("refused: CAMPAIGN_NOT_ACTIVE") < refused.stderr.index("stopped after")


def test_a_state_file_older_than_the_apis_replay_window_is_refused_unless_forced(
    server: LocalApi, tmp_path: Path
) -> None:
    env = _marketer(server)
    campaign_id = _launched(server, name="CLI state", per_subscriber_limit=5)
    (tmp_path / "one.csv").write_text(f"{server.ids['subscribers'][1]}\n")
    assert diem("grants", campaign_id, "one.csv", env=env, cwd=tmp_path).returncode == 0
    assert diem("grants", campaign_id, "one.csv", env=env, cwd=tmp_path).returncode == 0  # replayed
    assert _stats(server, campaign_id)["issued"] == 1
    state_path = tmp_path / f"one.{campaign_id}.state.json"
    state = json.loads(state_path.read_text())
    state["sent"] = {"0": "2020-01-01T00:00:00+00:00"}
    state_path.write_text(json.dumps(state))
    late = diem("grants", campaign_id, "one.csv", env=env, cwd=tmp_path)
    assert late.returncode == 1 and "24 hours" in late.stderr and "--force" in late.stderr
    assert _stats(server, campaign_id)["issued"] == 1  # nothing sent
    # another file under the same name (a key the API would not know): refused too
    (tmp_path / "one.csv").write_text(f"{server.ids['subscribers'][2]}\n")
    state_path.write_text(json.dumps({**state, "sent": {"0": "2099-01-01T00:00:00+00:00"}}))
    other = diem("grants", campaign_id, "one.csv", env=env, cwd=tmp_path)
    assert other.returncode == 1 and "different file" in other.stderr
    assert _stats(server, campaign_id)["issued"] == 1
    forced = diem("grants", campaign_id, "one.csv", "--force", env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert _stats(server, campaign_id)["issued"] == 2


# --- the events feed (GET /v1/events) -------------------------------------------------

EVENT_DEADLINE_SECONDS = 60.0


def _events_until(
    found: Callable[[dict[str, Any]], bool], env: dict[str, str], cursor: str, cwd: Path
) -> list[dict[str, Any]]:
    """`diem events tail --no-follow` again (on from its cursor file) until an event satisfies `found`."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + EVENT_DEADLINE_SECONDS
    while True:
        run = diem("events", "tail", "--no-follow", "--json", "--cursor-file", cursor, env=env, cwd=cwd)
        assert run.returncode == 0, run.stderr
        seen += [json.loads(line) for line in run.stdout.splitlines()]
        if any(found(event) for event in seen):
            return seen
        assert time.monotonic() < deadline, f"no such event within {EVENT_DEADLINE_SECONDS:.0f} s: {seen[-5:]}"
        time.sleep(0.5)


def test_events_tail_reads_the_real_feed_as_the_operator_and_as_a_partner_and_follows_it(
    events_server: LocalApi, tmp_path: Path
) -> None:
    server = events_server
    campaign_id = _launched(server, name="CLI events")
    operator = {"DIEM_URL": server.base, "DIEM_TOKEN": server.token("operator", "cli-ops")}
    seen = _events_until(
        lambda e: e["type"] == "campaign.launched" and e["data"].get("campaign_id") == campaign_id,
        operator,
        "ops.cursor",
        tmp_path,
    )
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids))  # page after page, each event once

    # a partner's feed: its own campaign's redemption, never a subscriber's number
    (tmp_path / "one.csv").write_text(f"{server.ids['subscribers'][0]}\n")
    assert diem("grants", campaign_id, "one.csv", env=_marketer(server), cwd=tmp_path).returncode == 0
    (code,) = [r["code"] for r in _results(tmp_path / f"one.{campaign_id}.results.csv")]
    status, body = server.call(
        "POST", "/v1/redemptions", {"X-Api-Key": server.ids["api_key"]}, {"code": code, "order_ref": "POS-EVT"}
    )
    assert status == 201, body
    partner = {"DIEM_URL": server.base, "DIEM_API_KEY": server.ids["api_key"]}
    theirs = _events_until(
        lambda e: e["type"] == "voucher.redeemed" and e["data"].get("code") == code, partner, "partner.cursor", tmp_path
    )
    assert all(
        e["type"] in ("voucher.redeemed", "voucher.reversed") or e["type"].startswith("campaign.") for e in theirs
    )
    assert not any("msisdn" in e["data"] for e in theirs)
    people = diem("events", "tail", "--no-follow", "--types", "voucher.redeemed", env=partner, cwd=tmp_path)
    assert people.returncode == 0 and code in people.stdout and "next cursor: " in people.stderr

    # following: a pause made now is printed as it comes, Ctrl-C stops it with the cursor kept
    follow = (
        "events",
        "tail",
        "--json",
        "--types",
        "campaign.paused",
        "--cursor-file",
        "ops.cursor",
        "--interval",
        "0.2",
    )
    with Running(*follow, env=operator, cwd=tmp_path) as follower:
        status, body = server.call("POST", f"/v1/campaigns/{campaign_id}/pause", _bearer(server))
        assert status == 200, body
        event = json.loads(follower.next_line(EVENT_DEADLINE_SECONDS))  # the only campaign.paused after the cursor
        assert (event["type"], event["data"]["campaign_id"]) == ("campaign.paused", campaign_id)
        code, stderr = follower.interrupt(EVENT_DEADLINE_SECONDS)
    assert code == 130 and "next cursor: " in stderr
    assert (tmp_path / "ops.cursor").read_text().strip() in stderr


# --- the big one ---------------------------------------------------------------------

SUBSCRIBERS, UNKNOWN, ROWS = 800, 400, 5_000  # 1,200 unique numbers: chunks of 1,000 and 200
BAD_INDEX = 2_345  # the bad row's place among the data rows: line 2,347 (a header first)
FORMS: tuple[Callable[[str], str], ...] = (
    lambda m: m,
    lambda m: "0" + m[2:],
    lambda m: f"+84 {m[2:4]} {m[4:7]} {m[7:]}",
    lambda m: f"84-{m[2:5]}-{m[5:8]}-{m[8:]}",
)


def _big_file(tmp_path: Path, subscribers: list[str], unknown: list[str]) -> tuple[Path, int]:
    rng = random.Random(10)
    unique = subscribers + unknown
    duplicates = ROWS - 1 - len(unique)
    numbers = unique + [rng.choice(unique) for _ in range(duplicates)]
    rng.shuffle(numbers)
    rows = [f"{rng.choice(FORMS)(m)},row {n}" for n, m in enumerate(numbers)]
    rows.insert(BAD_INDEX, "096 123,typo")
    path = tmp_path / "customers.csv"
    path.write_text("msisdn,note\n" + "\n".join(rows) + "\n")
    return path, duplicates


def _wait_for_chunk(state: Path, process: subprocess.Popen[str]) -> None:
    """Until the state file records the first chunk answered (polled, with a deadline)."""
    deadline = time.monotonic() + CHUNK_DEADLINE_SECONDS
    while True:
        if state.exists():
            done = json.loads(state.read_text()).get("done") or []
            if 0 in done:
                return
        assert process.poll() is None, f"diem ended first: {process.returncode}"
        assert time.monotonic() < deadline, "no chunk answered in time"
        time.sleep(POLL_SECONDS)


def test_a_grant_of_5000_rows_interrupted_after_a_chunk_resumes_and_a_second_run_issues_nothing_twice(
    server: LocalApi, tmp_path: Path
) -> None:
    from bench.flash_sale import copy_subscriber

    env = _marketer(server)
    campaign_id = _launched(server, name="CLI 5,000 rows")
    subscribers = [f"8496{n:07d}" for n in range(1, SUBSCRIBERS + 1)]
    unknown = [f"8493{n:07d}" for n in range(1, UNKNOWN + 1)]  # valid numbers, not subscribers
    raw = boto3.client(
        "dynamodb",
        endpoint_url=server.ids["dynamodb"],
        region_name="ap-southeast-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    copy_subscriber(raw, "diem-dev-subscribers", server.ids["subscribers"][0], subscribers)
    path, duplicates = _big_file(tmp_path, subscribers, unknown)
    results = tmp_path / f"customers.{campaign_id}.results.csv"
    state = tmp_path / f"customers.{campaign_id}.state.json"

    # Ctrl-C once the first of the two chunks is answered
    with Running("grants", campaign_id, path.name, env=env, cwd=tmp_path) as first:
        _wait_for_chunk(state, first.process)
        code, stderr = first.interrupt(60)
    assert code == 130, stderr
    assert "interrupted after 1 of 2 chunk(s): run the same command again to resume" in stderr
    assert not results.exists()  # the results CSV is written whole or not at all

    resumed = diem("grants", campaign_id, path.name, "--json", env=env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert (summary["rows"], summary["unique"], summary["chunks"]) == (ROWS, SUBSCRIBERS + UNKNOWN, 2)
    assert (summary["issued"], summary["refused"]) == (SUBSCRIBERS, {"NOT_FOUND": UNKNOWN})
    assert (summary["duplicates"], summary["unreadable"]) == (duplicates, 1)
    assert summary["unreadable_rows"] == [
        {"line": BAD_INDEX + 2, "value": "096 123", "problem": "not a Vietnamese phone number"}
    ]
    rows = _results(results)
    assert len(rows) == ROWS and [int(r["line"]) for r in rows] == list(range(2, ROWS + 2))
    outcomes = Counter(r["outcome"] for r in rows)
    assert outcomes == {"issued": SUBSCRIBERS, "refused": UNKNOWN, "duplicate": duplicates, "unreadable": 1}
    issued = {r["msisdn"]: r["code"] for r in rows if r["outcome"] == "issued"}
    assert set(issued) == set(subscribers) and len(set(issued.values())) == SUBSCRIBERS
    assert {r["msisdn"] for r in rows if r["outcome"] == "refused"} == set(unknown)
    stats = _stats(server, campaign_id)
    assert stats["issued"] == SUBSCRIBERS and stats["remaining"] == 100_000 - SUBSCRIBERS

    # a second whole run of the same file: every chunk replayed, the same vouchers, nothing issued
    again = diem("grants", campaign_id, path.name, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "resuming: 2 of 2 chunk(s) were answered before" in again.stderr
    assert _results(results) == rows
    assert _stats(server, campaign_id)["issued"] == SUBSCRIBERS
