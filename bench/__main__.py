"""`python -m bench` (what `make bench` runs): every figure of TARGETS.md that
a benchmark measures, printed as tables and written to bench/results/latest.json.

    python -m bench                      # everything, about 70 s on 2 quiet cores
    python -m bench --iterations 100 --no-flash-sale
    python -m bench --endpoint http://127.0.0.1:8001   # reuse a running engine (make run's)
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
    parser.add_argument("--no-flash-sale", action="store_true", help="skip the flash sale")
    parser.add_argument("--no-package", action="store_true", help="skip package size and cold start")
    parser.add_argument("--endpoint", help="use this DynamoDB endpoint instead of spawning the embedded engine")
    parser.add_argument("--output", default=str(RESULTS_DIR / "latest.json"))
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


def _calls(side: dict[str, Any] | None, key: str = "calls") -> str:
    if not side or side.get(key) is None:
        return "-"
    return " + ".join(side[key]) or "(none)"


def _units(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _wcu(side: dict[str, Any]) -> str:
    units = _units(side["write_units"])
    index = sum(v for k, v in side.get("index_units", {}).items())
    return f"{units} ({index:g} idx)" if index else units


def print_ops(result: dict[str, Any]) -> None:
    ops = result["operations"]
    print("\nDynamoDB calls per request (units: ConsumedCapacity reported by DynamoDB Local; idx = spent on indexes)")
    rows = []
    for op in ops:
        d, b = op.get("diem"), op.get("baseline")
        if op["status"] != "ok":
            rows.append([op["name"], op["status"], "", "", "", "", "", op["target"], "-"])
            continue
        rows.append(
            [
                op["name"],
                _calls(d),
                _wcu(d),
                _units(d["read_units"]),
                _calls(d, "calls_with_idempotency_key"),
                _calls(b),
                _wcu(b),
                op["target"],
                _yes(op["meets_cost_target"]),
            ]
        )
    headers = ["operation", "diem calls", "WCU", "RCU", "diem, with Idempotency-Key", "boto3 baseline", "WCU"]
    print(render_table([*headers, "target", "met"], rows, right={2, 3, 6}))
    for op in ops:
        for side in ("diem", "baseline"):
            units = (op.get(side) or {}).get("index_units") or {}
            if units:
                spent = ", ".join(f"{name} {value:g}" for name, value in units.items())
                print(f"  {op['name']} ({side}): index units {spent}")
    print(
        f"\nLatency in process, ms ({result['iterations']} requests per series, interleaved, "
        f"after {result['warmup']} warm-up)"
    )
    rows = []
    notes = []
    for op in ops:
        d, b = op.get("diem"), op.get("baseline")
        if op["status"] != "ok":
            rows.append([op["name"], op["status"], "", "", "", "", "", ""])
            if op["note"]:
                notes.append(f"  {op['name']}: {op['note']}")
            continue
        rows.append(
            [
                op["name"],
                fmt_ms(d["median_ms"]),
                fmt_ms(d["p90_ms"]),
                fmt_ms(b["median_ms"]),
                fmt_ms(b["p90_ms"]),
                f"{op['ratio_of_medians']:.2f}x",
                f"{op['median_of_paired_ratios']:.2f}x",
                _yes(op["meets_overhead_target"]),
            ]
        )
        if op["note"]:
            notes.append(f"  {op['name']}: {op['note']}")
        for name, layer in (op.get("layers") or {}).items():
            ratio = layer["median_ms"] / b["median_ms"]
            rows.append(
                [f"  - {name}", fmt_ms(layer["median_ms"]), fmt_ms(layer["p90_ms"]), "", "", f"{ratio:.2f}x", "", ""]
            )
    print(
        render_table(
            ["operation", "diem p50", "diem p90", "boto3 p50", "boto3 p90", "ratio p50", "paired", "<= 1.2x"],
            rows,
            right={1, 2, 3, 4, 5, 6},
        )
    )
    print(
        "  ratio p50 = diem median / boto3 median (the target); paired = median of the per-iteration ratios;\n"
        "  '- ...' rows time layers of diem in the same loop, against the same boto3 median"
    )
    if notes:
        print("\n".join(notes))
    month = result.get("accrual_month")
    if month:
        print(
            f"\nAccrual at 70 M subscribers x 3 events a month: {month['write_units_per_accrual']:g} WCU x "
            f"{month['accruals_per_month']:,} = {month['write_units_per_month']:,} WCU/month "
            f"(budget < {month['budget']:,}: {_yes(month['within_budget'])})"
        )


def print_flash(result: dict[str, Any]) -> None:
    from bench.flash_sale import LIMITS

    print(
        f"\nFlash sale on DynamoDB Local: inventory {result['inventory']}, per-subscriber limit 1, "
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
            f"{db['write_units_per_voucher']} WCU/voucher, transactions cancelled {db['transactions_cancelled']} "
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
    from bench import flash_sale, ops

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
    if not args.no_ops or not args.no_flash_sale:
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
        for name in ("package_size", "cold_start"):
            print(f"\n== {name.replace('_', ' ')} ==")
            result, text = run_optional(name)
            if text:
                print(text)
            if result is None and "skipped" in text:
                report[name] = {"skipped": text}
            else:
                report[name] = {"returned": result if _jsonable(result) else repr(result), "output": text}
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
