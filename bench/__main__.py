"""`python -m bench` (what `make bench` runs): every figure of TARGETS.md that
a benchmark measures, printed as tables and written to bench/results/latest.json.

    python -m bench                      # everything, about 70 s on 2 quiet cores
    python -m bench --iterations 100 --no-flash-sale
    python -m bench --endpoint http://127.0.0.1:8001   # reuse a running engine (make run's)
    python -m bench flash_emulated jobs  # only these parts (bench/scale.py), merged into latest.json
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import RESULTS_DIR, configure_environment, fmt_ms, render_table, safely


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from bench import flash_sale, ops

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=ops.ITERATIONS, help="timed requests per operation and side")
    parser.add_argument("--warmup", type=int, default=ops.WARMUP)
    parser.add_argument("--threads", type=int, default=flash_sale.THREADS, help="flash-sale claimers")
    parser.add_argument("--inventory", type=int, default=flash_sale.INVENTORY, help="flash-sale vouchers")
    parser.add_argument(
        "--shards-peak", type=int, default=flash_sale.SHARDED_PEAK, help="peak claims/s of the sharded run"
    )
    parser.add_argument("--no-ops", action="store_true", help="skip the per-operation benchmark")
    parser.add_argument("--no-ledger", action="store_true", help="skip the 5,000-entry ledger page")
    parser.add_argument("--no-flash-sale", action="store_true", help="skip the flash sale")
    parser.add_argument("--no-ussd", action="store_true", help="skip the USSD session")
    parser.add_argument("--no-package", action="store_true", help="skip package size and cold start")
    parser.add_argument("--endpoint", help="use this DynamoDB endpoint instead of spawning the embedded engine")
    parser.add_argument("--output", default=str(RESULTS_DIR / "latest.json"))
    # -- scale, by simulation (bench/scale.py) --
    from bench import scale

    parser.add_argument("parts", nargs="*", metavar="PART", help=f"run only these parts: {', '.join(scale.PARTS)}")
    parser.add_argument("--no-scale", action="store_true", help="skip the emulated flash sale and the jobs fan-out")
    return parser.parse_args(argv)


# -- other engineers' benchmarks -------------------------------------------------


def run_optional(module_name: str) -> tuple[Any, str]:
    """Run `bench.<module>`'s entry point if the module exists; return (result, printed text)."""
    full = f"bench.{module_name}"
    if importlib.util.find_spec(full) is None:
        return None, f"{full} is not there yet: skipped"
    module = importlib.import_module(full)
    entry = next((getattr(module, n) for n in ("main", "run") if callable(getattr(module, n, None))), None)
    if entry is None:
        return None, f"{full} has no main(): skipped"
    buffer = io.StringIO()
    saved_argv = sys.argv
    sys.argv = [full]  # an argparse inside main() must not see our options
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            takes_args = any(
                p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                for p in inspect.signature(entry).parameters.values()
            )
            result = entry([]) if takes_args else entry()
    except SystemExit as exc:
        result = {"exit_code": exc.code}
    finally:
        sys.argv = saved_argv
    return result, buffer.getvalue().rstrip()


# -- printing ----------------------------------------------------------------------


def _calls(side: dict[str, Any] | None) -> str:
    if not side or side.get("calls") is None:
        return "-"
    return " + ".join(side["calls"]) or "(none)"


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _wcu(side: dict[str, Any]) -> str:
    units = f"{side['write_units']:g}"
    index = sum(side.get("index_units", {}).values())
    return f"{units} ({index:g} idx)" if index else units


def _ratio(value: float, paired: float) -> str:
    return f"{value:.2f}x ({paired:.2f})"


def print_ops(result: dict[str, Any]) -> None:
    ops = result["operations"]
    print(
        "\nDynamoDB per request: round trips on diem's client (botocore events), units computed from item sizes "
        "(bench.units; idx = the index part, included)"
    )
    rows = []
    notes = []
    for op in ops:
        if op["status"] != "ok":
            rows.append([op["name"], op["status"], "", "", "", "", "", "", "", "", ""])
            notes.append(f"  {op['name']}: {op['note']}")
            continue
        for name, v in op["variants"].items():
            d, b = v["diem"], v["baseline"]
            rows.append(
                [
                    op["name"] if name == "unkeyed" else "",
                    name,
                    _calls(d),
                    str(d["round_trips"]),
                    _wcu(d),
                    f"{d['read_units']:g}",
                    _calls(b),
                    str(b["round_trips"]),
                    _wcu(b),
                    str(op["target_round_trips"]),
                    _yes(v["meets_cost_target"]),
                ]
            )
    headers = ["operation", "key", "diem calls", "RT", "WCU", "RCU", "boto3 baseline", "RT", "WCU", "RT target", "met"]
    print(render_table(headers, rows, right={3, 4, 5, 7, 8, 9}))
    for op in ops:
        if op["status"] == "ok":
            print(f"  {op['name']}: target {op['target']}")
            for name, v in op["variants"].items():
                for side in ("diem", "baseline"):
                    units = v[side].get("index_units") or {}
                    if units:
                        spent = ", ".join(f"{k} {x:g}" for k, x in units.items())
                        print(f"    {name} {side}: index units {spent}")
                if not v.get("baseline_writes_the_same", True):
                    diem, base = v["diem"]["written"], v["baseline"]["written"]
                    for table in sorted(diem.keys() | base.keys()):
                        only_diem = sorted(set(diem.get(table, [])) - set(base.get(table, [])))
                        only_base = sorted(set(base.get(table, [])) - set(diem.get(table, [])))
                        if only_diem or only_base:
                            print(
                                f"    {name}: the baseline writes other attributes of {table}: "
                                f"diem only {only_diem}, baseline only {only_base}"
                            )
    targets = result.get("targets", {})
    print(
        f"\nLatency in process, p50 ms ({result['iterations']} requests per series, every series interleaved, "
        f"after {result['warmup']} warm-up); ratio = p50 / boto3 p50 (paired: median of per-iteration ratios)"
    )
    rows = []
    for op in ops:
        if op["status"] != "ok":
            rows.append([op["name"], op["status"], "", "", "", "", "", "", ""])
            continue
        for name, v in op["variants"].items():
            rows.append(
                [
                    op["name"] if name == "unkeyed" else "",
                    name,
                    fmt_ms(v["diem"]["median_ms"]),
                    fmt_ms(v["handler"]["median_ms"]),
                    fmt_ms(v["baseline"]["median_ms"]),
                    _ratio(v["ratio_client"], v["paired_ratio_client"]),
                    _yes(v["meets_client_target"]),
                    _ratio(v["ratio_handler"], v["paired_ratio_handler"]),
                    _yes(v["meets_handler_target"]),
                ]
            )
    headers = [
        "operation",
        "key",
        "test client",
        "handler",
        "boto3",
        "client ratio",
        f"<= {targets.get('client_ratio', 1.3)}x",
        "handler ratio",
        f"<= {targets.get('handler_ratio', 1.15)}x",
    ]
    print(render_table(headers, rows, right={2, 3, 4, 5, 7}))
    if notes:
        print("\n".join(notes))
    month = result.get("accrual_month")
    if month:
        print(
            f"\nAccrual at 70 M subscribers x 3 events a month: {month['write_units_per_accrual']:g} WCU x "
            f"{month['accruals_per_month']:,} = {month['write_units_per_month']:,} WCU/month "
            f"(budget < {month['budget']:,}: {_yes(month['within_budget'])})"
        )
    events = result.get("events")
    if events:
        added = ", ".join(f"{k} {v:g}" for k, v in events["write_units_added"].items())
        streamed = ", ".join(f"{t}" for t, view in events["streams"].items() if view)
        print(f"Write units added for events on the hot paths: {added} (streams on: {streamed})")


def print_ledger(result: dict[str, Any]) -> None:
    seeded = result["seeded"]
    print(
        f"\nLedger page (GET /v1/subscribers/{{msisdn}}/ledger?limit={result['limit']}) on a ledger of "
        f"{seeded['entries']:,} entries ({seeded['product_written']} written by the product, "
        "the rest copies of its entry)"
        + (
            f"; each diem page timed once (slower than 1 s), the baseline p50 of {result['reps']}"
            if result.get("slow")
            else f"; p50 of {result['reps']}, interleaved"
        )
    )
    rows = []
    for page in result["pages"]:
        d, b = page["diem"], page["baseline"]
        rows.append(
            [
                page["page"],
                str(page["items"]),
                " + ".join(d["calls"]),
                str(d["round_trips"]),
                f"{d['read_units']:g}",
                fmt_ms(d["client"]["median_ms"]),
                fmt_ms(d["handler"]["median_ms"]),
                " + ".join(b["calls"]),
                str(b["round_trips"]),
                f"{b['read_units']:g}",
                fmt_ms(b["median_ms"]),
                f"{d['read_units'] / b['read_units']:.0f}x" if b["read_units"] else "-",
            ]
        )
    headers = [
        "page",
        "items",
        "diem calls",
        "RT",
        "RCU",
        "test client",
        "handler",
        "minimum (boto3)",
        "RT",
        "RCU",
        "boto3",
        "RCU ratio",
    ]
    print(render_table(headers, rows, right={1, 3, 4, 5, 6, 8, 9, 10, 11}))
    print(
        f"  {result['pages_followed']} pages followed by next_cursor: {result['distinct_entries_in_pages']} "
        f"distinct entries. Whole partition {seeded['partition_bytes']:,} bytes = on DynamoDB "
        f"{seeded['whole_partition_queries']} Query page(s) of 1 MB, {seeded['whole_partition_rcu']:g} RCU consistent"
    )
    timeout = result["product_read_timeout_seconds"]
    for page in result["pages"]:
        if page["diem"]["client"]["median_ms"] > timeout * 1000:
            print(
                f"  {page['page']}: {page['diem']['client']['median_ms'] / 1000:.1f} s, longer than the product's "
                f"{timeout} s read timeout: with its own client settings this page answers 500 (the bench waits)"
            )


def print_ussd(result: dict[str, Any]) -> None:
    print(
        f"\nUSSD session (POST /v1/channels/ussd, form-encoded, through the test client; {result['sessions']} "
        "sessions timed; the gateway key cached): round trips against TARGETS.md"
    )
    rows = []
    for screen in [*result["screens"], *result["other_screens"]]:
        client = screen.get("client") or {}
        rows.append(
            [
                repr(screen["text"]),
                " + ".join(screen["calls"]),
                str(screen["round_trips"]),
                str(screen["target_round_trips"]),
                _yes(screen["met"]),
                f"{screen['read_units']:g}",
                f"{screen['write_units']:g}",
                fmt_ms(client.get("median_ms", float("nan"))),
                fmt_ms(client.get("p90_ms", float("nan"))),
            ]
        )
    headers = ["text", "diem calls", "RT", "target", "met", "RCU", "WCU", "p50 ms", "p90 ms"]
    print(render_table(headers, rows, right={2, 3, 5, 6, 7, 8}))
    print("\n  The session as a person sees it:")
    for screen in result["screens"]:
        print(f"\n  [{screen['text'] or 'dial *098#'}]")
        print("    " + screen["screen"].replace("\n", "\n    "))


def print_flash(result: dict[str, Any]) -> None:
    from bench.flash_sale import LIMITS

    print(
        f"\nFlash sale on the atomic embedded engine: inventory {result['inventory']}, per-subscriber limit 1, "
        f"{result['subscribers']} subscribers, {result['threads']} threads, {result['attempts']} claim attempts per run"
    )
    if result.get("status") != "ok":
        print(f"  {result.get('status')}: {result.get('note', '')}")
        return
    rows = []
    for run in result["runs"]:
        v = run["verification"]
        rows.append(
            [
                f"{run['shards']} shard(s)",
                str(run["expected_peak_claims_per_second"]),
                f"{run['issued_per_second']:.0f}",
                f"{run['attempts_per_second']:.0f}",
                f"{run['sold_out_seconds']:.1f}" if run["sold_out_seconds"] is not None else "-",
                str(run["responses"].get("201", 0)),
                str(v["vouchers_in_table"]),
                str(v["oversold"]),
                str(v["over_limit"]),
                str(v["balances_wrong"]),
                str(run["dynamodb"]["cancelled_by_conflict"]),
                f"{run['claim_p50_ms']:.0f}/{run['claim_p90_ms']:.0f}",
            ]
        )
    print(
        render_table(
            [
                "run",
                "peak claims/s",
                "issued/s",
                "attempts/s",
                "sold out s",
                "201s",
                "vouchers",
                "oversold",
                "over limit",
                "bad balances",
                "tx conflicts",
                "p50/p90 ms",
            ],
            rows,
            right=set(range(1, 12)),
        )
    )
    for run in result["runs"]:
        v, db = run["verification"], run["dynamodb"]
        stopped = " (stopped at the deadline)" if run.get("stopped_at_deadline") else ""
        print(
            f"  {run['shards']} shard(s): {run['attempts_made']}/{run['attempts']} attempts{stopped}; "
            f"responses {run['responses']}\n"
            f"    DynamoDB {db['by_operation']}, {db['calls_per_attempt']} calls/attempt, "
            f"transactions cancelled {db['transactions_cancelled']} "
            f"(conflict {db['cancelled_by_conflict']}, condition {db['cancelled_by_condition']})\n"
            f"    vouchers without a 201: {v['vouchers_without_a_201']}, 201s without a voucher: "
            f"{v['201s_without_a_voucher']}, stock counters: {v['stock_counters']}"
        )
    probe = result.get("conflict_probe")
    if probe:
        print(
            f"\n  Conflict probe: {probe['transactions']} transactions from {probe['threads']} threads, all updating "
            f"one item at once, straight through boto3: {probe['outcomes']} (final count {probe['final_count']})"
        )
    print("\n  " + "\n  ".join(LIMITS))


class _Stdout(io.TextIOBase):
    """Stdout while a benchmark runs: Powertools prints an EMF line whenever 100
    metric values pile up (metrics are disabled here, so they are never
    flushed); count those lines instead of printing them, pass the rest on."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.emf_lines = 0
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            if line.startswith('{"_aws"'):
                self.emf_lines += 1
            else:
                self.target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self._partial and not self._partial.startswith('{"_aws"'):
            self.target.write(self._partial)
            self._partial = ""
        self.target.flush()


def quietly(what: str, fn: Any) -> tuple[Any, str | None]:
    sink = _Stdout(sys.stdout)
    with contextlib.redirect_stdout(sink):
        result = safely(what, fn)
    sink.flush()
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_environment()
    from bench import flash_sale, ops, scale

    if args.parts:
        return scale.main(args.parts, args.output)

    started = time.perf_counter()
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "notes": [],
    }
    server = None
    endpoint = args.endpoint
    if not args.no_ops or not args.no_flash_sale or not args.no_ledger or not args.no_ussd:
        if endpoint is None:
            from dev import embedded_dynamodb

            t0 = time.perf_counter()
            server = embedded_dynamodb.spawn()
            endpoint = server.endpoint
            report["engine"] = {
                "kind": "embedded moto server, atomic (dev.embedded_dynamodb.spawn(), its own process)",
                "endpoint": endpoint,
                "start_seconds": round(time.perf_counter() - t0, 1),
            }
            print(f"Embedded DynamoDB engine on {endpoint} (spawned in {time.perf_counter() - t0:.1f} s)")
        else:
            report["engine"] = {"kind": "given with --endpoint", "endpoint": endpoint, "start_seconds": None}
    try:
        if not args.no_ops:
            result, error = quietly("ops", lambda: ops.run(endpoint, args.iterations, args.warmup))
            report["ops"] = result if result is not None else {"error": error}
            if result is not None:
                print_ops(result)
            else:
                print(f"\n{error}")
        if not args.no_ledger:
            from bench import ledger

            result, error = quietly("ledger", lambda: ledger.run(endpoint))
            report["ledger"] = result if result is not None else {"error": error}
            if result is not None:
                print_ledger(result)
            else:
                print(f"\n{error}")
        if not args.no_ussd:
            from bench import ussd

            result, error = quietly("ussd", lambda: ussd.run(endpoint))
            report["ussd"] = result if result is not None else {"error": error}
            if result is not None:
                print_ussd(result)
            else:
                print(f"\n{error}")
        if not args.no_flash_sale:
            result, error = quietly(
                "flash sale",
                lambda: flash_sale.run(endpoint, args.inventory, args.threads, args.shards_peak),
            )
            report["flash_sale"] = result if result is not None else {"error": error}
            if result is not None:
                print_flash(result)
            else:
                print(f"\n{error}")
    finally:
        if server is not None:
            server.stop()
    if not args.no_package:
        # console_size: the web console's first load (JS+CSS gzipped) against its 150 KB
        for name in ("package_size", "cold_start", "events_latency", "console_size"):
            print(f"\n== {name.replace('_', ' ')} ==")
            result, text = run_optional(name)
            if text:
                print(text)
            if result is None and "skipped" in text:
                report[name] = {"skipped": text}
            else:
                report[name] = {"returned": result if _jsonable(result) else repr(result), "output": text}
    if not args.no_scale:
        scale.run_parts(list(scale.PARTS), report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    output = args.output
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as fh:
        json.dump(report, fh, indent=2, default=str)
    print(f"\nWrote {output} ({report['seconds']:.0f} s in all)")
    return 0


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
