"""Cold-start import cost: `import app` against `import boto3` alone.

    python bench/cold_start.py [--runs 5] [--breakdown] [--plain-env]

Each run is a fresh `python -X importtime -c 'import <module>'` from the project
root, app and boto3 alternating, with one environment for both: the caller's
plus what the deployed functions set (PYDANTIC_DISABLE_PLUGINS=__all__, see
infra/build.py) unless --plain-env. Reported: the median cumulative import time
of the top-level module, and the ratio (target: app <= 1.3x boto3).
`--breakdown` shows where app's extra time goes: self time of the modules
that `import boto3` does not load, by top-level package.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.3
DEPLOYED_ENV = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}


@dataclass(frozen=True)
class Line:
    self_us: int
    cumulative_us: int
    module: str
    depth: int


def parse(stderr: str) -> list[Line]:
    """The `-X importtime` lines (`import time: self | cumulative | name`)."""
    lines = []
    for raw in stderr.splitlines():
        if not raw.startswith("import time:") or "self [us]" in raw:
            continue
        self_us, cumulative_us, name = raw.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        lines.append(Line(int(self_us), int(cumulative_us), name.strip(), depth))
    return lines


def run(module: str, env: dict[str, str]) -> list[Line]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return parse(done.stderr)


def total(lines: list[Line], module: str) -> int:
    """Cumulative microseconds of the top-level import of `module`."""
    return next(line.cumulative_us for line in reversed(lines) if line.module == module and line.depth == 0)


def breakdown(app_lines: list[Line], boto_lines: list[Line], top: int = 12) -> None:
    boto = {line.module for line in boto_lines}
    extra: Counter[str] = Counter()
    for line in app_lines:
        if line.module not in boto:
            extra[line.module.split(".")[0]] += line.self_us
    print(f"\nwhere app's extra time goes (self time of modules boto3 does not import), top {top}:")
    for package, us in extra.most_common(top):
        print(f"  {us / 1000:7.1f} ms  {package}")
    print(f"  {sum(extra.values()) / 1000:7.1f} ms  in all")
    print("\nlargest imports directly under app (cumulative):")
    end = max(i for i, x in enumerate(app_lines) if x.module == "app" and x.depth == 0)
    start = max((i for i, x in enumerate(app_lines[:end]) if x.depth == 0), default=-1) + 1
    children = [x for x in app_lines[start:end] if x.depth == 1]
    for line in sorted(children, key=lambda x: -x.cumulative_us)[:8]:
        print(f"  {line.cumulative_us / 1000:7.1f} ms  {line.module}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print the comparison; return the medians and the ratio (for bench's JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true", help="explain where app's extra time goes")
    parser.add_argument("--plain-env", action="store_true", help="do not add the deployed functions' settings")
    args = parser.parse_args(argv)
    env = dict(os.environ) if args.plain_env else {**os.environ, **DEPLOYED_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # warm bytecode caches, as the shipped .pyc give Lambda
    run("app", env), run("boto3", env)  # one untimed pass each: bytecode caches written
    app_runs, boto_runs = [], []
    app_lines = boto_lines = []
    for _ in range(args.runs):
        app_lines = run("app", env)
        boto_lines = run("boto3", env)
        app_runs.append(total(app_lines, "app"))
        boto_runs.append(total(boto_lines, "boto3"))
    app_ms, boto_ms = statistics.median(app_runs) / 1000, statistics.median(boto_runs) / 1000
    ratio = app_ms / boto_ms
    print(f"import app    median {app_ms:7.1f} ms  runs {[round(x / 1000, 1) for x in app_runs]}")
    print(f"import boto3  median {boto_ms:7.1f} ms  runs {[round(x / 1000, 1) for x in boto_runs]}")
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    env_note = "" if args.plain_env else f"; env {DEPLOYED_ENV}"
    print(f"ratio {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target){env_note}")
    if args.breakdown:
        breakdown(app_lines, boto_lines)
    return {"app_ms": app_ms, "boto3_ms": boto_ms, "ratio": round(ratio, 3), "within_target": ratio <= TARGET_RATIO}


if __name__ == "__main__":
    main()
