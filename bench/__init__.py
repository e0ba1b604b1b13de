"""diem's benchmarks, run by `make bench` (`python -m bench`).

- `bench.ops`: DynamoDB calls, write units and in-process latency of each
  operation next to a raw boto3 script making the minimal calls (TARGETS.md).
- `bench.ledger`: one page of a 5,000-entry ledger (round trips, read units, p50).
- `bench.ussd`: a whole USSD session, screen by screen (round trips, units, p50).
- `bench.flash_sale`: many threads claiming one campaign on the atomic embedded
  engine, 1 inventory shard against N, with oversell and balance checks.
- `bench.units`: read and write units computed from item sizes (the one source).

This module holds what both share: the environment, the Chalice test client
wrapper, the DynamoDB call recorder and the statistics. Heavy modules are
imported inside functions so `import bench` stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
REGION = "ap-southeast-1"
BENCH_JWT_SECRET = "bench-secret-0123456789abcdef0123456789"  # noqa: S105 (local only)

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def configure_environment() -> None:
    """Process-wide settings for a local run (nothing here reaches AWS)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("DIEM_JWT_SECRET", BENCH_JWT_SECRET)
    # EMF metric lines on stdout would drown the report; the flush still runs
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.pop("DIEM_JWT_JWKS_URL", None)
    import warnings

    warnings.filterwarnings("ignore", message="No application metrics to publish")


def new_prefix(kind: str) -> str:
    return f"bench-{kind}-{uuid.uuid4().hex[:6]}-"


def use_tables(endpoint: str, prefix: str) -> None:
    """Point diem at `prefix` on `endpoint` and create its tables there."""
    from chalicelib import config, store
    from chalicelib.auth.api_keys import forget_cached_keys
    from chalicelib.store import schema

    os.environ["DIEM_DYNAMODB_ENDPOINT"] = endpoint
    os.environ["DIEM_TABLE_PREFIX"] = prefix
    config.reset()
    forget_cached_keys()
    store.bind()
    schema.create_tables(store.binding.client(), prefix)


def peek(endpoint: str) -> Any:
    """A `bench.units.Peek` on its own client: the bench's reads for unit figures."""
    from bench.units import Peek

    return Peek(raw_client(endpoint))


def raw_client(endpoint: str) -> Any:
    """A plain boto3 DynamoDB client (default configuration) for `endpoint`."""
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 (the local engine)
    )


def table_name(prefix: str, base_name: str) -> str:
    return prefix + base_name


def now_iso(delta_seconds: float = 0) -> str:
    from datetime import timedelta

    moment = datetime.now(UTC) + timedelta(seconds=delta_seconds)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# -- HTTP through the Chalice test client ------------------------------------


def token(role: str, subject: str, ttl_seconds: int = 6 * 3600) -> str:
    from chalicelib.auth import mint_token

    return mint_token(role, subject, ttl_seconds=ttl_seconds, secret=os.environ["DIEM_JWT_SECRET"])


def bearer(role: str, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, subject)}"}


@dataclass
class Reply:
    status: int
    data: Any


class Http:
    """`app.app` through `chalice.test.Client`: the same path a request takes
    in Lambda (authorizer, middleware, routing), minus API Gateway."""

    def __init__(self) -> None:
        from chalice.test import Client

        import app as app_module

        self.app = app_module.app
        self._client = Client(self.app, project_dir=str(ROOT))
        self.http = self._client.http

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        payload = json.dumps(body).encode() if body is not None else b""
        response = self.http.request(method, path, headers=hdrs, body=payload)
        try:
            data = json.loads(response.body) if response.body else None
        except ValueError:
            data = response.body
        return Reply(response.status_code, data)

    def prepare(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Callable[[], dict[str, Any]]:
        """The request as Lambda gets it from API Gateway: the event built and the
        authorizer run (API Gateway caches its answer) now; the returned
        function only invokes the handler, `app(event, context)`."""
        gateway = self.http._local_gateway
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        payload = json.dumps(body).encode() if body is not None else b""
        context = gateway._generate_lambda_context()
        event = gateway._generate_lambda_event(method, path, hdrs, payload)
        event, context = gateway._authorizer.authorize(path, event, context)
        app = self.app
        return lambda: app(event, context)

    @contextlib.contextmanager
    def threadsafe(self) -> Iterator[None]:
        """Let several threads use the app at once, as separate Lambda
        environments would: Chalice keeps `current_request` and
        `lambda_context` on the app object, so give each thread its own."""
        app = self.app
        original_class = app.__class__
        original_environ = os.environ
        local = threading.local()

        def slot(name: str) -> property:
            def get(self: Any) -> Any:
                return getattr(local, name, None)

            def put(self: Any, value: Any) -> None:
                setattr(local, name, value)

            return property(get, put)

        patched = type(
            original_class.__name__,
            (original_class,),
            {"current_request": slot("current_request"), "lambda_context": slot("lambda_context")},
        )
        saved = {name: app.__dict__.pop(name, None) for name in ("current_request", "lambda_context")}
        app.__class__ = patched
        try:
            yield
        finally:
            app.__class__ = original_class
            app.__dict__.update(saved)
            # the test client swaps os.environ per request; threads interleave
            # those swaps, so put back the mapping we started with
            os.environ = original_environ  # noqa: B003 (restoring the very object)


# -- counting DynamoDB calls -------------------------------------------------


@dataclass
class DynamoCall:
    operation: str
    items: int = 0
    write_units: float = 0.0
    read_units: float = 0.0
    error: str | None = None
    reasons: tuple[str, ...] = ()
    # HTTP requests the call took: 1 + botocore's retries (RetryAttempts)
    round_trips: int = 1
    # units spent on secondary indexes, "<table base name>/<index>" -> units (included above)
    index_units: dict[str, float] = field(default_factory=dict)
    writes: list[Any] = field(default_factory=list, repr=False)

    def label(self) -> str:
        return f"{self.operation}[{self.items}]" if self.items else self.operation


class CallRecorder:
    """Records every DynamoDB API call made through `clients` (botocore events).

    Round trips: each call, plus the retries botocore made inside it
    (`ResponseMetadata.RetryAttempts`). Units: with a `peek` (`bench.units.Peek`,
    a client no recorder watches) they are computed from item sizes by
    `bench.units`, the one source of unit figures (the engine's own
    `ConsumedCapacity` is never asked for): the items a write touches are read
    before and after it, a read's units come from the items it returned.
    Without a peek (the flash sale, where extra reads would disturb what is
    measured) calls are only counted.
    """

    def __init__(self, clients: list[Any], peek: Any = None) -> None:
        self.clients = list({id(c): c for c in clients}.values())
        self.peek = peek
        self.calls: list[DynamoCall] = []
        self._uid = f"bench-recorder-{uuid.uuid4().hex}"
        self._lock = threading.Lock()

    def __enter__(self) -> CallRecorder:
        for client in self.clients:
            events = client.meta.events
            events.register("provide-client-params.dynamodb.*", self._params, unique_id=self._uid + "-p")
            events.register("after-call.dynamodb.*", self._after, unique_id=self._uid + "-a")
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            events = client.meta.events
            events.unregister("provide-client-params.dynamodb.*", unique_id=self._uid + "-p")
            events.unregister("after-call.dynamodb.*", unique_id=self._uid + "-a")

    def _params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        from bench import units

        call = DynamoCall(model.name)
        if model.name in ("TransactWriteItems", "TransactGetItems"):
            call.items = len(params.get("TransactItems") or [])
        elif model.name == "BatchGetItem":
            call.items = sum(len(t.get("Keys") or []) for t in (params.get("RequestItems") or {}).values())
        elif model.name == "BatchWriteItem":
            call.items = sum(len(t) for t in (params.get("RequestItems") or {}).values())
        if self.peek is not None and model.name in WRITE_OPERATIONS:
            call.writes = units.writes_of(model.name, params, self.peek)
        context["bench_call"] = call
        context["bench_params"] = params
        with self._lock:
            self.calls.append(call)

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        from bench import units

        call = context.get("bench_call")
        if call is None:
            return
        call.round_trips = 1 + int((parsed.get("ResponseMetadata") or {}).get("RetryAttempts") or 0)
        error = parsed.get("Error") or {}
        if error.get("Code"):
            call.error = error["Code"]
            reasons = parsed.get("CancellationReasons") or []
            call.reasons = tuple(r.get("Code", "None") for r in reasons)
        if self.peek is None:
            return
        if call.operation in WRITE_OPERATIONS:
            total, indexes = units.settle_writes(call.writes, self.peek, failed=bool(call.error))
            call.write_units = total
            call.index_units = {f"{_base_name(k.split('/')[0])}/{k.split('/')[1]}": v for k, v in indexes.items()}
        elif not call.error:
            call.read_units = units.read_units_of(call.operation, context.get("bench_params") or {}, parsed)

    def take(self) -> list[DynamoCall]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


def _base_name(table: str) -> str:
    """`bench-ops-1a2b3c-ledger` -> `ledger`."""
    return table.split("-", 3)[-1] if table.startswith("bench-") else table


def summarise_calls(calls: list[DynamoCall]) -> dict[str, Any]:
    by_operation = Counter(c.operation for c in calls)
    conflicts = sum(1 for c in calls if "TransactionConflict" in c.reasons)
    condition_failures = sum(1 for c in calls if "ConditionalCheckFailed" in c.reasons)
    return {
        "calls": len(calls),
        "round_trips": sum(c.round_trips for c in calls),
        "by_operation": dict(by_operation),
        "write_units": round(sum(c.write_units for c in calls), 1),
        "read_units": round(sum(c.read_units for c in calls), 1),
        "transactions_cancelled": sum(1 for c in calls if c.error == "TransactionCanceledException"),
        "cancelled_by_conflict": conflicts,
        "cancelled_by_condition": condition_failures,
        "errors": dict(Counter(c.error for c in calls if c.error)),
    }


# -- statistics --------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Timing:
    samples_ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else math.nan

    @property
    def p90(self) -> float:
        return percentile(self.samples_ms, 90)

    def as_dict(self) -> dict[str, Any]:
        return {"n": len(self.samples_ms), "median_ms": round(self.median, 3), "p90_ms": round(self.p90, 3)}


def fmt_ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def render_table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def safely(what: str, fn: Callable[[], Any]) -> tuple[Any, str | None]:
    """Run `fn`; on failure return (None, message) instead of aborting the bench."""
    try:
        return fn(), None
    except Exception as exc:
        import traceback

        traceback.print_exc()
        return None, f"{what} failed: {type(exc).__name__}: {exc}"
