"""`diem grants CAMPAIGN FILE.csv`: free vouchers for every phone number of a file of any size.

Two passes over the file, streamed (a row at a time; what is kept is one set of
the unique numbers as integers, about 64 MB a million, and the rows of the
chunk being sent):

1. `scan`: every row read, normalised as the API does, de-duplicated; rows that
   cannot be read are reported with their line numbers; the file's SHA-256.
   `--dry-run` stops here.
2. `grant_file`: the unique numbers in chunks of at most 1,000, each sent with an
   `Idempotency-Key` derived from the campaign, the file's content, the chunk
   size and the chunk's index; a results CSV beside the file, a row per input row.

Resuming relies on the API's idempotent replays: an interrupted run (or a
second run) sends every chunk again with the same key; a chunk the API has
already answered is replayed (its stored answer: the same vouchers, nothing
issued twice), so a resumed run writes the whole results CSV. The API keeps a
key at least 24 hours: a state file beside the file records when each chunk was
first sent, and a run that would send a chunk again after that window (or a
different file under a previous run's name) is refused unless `--force`.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from diem_cli import msisdn

MAX_CHUNK = 1000  # the API's limit for one grant (POST /v1/campaigns/{id}/grants)
# the API keeps an Idempotency-Key at least 24 h; an hour's margin for clocks and long runs
REPLAY_WINDOW = timedelta(hours=23)
SHOWN_BAD_ROWS = 1000
HEADER_NAMES = frozenset({"msisdn", "phone", "phone_number", "phone number", "mobile", "sdt", "sđt", "số điện thoại"})
RESULT_COLUMNS = ("line", "input", "msisdn", "outcome", "code", "error")
STATE_VERSION = 1

Send = Callable[[int, str, list[str]], list[dict[str, Any]]]


class BadFile(ValueError):
    """The file cannot be granted from (bad usage: exit code 2)."""


class Refused(Exception):
    """This run must not go on (exit code 1): the message says why and what to do."""


@dataclass(frozen=True)
class Row:
    line: int
    value: str  # the cell as read (or the line, when it cannot be split)
    msisdn: str | None  # normalised; None when the row cannot be read
    problem: str | None = None


def read_rows(handle: IO[bytes], digest: Any = None) -> Iterator[Row]:
    """The data rows of a CSV of phone numbers (the header row, if any, and blank lines skipped).

    The number is the column named like `msisdn` / `phone` in a header row, else
    the first column. Each physical line is one row: a line that is not UTF-8
    or not CSV is a row that cannot be read, and the rest of the file still is."""
    column: int | None = None
    for line, raw in enumerate(handle, start=1):
        if digest is not None:
            digest.update(raw)
        if line == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield Row(line, raw.decode("utf-8", "replace").rstrip("\r\n"), None, "not UTF-8 text")
            continue
        if not text.strip():
            continue
        try:
            cells = next(csv.reader([text]))
        except csv.Error as exc:
            yield Row(line, text, None, f"not CSV ({exc})")
            continue
        if column is None:
            names = [c.strip().lower() for c in cells]
            found = next((i for i, name in enumerate(names) if name in HEADER_NAMES), None)
            column = 0 if found is None else found
            if found is not None:
                continue  # the header row
        if column >= len(cells):
            yield Row(line, text, None, f"no column {column + 1}")
            continue
        value = cells[column]
        normalised = msisdn.normalise(value)
        if normalised is None:
            yield Row(line, value, None, "not a Vietnamese phone number")
        else:
            yield Row(line, value, normalised)


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise BadFile(f"cannot read {path}: {exc.strerror or exc}") from None


@dataclass
class Scan:
    """What the first pass found."""

    path: Path
    sha256: str = ""
    rows: int = 0
    unique: int = 0
    duplicates: int = 0
    bad: int = 0
    bad_rows: list[Row] = field(default_factory=list)  # the first SHOWN_BAD_ROWS

    def chunks(self, size: int) -> int:
        return math.ceil(self.unique / size)

    def summary(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "rows": self.rows,
            "unique": self.unique,
            "duplicates": self.duplicates,
            "unreadable": self.bad,
            "unreadable_rows": [{"line": r.line, "value": r.value, "problem": r.problem} for r in self.bad_rows],
        }


def scan(path: Path, progress: Callable[[int], None] | None = None) -> Scan:
    """Read the whole file once: counts, unreadable rows, the content's digest.
    `progress(bytes_read)` is called now and then."""
    found, seen, digest = Scan(path), set[int](), hashlib.sha256()
    with _open(path) as handle:
        for row in read_rows(handle, digest):
            found.rows += 1
            if row.msisdn is None:
                found.bad += 1
                if len(found.bad_rows) < SHOWN_BAD_ROWS:
                    found.bad_rows.append(row)
            elif (number := int(row.msisdn)) in seen:
                found.duplicates += 1
            else:
                seen.add(number)
                found.unique += 1
            if progress is not None and found.rows % 5000 == 0:
                progress(handle.tell())
        if progress is not None:
            progress(handle.tell())
    found.sha256 = digest.hexdigest()
    return found


def idempotency_key(campaign_id: str, sha256: str, chunk_size: int, index: int) -> str:
    """The same campaign, file content, chunk size and index: the same key (at most 255 characters)."""
    grant = hashlib.sha256(f"{campaign_id}\x1f{sha256}\x1f{chunk_size}".encode()).hexdigest()
    return f"diem-grants:{grant}:{index}"


def beside(path: Path, campaign_id: str, suffix: str) -> Path:
    """`customers.csv` -> `customers.<campaign>.<suffix>` in the same folder."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in campaign_id)
    return path.with_name(f"{path.stem}.{safe}.{suffix}")


def now() -> datetime:
    return datetime.now(UTC)


class StateFile:
    """When each chunk of this file's grant was first sent (JSON beside the file)."""

    def __init__(self, path: Path, campaign_id: str, sha256: str, chunk_size: int, chunks: int) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "version": STATE_VERSION,
            "campaign_id": campaign_id,
            "file_sha256": sha256,
            "chunk_size": chunk_size,
            "chunks": chunks,
            "sent": {},
            "done": [],
            "finished_at": None,
        }

    def previous(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise Refused(f"the state file {self.path} cannot be read ({exc}); move it away to start afresh") from None
        return data if isinstance(data, dict) else None

    def check(self, force: bool, now: datetime) -> int:
        """Take over the previous run's record of this grant; refuse where a replay is not certain.
        The number of chunks the API answered to earlier runs (replayed this time)."""
        old = self.previous()
        if old is None or not old.get("sent"):
            return 0
        same = all(old.get(k) == self.data[k] for k in ("campaign_id", "file_sha256", "chunk_size"))
        if not same:
            if not force:
                raise Refused(
                    f"{self.path} records an earlier grant of a different file under this name to this campaign: "
                    "its numbers would be granted again (up to the campaign's per-subscriber limit). "
                    "Run again with --force to grant this file anyway."
                )
            return 0
        first = min(datetime.fromisoformat(t) for t in old["sent"].values())
        if now - first > REPLAY_WINDOW and not force:
            raise Refused(
                f"this file was first sent at {first.isoformat()}: the API keeps a chunk's Idempotency-Key 24 hours, "
                "so a chunk sent again now could issue a second voucher. The earlier results are beside the file; "
                "run again with --force to grant it anew."
            )
        if now - first > REPLAY_WINDOW:
            return 0  # --force: a new grant
        self.data["sent"] = dict(old["sent"])
        self.data["done"] = list(old.get("done") or [])
        return len(self.data["done"])

    def sent(self, index: int) -> None:
        self.data["sent"].setdefault(str(index), now().isoformat())
        self.save()

    def done(self, index: int) -> None:
        if index not in self.data["done"]:
            self.data["done"].append(index)
        self.save()

    def finished(self) -> None:
        self.data["finished_at"] = now().isoformat()
        self.save()

    def save(self) -> None:
        part = self.path.with_name(self.path.name + ".part")
        part.write_text(json.dumps(self.data, indent=1, sort_keys=True) + "\n")
        os.replace(part, self.path)


@dataclass
class Outcome:
    """What a grant run did, row by row, summed up."""

    results: Path
    state: Path
    chunks: int = 0
    issued: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0
    duplicates: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "results": str(self.results),
            "chunks": self.chunks,
            "issued": self.issued,
            "refused": dict(sorted(self.refused.items())),
            "unreadable": self.unreadable,
            "duplicates": self.duplicates,
        }


def grant_file(
    scanned: Scan,
    campaign_id: str,
    send: Send,
    *,
    chunk_size: int = MAX_CHUNK,
    state: StateFile,
    results: Path,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Send the file's unique numbers in chunks; write a result per row to `results`
    (through `<results>.part`, renamed when every chunk is answered).
    `send(index, idempotency_key, msisdns)` returns the API's results for the chunk;
    `on_chunk(index, numbers)` follows each answered chunk."""
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise BadFile(f"the chunk size must be 1 to {MAX_CHUNK}")
    outcome = Outcome(results, state.path)
    part = results.with_name(results.name + ".part")
    seen, digest = set[int](), hashlib.sha256()
    pending: list[Row] = []  # the rows since the last chunk was answered, in file order
    chunk: list[str] = []

    with _open(scanned.path) as handle, part.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(RESULT_COLUMNS)

        def flush() -> None:
            answered: dict[str, dict[str, Any]] = {}
            if chunk:
                index = outcome.chunks
                key = idempotency_key(campaign_id, scanned.sha256, chunk_size, index)
                state.sent(index)
                answer = send(index, key, list(chunk))
                if [r.get("msisdn") for r in answer] != chunk:
                    raise Refused(f"the API's answer to chunk {index + 1} does not list the numbers sent")
                answered = dict(zip(chunk, answer, strict=True))
            for row in pending:
                writer.writerow(_result_row(row, answered, outcome))
            out.flush()
            if chunk:
                state.done(outcome.chunks)
                outcome.chunks += 1
                if on_chunk is not None:
                    on_chunk(outcome.chunks - 1, len(chunk))
            pending.clear()
            chunk.clear()

        for row in read_rows(handle, digest):
            if row.msisdn is not None:
                number = int(row.msisdn)
                if number not in seen:
                    seen.add(number)
                    chunk.append(row.msisdn)
            pending.append(row)
            if len(chunk) == chunk_size:
                flush()
        flush()
    if digest.hexdigest() != scanned.sha256:
        raise Refused(f"{scanned.path} changed while it was being granted: check the results and run it again")
    os.replace(part, results)
    state.finished()
    return outcome


def _result_row(row: Row, answered: dict[str, dict[str, Any]], outcome: Outcome) -> list[str | int]:
    if row.msisdn is None:
        outcome.unreadable += 1
        return [row.line, row.value, "", "unreadable", "", row.problem or ""]
    result = answered.pop(row.msisdn, None)
    if result is None:  # this number was sent for an earlier row
        outcome.duplicates += 1
        return [row.line, row.value, row.msisdn, "duplicate", "", "the same number as an earlier row"]
    status = str(result.get("status"))
    if status == "issued":
        outcome.issued += 1
        return [row.line, row.value, row.msisdn, "issued", str(result.get("code") or ""), ""]
    outcome.refused[status] += 1
    return [row.line, row.value, row.msisdn, "refused", "", status]
