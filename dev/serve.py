"""`make run`: the embedded DynamoDB engine, tables, demo data, tokens, and the API.

The atomic embedded moto server runs in this process (the one local engine);
DIEM_DYNAMODB_ENDPOINT uses an existing endpoint instead (seeded only with
SEED=1). The API is `dev.local_server` in a subprocess, started first so it
imports the app while the tables are made and seeded here; it answers only
once the demo data is in (the first 200 from /v1/health means it is there).
Ctrl-C (or SIGTERM) stops everything and frees the port.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _database(stack: ExitStack) -> str:
    existing = os.environ.get("DIEM_DYNAMODB_ENDPOINT")
    if existing:
        return existing
    from dev import embedded_dynamodb

    server = embedded_dynamodb.start(int(os.environ.get("DB_PORT", "0")))
    stack.callback(server.stop)
    return server.endpoint


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the embedded server's request log
    # Ctrl-C must stop us even when started from a script that ignores SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    port = int(os.environ.get("PORT", "8000"))
    seed_wanted = not os.environ.get("DIEM_DYNAMODB_ENDPOINT") or os.environ.get("SEED") == "1"
    with ExitStack() as stack:
        endpoint = _database(stack)
        env = {
            **os.environ,
            "DIEM_DYNAMODB_ENDPOINT": endpoint,
            "DIEM_STAGE": "dev",
            "DIEM_TABLE_PREFIX": os.environ.get("DIEM_TABLE_PREFIX", "diem-dev-"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-southeast-1"),
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        env.setdefault("DIEM_JWT_SECRET", _dev_secret())
        # the embedded engine serialises every request: under load its latency is tens
        # of times DynamoDB's, so contention is retried for longer here than in Lambda
        env.setdefault("DIEM_COMMIT_BUDGET_SECONDS", "20")
        # outbound SMS (the SMS keywords' replies) go to a sink here that prints them
        sms = _sms_sink(stack)
        if sms:
            env["DIEM_SMS_URL"] = sms
        charging = _charging_sim(stack)
        if charging:
            env["DIEM_CHARGING_URL"] = charging
        os.environ.update(env)
        command = [sys.executable, "-m", "dev.local_server", "--port", str(port), "--stage", "dev", "--wait-for-go"]
        if os.environ.get("QUIET") == "1":
            command.append("--quiet")
        if os.environ.get("EVENTS", "1") != "0":  # EVENTS=0 make run: no events pipeline
            command.append("--events")
        api = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, start_new_session=True)
        stack.callback(_stop_group, api)
        signal.signal(signal.SIGTERM, lambda *_: (_stop_group(api), sys.exit(0)))
        try:
            from dev import seed

            seed.create_tables()
            demo = seed.seed() if seed_wanted else None
            base = f"http://127.0.0.1:{port}"
            print(f"\nDynamoDB (embedded engine): {endpoint}")
            if sms:
                print(f"SMS sink (outbound SMS are printed here): {sms}")
            if charging:
                print(f"Charging simulator (provisions network products; docs/charging.md): {charging}")
            if demo:
                seed.print_demo(demo, base)
            if api.poll() is not None:
                return api.returncode or 1
            print(f"\nServing the API on {base}  (Ctrl-C stops everything)", flush=True)
            print(_console_line(base) + "\n", flush=True)
            assert api.stdin is not None
            api.stdin.write(b"go\n")
            api.stdin.flush()
            _start_jobs(stack, endpoint)  # after the go: importing the app here must not delay the first 200
            return api.wait()
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
            return 0
        except BrokenPipeError:  # the API stopped before it was told to answer
            return api.wait() or 1


def _sms_sink(stack: ExitStack) -> str | None:
    """A local SMS centre printing what is sent, unless DIEM_SMS_URL names one."""
    if os.environ.get("DIEM_SMS_URL"):
        return None
    from dev import sms_sink

    sink = sms_sink.start(echo=True)
    stack.callback(sink.stop)
    return sink.url


# -- network products: the charging simulator (dev/charging_sim.py), unless DIEM_CHARGING_URL names one --


def _charging_sim(stack: ExitStack) -> str | None:
    """A local charging system without faults (switch them: POST <url>/admin/faults)."""
    if os.environ.get("DIEM_CHARGING_URL"):
        return None
    from dev import charging_sim

    sim = charging_sim.start(int(os.environ.get("CHARGING_PORT", "0")))
    stack.callback(sim.stop)
    return sim.url


# -- the scheduled jobs (dev/jobs.py): fired here at their cron times, as EventBridge would --


def _start_jobs(stack: ExitStack, endpoint: str) -> None:
    if os.environ.get("DIEM_LOCAL_JOBS", "1") == "0":
        return
    from dev import jobs

    times = ", ".join(f"{name} {cron.to_string()}" for name, (cron, _) in sorted(jobs.schedules().items()))
    print(f"\nScheduled jobs run here at their times (UTC): {times}")
    print(f"  run them now: DIEM_DYNAMODB_ENDPOINT={endpoint} .venv/bin/python -m dev.jobs all")
    stack.callback(jobs.LocalScheduler().start().stop)


def _console_line(base: str) -> str:
    """Where the web console is (same port as the API; dev/console.py), or how to build it."""
    from dev import console

    if (console.DIST / "index.html").exists():
        return f"Console: {base}/  (development sign-in: pick a role; the till takes the partner's API key)"
    return "Console: not built (make console builds web/dist; make run does it first)"


def _dev_secret() -> str:
    from chalicelib import config

    return config.DEV_JWT_SECRET


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main())
