"""Mutation testing of the pure rule modules (`make mutants`).

Each module in MODULES gets its own mutmut run, in a fresh `mutants/`, against
only the tests listed with it, one worker at a time (the machine is shared).
A mutant counts as killed when a test fails on it or it makes the tests time
out; anything else (survived, no test reached it) counts against the module.
The table shows the score per module; the exit status is 1 if any module is
below MIN_SCORE or its run failed. Each survivor's diff is written to
out/mutants/<module>.txt.

    python -m dev.mutants                              # every module
    python -m dev.mutants chalicelib/tiers/rules.py    # just these

To add a module, add one line to MODULES: its path and the test paths that
cover it (fast tests only: each mutant re-runs the tests that reach it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> the tests that cover it
MODULES: dict[str, tuple[str, ...]] = {
    "chalicelib/points/rules.py": ("tests/unit/test_points_rules.py", "tests/unit/test_tiers.py"),
    "chalicelib/tiers/rules.py": ("tests/unit/test_tiers.py",),
    "chalicelib/campaigns/rules.py": ("tests/unit/test_campaign_rules.py",),
    "chalicelib/vouchers/codes.py": ("tests/unit/test_codes.py",),
    "chalicelib/subscribers/msisdn.py": ("tests/unit/test_msisdn.py",),
    "chalicelib/store/kernel.py": ("tests/unit/test_kernel.py",),
    "chalicelib/channels/menu.py": ("tests/channels/test_screens.py",),
    "chalicelib/notify/gsm.py": ("tests/channels/test_screens.py",),
}
MIN_SCORE = 90.0
REPORTS = ROOT / "out" / "mutants"

# mutmut's exit codes of a mutant's test run (mutmut.stats.status_by_exit_code)
KILLED = {1, 3}
TIMEOUT = {24, -24, 152, 255, 36}
SURVIVED = {0}
NO_TESTS = {5, 33}


def _slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def _child(module: str, tests: list[str], report: Path) -> int:
    """Inside the mutmut process: run `module`'s mutants against `tests`, then
    write the verdicts and each survivor's diff to `report` (JSON)."""
    from mutmut import configuration

    cfg = configuration.config()  # [tool.mutmut] in pyproject.toml, then narrowed here
    cfg.only_mutate = [module]
    cfg.pytest_add_cli_args_test_selection = tests

    from mutmut.__main__ import cli
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    try:
        cli(["run", "--max-children", "1"], standalone_mode=False)
    except SystemExit as stop:
        if stop.code not in (0, None):
            return int(stop.code) if isinstance(stop.code, int) else 1
    data = SourceFileMutationData(path=Path(module))
    data.load()
    verdicts = dict(data.exit_code_by_key)
    undetected = {
        name: get_diff_for_mutant(name, path=module)
        for name, code in verdicts.items()
        if code not in KILLED and code not in TIMEOUT
    }
    report.write_text(json.dumps({"verdicts": verdicts, "undetected": undetected}, indent=1))
    return 0


def _run_module(module: str, tests: tuple[str, ...]) -> dict | None:
    """One fresh mutmut run for `module`; its report, or None if the run failed."""
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # mutmut reuses stale copies otherwise
    report = REPORTS / f"{_slug(module)}.json"
    log = REPORTS / f"{_slug(module)}.log"
    report.unlink(missing_ok=True)
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "dev.mutants", "--child", str(report), module, *tests],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not report.exists():
        print(f"{module}: the mutmut run failed (exit {done.returncode}), see {log.relative_to(ROOT)}")
        return None
    return json.loads(report.read_text())


def _row(module: str, verdicts: dict[str, int | None]) -> tuple[list[str], float]:
    codes = list(verdicts.values())
    killed = sum(c in KILLED for c in codes)
    timeout = sum(c in TIMEOUT for c in codes)
    survived = sum(c in SURVIVED for c in codes)
    no_tests = sum(c in NO_TESTS for c in codes)
    other = len(codes) - killed - timeout - survived - no_tests
    score = 100.0 * (killed + timeout) / len(codes) if codes else 0.0
    cells = [module, *(str(n) for n in (len(codes), killed, timeout, survived, no_tests, other)), f"{score:.1f}%"]
    return cells, score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules of MODULES to run (default: all)")
    parser.add_argument("--min-score", type=float, default=MIN_SCORE)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        module, *tests = args.modules
        return _child(module, tests, Path(args.child))

    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not in MODULES: {', '.join(unknown)}")
    REPORTS.mkdir(parents=True, exist_ok=True)
    header = ["module", "mutants", "killed", "timeout", "survived", "no tests", "other", "score"]
    rows, failed, notes = [], [], []
    started = time.monotonic()
    for module in args.modules or list(MODULES):
        began = time.monotonic()
        report = _run_module(module, MODULES[module])
        if report is None:
            failed.append(module)
            continue
        cells, score = _row(module, report["verdicts"])
        rows.append(cells)
        print(f"{module}: {cells[-1]} in {time.monotonic() - began:.0f}s", flush=True)
        if score < args.min_score:
            failed.append(module)
        if report["undetected"]:
            text = REPORTS / f"{_slug(module)}.txt"
            text.write_text("\n\n".join(f"# {name}\n{diff}" for name, diff in report["undetected"].items()) + "\n")
            notes.append(f"{module}: {len(report['undetected'])} undetected, diffs in {text.relative_to(ROOT)}")
            notes.extend(f"    {name}" for name in report["undetected"])

    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    print()
    print("\n".join(notes))
    print(f"\n{len(rows)} module(s) in {time.monotonic() - started:.0f}s; minimum score {args.min_score:.0f}%")
    if failed:
        print(f"below the minimum or failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
