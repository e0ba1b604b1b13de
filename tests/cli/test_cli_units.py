"""The `diem` command line's own logic, without a server: MSISDN normalisation
agrees with the API's, the CSV reader (header, BOM, CRLF, bad bytes, line
numbers), chunking and keys, the results CSV, the state file's refusals."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.errors import DiemError
from chalicelib.subscribers.msisdn import normalise_msisdn
from diem_cli import config, grants, msisdn


def _api(raw: str) -> str | None:
    try:
        return normalise_msisdn(raw)
    except DiemError:
        return None


PHONE_CHARS = st.sampled_from("0123456789+ -.()84\t\u00a0\uff19a")


@settings(max_examples=300)
@given(st.text(PHONE_CHARS, max_size=20) | st.text(max_size=40))
@example("0961234567")
@example(" +84 96 123 4567 ")
@example("84-961-234-567")
@example("(096) 123.4567")
@example("0061234567")
@example("84\uff10961234567")  # a full-width zero
@example("+840961234567")
@example("0" + "9" * 9 + " " * 30)
def test_the_cli_normalises_as_the_api_does(raw: str) -> None:
    assert msisdn.normalise(raw) == _api(raw)


def _rows(data: bytes) -> list[grants.Row]:
    return list(grants.read_rows(io.BytesIO(data)))


def test_rows_keep_their_line_numbers_past_blank_lines_headers_and_bad_bytes() -> None:
    data = b"\xef\xbb\xbfName,Phone\r\nan,0961234567\r\n\r\nbinh,+84 97 111 2233\r\nchi,\xff\xfe\r\ndung\r\nem,123\r\n"
    rows = _rows(data)
    assert [(r.line, r.msisdn, r.problem) for r in rows] == [
        (2, "84961234567", None),
        (4, "84971112233", None),
        (5, None, "not UTF-8 text"),
        (6, None, "no column 2"),
        (7, None, "not a Vietnamese phone number"),
    ]
    assert rows[-1].value == "123"


def test_without_a_header_the_first_column_is_the_number_and_row_one_is_data() -> None:
    rows = _rows(b"0961234567,x\nnot-a-number\n")
    assert [(r.line, r.msisdn) for r in rows] == [(1, "84961234567"), (2, None)]


def test_a_quoted_cell_is_read_as_csv() -> None:
    rows = _rows(b'msisdn\n"+84 96 123 4567"\n"0971112233",extra\n')
    assert [r.msisdn for r in rows] == ["84961234567", "84971112233"]


def _numbers(count: int) -> list[str]:
    return [f"849{n:08d}" for n in range(1, count + 1)]


def _file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


class Recorder:
    """A `send` that answers like the API: issued, with a code per number."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, list[str]]] = []

    def __call__(self, index: int, key: str, msisdns: list[str]) -> list[dict[str, Any]]:
        self.calls.append((index, key, msisdns))
        return [
            {"msisdn": m, "status": "issued", "code": f"CODE-{m}"}
            if m[-1] != "7"
            else {"msisdn": m, "status": "SOLD_OUT"}
            for m in msisdns
        ]


def _grant(path: Path, send: Recorder, chunk_size: int = grants.MAX_CHUNK) -> grants.Outcome:
    scanned = grants.scan(path)
    state = grants.StateFile(
        grants.beside(path, "c_1", "state.json"), "c_1", scanned.sha256, chunk_size, scanned.chunks(chunk_size)
    )
    state.check(False, grants.now())
    return grants.grant_file(
        scanned, "c_1", send, chunk_size=chunk_size, state=state, results=grants.beside(path, "c_1", "results.csv")
    )


def test_unique_numbers_go_in_chunks_of_at_most_1000_with_stable_keys_and_every_row_has_a_result(
    tmp_path: Path,
) -> None:
    numbers = _numbers(2500)
    # one bad row, then every tenth number again in its national form
    lines = ["msisdn", *numbers[:1200], "12345", *numbers[1200:], *("0" + n[2:] for n in numbers[::10])]
    path = _file(tmp_path, lines)
    first, second = Recorder(), Recorder()
    outcome = _grant(path, first)
    assert [len(c[2]) for c in first.calls] == [1000, 1000, 500]
    assert [m for c in first.calls for m in c[2]] == numbers  # each once, in file order
    assert len({c[1] for c in first.calls}) == 3 and all(len(c[1]) <= 255 for c in first.calls)
    _grant(path, second)
    assert [c[1] for c in second.calls] == [c[1] for c in first.calls]  # the same file: the same keys
    with grants.beside(path, "c_1", "results.csv").open() as handle:
        results = list(csv.DictReader(handle))
    assert len(results) == len(lines) - 1  # a row per data row
    assert [int(r["line"]) for r in results] == list(range(2, len(lines) + 1))
    bad = next(r for r in results if r["outcome"] == "unreadable")
    assert (bad["line"], bad["input"]) == ("1202", "12345")
    assert outcome.duplicates == 250 and outcome.unreadable == 1
    assert outcome.issued == 2250 and outcome.refused == {"SOLD_OUT": 250}
    issued = [r for r in results if r["outcome"] == "issued"]
    assert all(r["code"] == f"CODE-{r['msisdn']}" for r in issued)


def test_another_chunk_size_is_another_grant(tmp_path: Path) -> None:
    path = _file(tmp_path, _numbers(10))
    a, b = Recorder(), Recorder()
    _grant(path, a, chunk_size=5)
    (tmp_path / "customers.c_1.state.json").unlink()
    _grant(path, b, chunk_size=10)
    assert not {c[1] for c in a.calls} & {c[1] for c in b.calls}


def _state(path: Path, sha: str, sent_at: datetime) -> grants.StateFile:
    state = grants.StateFile(grants.beside(path, "c_1", "state.json"), "c_1", sha, 1000, 1)
    state.data["sent"] = {"0": sent_at.isoformat()}
    state.save()
    return grants.StateFile(state.path, "c_1", sha, 1000, 1)


def test_the_state_file_refuses_a_resend_past_the_replay_window_and_another_file_under_the_same_name(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, _numbers(3))
    now = grants.now()
    recent = _state(path, "a" * 64, now - timedelta(hours=2))
    assert recent.check(False, now) == 0  # sent, not answered
    assert recent.data["sent"]  # the first send time is kept
    old = _state(path, "a" * 64, now - timedelta(hours=25))
    with pytest.raises(grants.Refused, match="24 hours"):
        old.check(False, now)
    assert old.check(True, now) == 0 and old.data["sent"] == {}  # --force: a new grant, new send times
    changed = _state(path, "a" * 64, now)
    changed.data["file_sha256"] = "b" * 64
    with pytest.raises(grants.Refused, match="different file"):
        changed.check(False, now)
    corrupt = grants.beside(path, "c_1", "state.json")
    corrupt.write_text("{")
    with pytest.raises(grants.Refused, match="cannot be read"):
        grants.StateFile(corrupt, "c_1", "a" * 64, 1000, 1).check(False, now)


def test_a_file_that_changes_while_it_is_granted_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, _numbers(3))
    scanned = grants.scan(path)
    path.write_text("0961234567\n")
    state = grants.StateFile(grants.beside(path, "c_1", "state.json"), "c_1", scanned.sha256, 1000, 1)
    with pytest.raises(grants.Refused, match="changed"):
        grants.grant_file(scanned, "c_1", Recorder(), state=state, results=grants.beside(path, "c_1", "results.csv"))
    assert not grants.beside(path, "c_1", "results.csv").exists()


def test_the_configuration_is_read_in_one_place_and_never_shows_the_secrets() -> None:
    settings_ = config.load({"DIEM_URL": "https://api.example.test/", "DIEM_TOKEN": "tok-secret", "DIEM_TIMEOUT": "5"})
    assert (settings_.url, settings_.token, settings_.timeout) == ("https://api.example.test", "tok-secret", 5.0)
    assert "tok-secret" not in repr(settings_)
    assert config.load({}).url == config.DEFAULT_URL
    for bad in ({"DIEM_URL": "file:///etc/passwd"}, {"DIEM_URL": "nope"}, {"DIEM_TIMEOUT": "soon"}):
        with pytest.raises(config.ConfigError):
            config.load(bad)


def test_the_state_file_is_json_a_person_can_read(tmp_path: Path) -> None:
    path = _file(tmp_path, _numbers(3))
    _grant(path, Recorder())
    state = json.loads(grants.beside(path, "c_1", "state.json").read_text())
    assert state["campaign_id"] == "c_1" and state["done"] == [0] and state["finished_at"]
    assert datetime.fromisoformat(state["sent"]["0"]) <= datetime.now(UTC)


def test_help_version_and_bad_usage_exit_codes(tmp_path: Path) -> None:
    from diem_run import diem
    from local_api import free_port

    helped = diem("--help", env={}, cwd=tmp_path)
    assert helped.returncode == 0
    for name in ("campaigns", "grants", "stats", "settlement", "events", "Exit codes"):
        assert name in helped.stdout
    assert diem("--version", env={}, cwd=tmp_path).stdout.strip().startswith("diem ")
    (tmp_path / "f.csv").write_text("0961234567\n")
    for args in (
        (),
        ("no-such-command",),
        ("campaigns", "list", "--status", "bogus"),
        ("grants", "c_1", "f.csv", "--chunk-size", "1001"),
        ("grants", "c_1", "missing.csv"),
        ("settlement", "--from", "2026-12-01", "--out", "x.csv"),
    ):
        assert diem(*args, env={"DIEM_TOKEN": "t"}, cwd=tmp_path).returncode == 2, args
    for args in (("campaigns", "list"), ("grants", "c_1", "f.csv")):
        no_token = diem(*args, env={}, cwd=tmp_path)
        assert no_token.returncode == 2 and "DIEM_TOKEN" in no_token.stderr
    assert diem("grants", "c_1", "f.csv", "--dry-run", env={}, cwd=tmp_path).returncode == 0  # sends nothing
    bad_url = diem("campaigns", "list", env={"DIEM_URL": "ftp://x", "DIEM_TOKEN": "t"}, cwd=tmp_path)
    assert bad_url.returncode == 2 and "DIEM_URL" in bad_url.stderr
    nobody = f"http://127.0.0.1:{free_port()}"
    unreachable = diem("stats", "c_1", "--json", env={"DIEM_URL": nobody, "DIEM_TOKEN": "t"}, cwd=tmp_path)
    assert unreachable.returncode == 1 and "no answer from" in json.loads(unreachable.stderr)["error"]["message"]
