"""The `diem` commands (Typer): campaigns, grants, stats, settlement, events.

Exit codes scripts can trust: 0 done; 1 refused (the API said no, with its error
code and message, or could not be reached); 2 bad usage (arguments, files or
configuration); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from diem_cli import __version__, config, grants, output
from diem_cli.client import ApiError, Client, Unreachable, segment

OK, REFUSED, BAD_USAGE, INTERRUPTED = 0, 1, 2, 130
PAGE = 200  # the API's largest page
# a chunk the API is still working on (IDEMPOTENCY_IN_PROGRESS), or a busy API (429, 503): asked again
CHUNK_RETRY_SECONDS = 600.0
TRANSPORT_RETRIES = 3
BIG_FILE_BYTES = 1_000_000  # reading a larger file shows a progress bar

app = typer.Typer(
    name="diem",
    help=(
        "The diem loyalty API from the command line: campaigns, grants of free vouchers, stats, "
        "a partner's settlement and the events feed.\n\n"
        "Configuration (environment): DIEM_URL (default http://127.0.0.1:8000, what `make run` serves), "
        "DIEM_TOKEN (a marketer's token; an operator's for events), DIEM_API_KEY (a partner's key: "
        "settlement, events), DIEM_TIMEOUT (seconds, default 120).\n\n"
        "Exit codes: 0 done, 1 refused by the API (its error code and message are printed) or not reached, "
        "2 bad usage (arguments, files, configuration), 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a traceback must never print the locals (tokens)
)
campaigns_app = typer.Typer(help="List, show, create, launch, pause and end campaigns (a marketer's DIEM_TOKEN).")
events_app = typer.Typer(help="The events feed (an operator's DIEM_TOKEN, or a partner's DIEM_API_KEY).")
app.add_typer(campaigns_app, name="campaigns", no_args_is_help=True)
app.add_typer(events_app, name="events", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (for scripts) instead of tables.")]
CampaignId = Annotated[
    str, typer.Argument(metavar="CAMPAIGN_ID", help="The campaign's id (c_...).", show_default=False)
]


class BadUsage(Exception):
    """Bad arguments or files (exit code 2)."""


class Status(StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    ended = "ended"


F = TypeVar("F", bound=Callable[..., Any])


def handled(command: F) -> F:
    """Every command's failures as the exit codes scripts rely on, the message on stderr."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            output.say("interrupted")
            raise typer.Exit(INTERRUPTED) from None
        except Exception as exc:
            code = _report(exc, bool(kwargs.get("as_json")))
            if code is None:
                raise
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def _report(exc: BaseException, as_json: bool) -> int | None:
    """Say why a command did not succeed (JSON with --json); its exit code (None: not ours, a bug)."""
    shape: dict[str, Any]
    if isinstance(exc, ApiError):
        code, shape, text = REFUSED, exc.shape(), f"refused: {exc.code} (HTTP {exc.status}): {exc.message}"
    elif isinstance(exc, Unreachable | grants.Refused):
        code, shape, text = REFUSED, {"error": {"code": "NOT_DONE", "message": str(exc)}}, f"refused: {exc}"
    elif isinstance(exc, BadUsage | grants.BadFile | config.ConfigError):
        code, shape, text = BAD_USAGE, {"error": {"code": "BAD_USAGE", "message": str(exc)}}, f"error: {exc}"
    else:
        return None
    if as_json:
        sys.stderr.write(json.dumps(shape, ensure_ascii=False) + "\n")
    else:
        output.say(text)
    return code


def _client(needs: str) -> Client:
    """A client with the credential this command needs: "token", "api_key" or "either"."""
    settings = config.load()
    if needs == "token" or (needs == "either" and not settings.api_key):
        if not settings.token:
            wanted = "DIEM_TOKEN (an operator's token) or DIEM_API_KEY" if needs == "either" else "DIEM_TOKEN"
            raise config.ConfigError(f"set {wanted}: `make token ROLE=marketer SUB=you` mints one locally")
        return Client(settings, {"Authorization": f"Bearer {settings.token}"})
    if not settings.api_key:
        raise config.ConfigError("set DIEM_API_KEY to the partner's API key")
    return Client(settings, {"X-Api-Key": settings.api_key})


def _version(value: bool) -> None:
    if value:
        output.out.print(f"diem {__version__}", markup=False)
        raise typer.Exit(OK)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """The diem loyalty API from the command line."""


# --- campaigns -----------------------------------------------------------------


def _window(campaign: dict[str, Any]) -> str:
    return f"{campaign.get('starts_at', '')} -> {campaign.get('ends_at', '')}"


def _value(voucher: dict[str, Any]) -> str:
    if voucher.get("value_vnd") is not None:
        return f"{voucher['value_vnd']:,} VND"
    if voucher.get("percent_off") is not None:
        return f"{voucher['percent_off']}% off"
    return ""


def _pages(api: Client, path: str, query: dict[str, Any], limit: int | None) -> Iterator[dict[str, Any]]:
    """The items of a list, page after page, `limit` at most (None: all)."""
    cursor: str | None = None
    taken = 0
    while True:
        size = PAGE if limit is None else min(PAGE, limit - taken)
        page = api.call("GET", path, query={**query, "limit": size, "cursor": cursor})
        for item in page["items"]:
            yield item
            taken += 1
        cursor = page.get("next_cursor")
        if not cursor or (limit is not None and taken >= limit):
            return


@campaigns_app.command("list")
@handled
def campaigns_list(
    status: Annotated[Status | None, typer.Option(help="Only campaigns in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many campaigns (newest first).")] = 50,
    every: Annotated[bool, typer.Option("--all", help="Every campaign, page after page (overrides --limit).")] = False,
    as_json: Json = False,
) -> None:
    """Campaigns, newest first, as a table (or a JSON array)."""
    api = _client("token")
    query = {"status": status.value if status else None}
    found = list(_pages(api, "/v1/campaigns", query, None if every else limit))
    if as_json:
        output.emit_json(found)
        return
    output.table(
        f"{len(found)} campaign(s)" + (f" {status.value}" if status else ""),
        ("id", "name", "status", "price", "inventory", "ends"),
        (
            (c["campaign_id"], c["name"], c["status"], c["points_price"], c["inventory"], (c.get("ends_at") or "")[:10])
            for c in found
        ),
        no_wrap=("id",),
    )


def _show(campaign: dict[str, Any]) -> None:
    voucher = campaign.get("voucher") or {}
    output.fields(
        f"Campaign {campaign['campaign_id']}",
        {
            "name": campaign["name"],
            "status": campaign["status"],
            "partner": campaign["partner_id"],
            "voucher": f"{voucher.get('title', '')} ({_value(voucher)})".strip(),
            "points price": campaign["points_price"],
            "inventory": campaign["inventory"],
            "per subscriber": campaign["per_subscriber_limit"],
            "window": _window(campaign),
            "voucher valid days": campaign["voucher_valid_days"],
            "eligibility": json.dumps(campaign.get("eligibility") or {}, ensure_ascii=False),
            "shards": campaign.get("shard_count"),
            "created": campaign.get("created_at"),
        },
    )
    if campaign.get("stats"):
        _stats_table(campaign["stats"])


def _stats_table(stats: dict[str, Any]) -> None:
    rate = stats.get("redemption_rate")
    output.table(
        "Stats",
        ("issued", "redeemed", "reversed", "remaining", "redemption rate"),
        [
            (
                stats["issued"],
                stats["redeemed"],
                stats["reversed"],
                stats["remaining"],
                f"{rate:.1%}" if isinstance(rate, int | float) else "",
            )
        ],
    )


@campaigns_app.command("show")
@handled
def campaigns_show(campaign_id: CampaignId, as_json: Json = False) -> None:
    """One campaign with its stats."""
    campaign = _client("token").call("GET", f"/v1/campaigns/{segment(campaign_id)}")
    output.emit_json(campaign) if as_json else _show(campaign)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise BadUsage(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadUsage(f"{path} is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadUsage(f"{path} must hold one JSON object (the campaign's fields)")
    return body


@campaigns_app.command("create")
@handled
def campaigns_create(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="A JSON file with the campaign's fields (see the API's POST /v1/campaigns), or - for stdin.",
            show_default=False,
        ),
    ],
    as_json: Json = False,
) -> None:
    """Create a draft campaign from a JSON file.

    The Idempotency-Key is derived from the fields: the same file sent again
    within 24 hours gives back the same campaign instead of a second one."""
    body = _read_json(file)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = "diem-create:" + hashlib.sha256(canonical.encode()).hexdigest()
    campaign = _client("token").call("POST", "/v1/campaigns", body=body, idempotency_key=key)
    if as_json:
        output.emit_json(campaign)
        return
    _show(campaign)
    campaign_id = campaign["campaign_id"]
    output.say(f"created {campaign_id} ({campaign['status']}): diem campaigns launch {campaign_id}")


def _transition(campaign_id: str, action: str, as_json: bool) -> None:
    key = f"diem-{action}:{secrets.token_hex(12)}"  # this invocation's: a retry of it is answered once
    campaign = _client("token").call("POST", f"/v1/campaigns/{segment(campaign_id)}/{action}", idempotency_key=key)
    if as_json:
        output.emit_json(campaign)
    else:
        output.say(f"{campaign['campaign_id']} is now {campaign['status']}")


def _transition_command(action: str, summary: str) -> None:
    @campaigns_app.command(action, help=summary)
    @handled
    def transition(campaign_id: CampaignId, as_json: Json = False) -> None:
        _transition(campaign_id, action, as_json)


for _action, _summary in (
    ("launch", "Launch a draft campaign (or resume a paused one)."),
    ("pause", "Pause an active campaign."),
    ("end", "End an active or paused campaign (for good)."),
):
    _transition_command(_action, _summary)


@app.command("stats")
@handled
def stats(campaign_id: CampaignId, as_json: Json = False) -> None:
    """A campaign's issued, redeemed, reversed and remaining vouchers, and the same per local day."""
    api = _client("token")
    campaign = api.call("GET", f"/v1/campaigns/{segment(campaign_id)}")
    days = api.call("GET", f"/v1/campaigns/{segment(campaign_id)}/daily")["items"]
    if as_json:
        output.emit_json(
            {
                "campaign_id": campaign["campaign_id"],
                "status": campaign["status"],
                "stats": campaign.get("stats"),
                "daily": days,
            }
        )
        return
    output.say(f"{campaign['campaign_id']} {campaign['name']} ({campaign['status']})")
    _stats_table(campaign.get("stats") or {"issued": 0, "redeemed": 0, "reversed": 0, "remaining": 0})
    if days:
        rows = [(d["day"], d["issued"], d["redeemed"], d["reversed"]) for d in days]
        output.table("Per day (local)", ("day", "issued", "redeemed", "reversed"), rows)


# --- grants ----------------------------------------------------------------------


def _sender(api: Client, campaign_id: str, say: Callable[[str], None]) -> grants.Send:
    """One chunk to the API with its key, asked again (same key: answered once) while the API
    is still working on it or busy, or the answer was lost."""
    path = f"/v1/campaigns/{segment(campaign_id)}/grants"

    def send(index: int, key: str, msisdns: list[str]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + CHUNK_RETRY_SECONDS
        lost = 0
        while True:
            try:
                answer = api.call("POST", path, body={"msisdns": msisdns}, idempotency_key=key)
                return list(answer["results"])
            except ApiError as exc:
                busy = exc.code == "IDEMPOTENCY_IN_PROGRESS" or exc.status in (429, 503)
                if not busy or time.monotonic() > deadline:
                    raise
                wait = min(max(exc.retry_after or 2.0, 1.0), 30.0)
                say(f"chunk {index + 1}: {exc.code}, asking again in {wait:.0f} s")
            except Unreachable as exc:
                lost += 1
                if lost > TRANSPORT_RETRIES:
                    raise
                wait = 2.0**lost
                say(f"chunk {index + 1}: {exc}; asking again in {wait:.0f} s")
            time.sleep(wait)

    return send


def _bad_rows(scanned: grants.Scan, shown: int = 100) -> None:
    for row in scanned.bad_rows[:shown]:
        output.say(f"line {row.line}: {row.value!r}: {row.problem}")
    if scanned.bad > shown:
        output.say(f"... and {scanned.bad - shown} more unreadable rows")


@app.command("grants")
@handled
def grant(
    campaign_id: CampaignId,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="A CSV of phone numbers: one a row, or the column headed msisdn/phone.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and check the file, report unreadable rows, send nothing.")
    ] = False,
    chunk_size: Annotated[
        int, typer.Option(min=1, max=grants.MAX_CHUNK, help="Numbers per request (the API takes 1,000 at most).")
    ] = grants.MAX_CHUNK,
    force: Annotated[
        bool,
        typer.Option("--force", help="Grant even where the state file says it could issue twice (see Resuming above)."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Free vouchers of CAMPAIGN_ID for every phone number in FILE (any size).

    Numbers are normalised as the API does (0961234567, +84 96 123 4567 -> 84961234567) and
    de-duplicated; rows that cannot be read are reported with their line numbers. The unique
    numbers go in chunks of at most 1,000, each with an Idempotency-Key derived from the campaign,
    the file's content and the chunk's index. A results CSV is written beside the file
    (customers.csv: customers.CAMPAIGN_ID.results.csv), a row per input row: line, input, msisdn,
    outcome (issued, refused, unreadable or duplicate), code (the voucher's), error.

    Resuming: run the same command again. Every chunk is sent again with the same key and the
    API replays the ones it has answered (the same vouchers: nothing is issued twice), so the
    run writes the whole results CSV. The API keeps keys 24 hours: a state file beside the file
    (customers.CAMPAIGN_ID.state.json) records when each chunk was first sent, and a run that could
    issue twice (past that window, or another file under a granted file's name) is refused
    unless --force.

    Exit codes: 0 every chunk answered (rows the API refused are in the results: SOLD_OUT,
    LIMIT_REACHED, NOT_FOUND...), 1 a chunk was refused or not answered (run again to resume),
    2 bad usage or a file with no number to grant."""
    if not file.is_file():
        raise BadUsage(f"{file} is not a file")
    api = None if dry_run else _client("token")  # no credentials: said before the file is read
    show = not as_json
    size = file.stat().st_size
    with output.progress(enabled=show and size > BIG_FILE_BYTES) as bar:
        task = bar.add_task(f"reading {file.name}", total=max(size, 1))
        scanned = grants.scan(file, lambda done: bar.update(task, completed=done))
    if show:
        _bad_rows(scanned)
    if dry_run or not scanned.unique:
        summary = {**scanned.summary(), "chunks": scanned.chunks(chunk_size), "dry_run": dry_run}
        if as_json:
            output.emit_json(summary)
        else:
            output.fields(f"{file.name} (dry run)" if dry_run else file.name, _scan_fields(scanned, chunk_size))
        if not scanned.unique:
            raise BadUsage(f"{file} has no phone number to grant")
        return
    assert api is not None
    chunks = scanned.chunks(chunk_size)
    state = grants.StateFile(
        grants.beside(file, campaign_id, "state.json"), campaign_id, scanned.sha256, chunk_size, chunks
    )
    earlier = state.check(force, grants.now())
    if earlier and show:
        output.say(
            f"resuming: {earlier} of {chunks} chunk(s) were answered before; every chunk is sent again with "
            "the same key and the API replays what it has done (nothing is issued twice)"
        )
    results = grants.beside(file, campaign_id, "results.csv")
    try:
        with output.progress(enabled=show) as bar:
            task = bar.add_task(f"granting {campaign_id}", total=scanned.unique)
            outcome = grants.grant_file(
                scanned,
                campaign_id,
                _sender(api, campaign_id, bar.console.print if show else lambda _: None),
                chunk_size=chunk_size,
                state=state,
                results=results,
                on_chunk=lambda _, numbers: bar.advance(task, numbers),
            )
    except KeyboardInterrupt:
        output.say(f"interrupted after {_answered(state, chunks)}: run the same command again to resume")
        raise typer.Exit(INTERRUPTED) from None
    except (ApiError, Unreachable) as exc:
        _report(exc, as_json)
        output.say(f"stopped after {_answered(state, chunks)}: the same command resumes once the cause is dealt with")
        raise typer.Exit(REFUSED) from None
    if as_json:
        output.emit_json({**scanned.summary(), **outcome.summary(), "dry_run": False})
        return
    output.fields(
        f"{file.name} -> {campaign_id}",
        {
            **_scan_fields(scanned, chunk_size),
            "issued": outcome.issued,
            **{f"refused {code}": n for code, n in sorted(outcome.refused.items())},
            "results": str(outcome.results),
        },
    )


def _answered(state: grants.StateFile, chunks: int) -> str:
    return f"{len(state.data['done'])} of {chunks} chunk(s)"


def _scan_fields(scanned: grants.Scan, chunk_size: int) -> dict[str, Any]:
    return {
        "rows": scanned.rows,
        "unique numbers": scanned.unique,
        "duplicates": scanned.duplicates,
        "unreadable rows": scanned.bad,
        "chunks": scanned.chunks(chunk_size),
    }


# --- settlement --------------------------------------------------------------------

SETTLEMENT_COLUMNS = ("redemption_id", "code", "order_ref", "store_id", "redeemed_at", "reversed_at")


def _period(value: str, name: str) -> str:
    """YYYY-MM-DD (a local day) or an ISO 8601 timestamp, as the API takes them."""
    try:
        date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadUsage(f"{name} must be YYYY-MM-DD or an ISO 8601 timestamp, not {value!r}") from None
    return value


@app.command("settlement")
@handled
def settlement(
    since: Annotated[
        str, typer.Option("--from", help="First day (YYYY-MM-DD, local) or timestamp.", show_default=False)
    ],
    until: Annotated[
        str, typer.Option("--to", help="Last day (YYYY-MM-DD, through that day) or timestamp.", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", help="The CSV to write (replaced).", show_default=False)],
    as_json: Json = False,
) -> None:
    """A partner's redemptions over a period as a CSV, for settlement (DIEM_API_KEY).

    Columns: redemption_id, code, order_ref, store_id, redeemed_at, reversed_at (empty unless
    reversed). The file is written whole or not at all."""
    query = {"from": _period(since, "--from"), "to": _period(until, "--to")}
    api = _client("api_key")
    part = out.with_name(out.name + ".part")
    count = reversed_count = 0
    try:
        handle = part.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise BadUsage(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with handle, output.progress(total=False, enabled=not as_json) as bar:
            task = bar.add_task("redemptions")
            writer = csv.writer(handle)
            writer.writerow(SETTLEMENT_COLUMNS)
            for item in _pages(api, "/v1/redemptions", query, None):
                writer.writerow([item.get(column) or "" for column in SETTLEMENT_COLUMNS])
                count += 1
                reversed_count += bool(item.get("reversed_at"))
                bar.advance(task)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    summary = {"file": str(out), "from": since, "to": until, "redemptions": count, "reversed": reversed_count}
    if as_json:
        output.emit_json(summary)
    else:
        output.say(f"{count} redemption(s), {reversed_count} reversed, written to {out}")


# --- events ---------------------------------------------------------------------


def _event_line(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    details = " ".join(f"{k}={v}" for k, v in sorted(data.items()) if v is not None)
    return f"{event.get('timestamp', '')}  {event.get('type', ''):<20} {event.get('id', '')}  {details}".rstrip()


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C held back until the block is done (where signals can be blocked)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@events_app.command("tail")
@handled
def events_tail(
    after: Annotated[str | None, typer.Option(help="Start after this cursor (a next_cursor printed earlier).")] = None,
    types: Annotated[
        str | None, typer.Option(help="Only these event types, comma-separated (voucher.redeemed,campaign.ended).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Keep waiting for new events, or stop at the end of the feed.")
    ] = True,
    interval: Annotated[float, typer.Option(min=0.1, max=300.0, help="Seconds between polls when caught up.")] = 2.0,
    cursor_file: Annotated[
        Path | None,
        typer.Option(help="Read the start cursor from this file (if it exists) and keep the cursor in it."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Print the caller's events in commit order, then follow new ones (Ctrl-C stops).

    Without --after (or a cursor file) the feed starts at its oldest event (kept 30 days).
    The cursor to resume from is printed on stderr when it stops; --json prints one event a line."""
    api = _client("either")
    cursor = after
    if cursor is None and cursor_file is not None and cursor_file.is_file():
        cursor = cursor_file.read_text().strip() or None
    try:
        while True:
            page = api.call("GET", "/v1/events", query={"after": cursor, "types": types, "limit": PAGE})
            with _uninterrupted():  # what was printed and the cursor agree, Ctrl-C or not
                for event in page["items"]:
                    output.emit_json(event) if as_json else output.out.print(
                        _event_line(event), markup=False, soft_wrap=True
                    )
                cursor = page.get("next_cursor") or cursor
                if cursor_file is not None and cursor:
                    cursor_file.write_text(cursor + "\n")
            if len(page["items"]) < PAGE:
                if not follow:
                    break
                time.sleep(interval)
    finally:
        if cursor:
            output.say(f"next cursor: {cursor}")


def run() -> None:
    """The `diem` console script."""
    app(prog_name="diem")
