"""Scale, by simulation (TARGETS.md, second release): the parts of `make bench`
that measure the flash sale against DynamoDB's limits (`bench.flash_emulated`)
and the month-end jobs fanned out over workers (`bench.jobs_fanout`).

    python -m bench flash_emulated        # only the emulated flash sale (about 2 minutes)
    python -m bench jobs                  # only the jobs' throughput per worker
    python -m bench flash_emulated jobs   # both; merged into bench/results/latest.json
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from bench import safely


def _flash(report: dict[str, Any]) -> None:
    from bench import flash_emulated

    result, error = safely("emulated flash sale", flash_emulated.run)
    if result is None:
        report[flash_emulated.ROWS_KEY] = {"error": error}
        print(f"\n{error}")
        return
    fields = (
        "shards",
        "offered_per_s",
        "achieved_per_s",
        "success_rate",
        "retries_per_claim",
        "p50_ms",
        "p99_ms",
        "conflicts",
        "throttles",
        "oversold",
    )
    report[flash_emulated.ROWS_KEY] = [{k: row[k] for k in fields} for row in result["rows"]]
    report[flash_emulated.ROWS_KEY + "_details"] = result
    print("\n" + flash_emulated.render(result))


def _jobs(report: dict[str, Any]) -> None:
    from bench import jobs_fanout

    result, error = safely("jobs fan-out", jobs_fanout.run)
    report[jobs_fanout.KEY] = result if result is not None else {"error": error}
    print("\n" + (jobs_fanout.render(result) if result is not None else str(error)))


PARTS: dict[str, Callable[[dict[str, Any]], None]] = {"flash_emulated": _flash, "jobs": _jobs}


def run_parts(names: list[str], report: dict[str, Any]) -> None:
    from bench.__main__ import quietly

    for name in names:
        started = time.perf_counter()
        quietly(name, lambda name=name: PARTS[name](report))
        report.setdefault("part_seconds", {})[name] = round(time.perf_counter() - started, 1)
        print(f"  ({name}: {report['part_seconds'][name]:.0f} s)")


def main(names: list[str], output: str) -> int:
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    report: dict[str, Any] = {}
    if os.path.exists(output):
        with open(output) as fh:
            report = json.load(fh)
    run_parts(names, report)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as fh:
        json.dump(report, fh, indent=2, default=str)
    print(f"\nWrote {output}")
    return 0
