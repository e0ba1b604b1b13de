"""Where diem's time goes at the Lambda handler: cProfile over one operation.

    python -m bench.profile_ops [accrue|claim|points_read|redeem] [--n 100] [--keyed]

Spawns the embedded engine, builds the ops benchmark's world, then profiles
`n` prepared handler calls (`app(event, context)`, as `bench.ops` times them)
and `n` baseline calls, and prints, for each, the time by top-level package
(own time of its functions; `wait` = blocked on the socket, i.e. the engine's
work) and diem's top functions by own time. The extra CPU time per request
outside `wait` is diem's overhead over the raw boto3 calls.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from collections import Counter
from typing import Any

WAIT = ("recv_into", "sendall", "'connect'", "'poll'", "socket.close")


def _package(filename: str, name: str) -> str:
    if any(w in name for w in WAIT):
        return "wait"
    if filename == "~":
        return "builtins"
    parts = filename.split("/")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    for top in ("chalicelib", "app.py", "bench"):
        if top in parts:
            return top.removesuffix(".py")
    return "stdlib"


def by_package(stats: pstats.Stats, n: int) -> list[tuple[str, float]]:
    out: Counter[str] = Counter()
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        out[_package(filename, name)] += tottime
    return [(k, v * 1000 / n) for k, v in out.most_common()]


def profile(fn: Any, n: int) -> pstats.Stats:
    profiler = cProfile.Profile()
    for _ in range(n):
        op = fn()
        profiler.enable()
        op()
        profiler.disable()
    return pstats.Stats(profiler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("operation", nargs="?", default="claim")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--keyed", action="store_true")
    args = parser.parse_args(argv)
    from bench import CallRecorder, configure_environment

    configure_environment()
    from bench import ops
    from chalicelib import store
    from dev import embedded_dynamodb

    engine = embedded_dynamodb.spawn()
    try:
        w = ops.build_world(engine.endpoint)
        captured: dict[str, ops.Variant] = {}

        def capture(key: str, variants: dict[str, ops.Variant], *rest: Any, **kw: Any) -> ops.OpResult:
            captured.update(variants)
            return ops.OpResult(key)

        ops.measure = capture  # type: ignore[assignment]
        rec, base_rec = CallRecorder(store.clients()), CallRecorder([w.raw])
        if args.operation in ("points_read", "accrue"):
            getattr(ops, f"bench_{args.operation}")(w, 0, 0, rec, base_rec)
        else:
            partner_id, api_key = ops.create_partner(w.http, w.marketer, "Profile Coffee")
            campaign = ops.create_campaign(
                w.http, w.marketer, partner_id, inventory=100_000, per_subscriber_limit=1000, points_price=100
            )
            vw = ops.VoucherWorld(partner_id, api_key, campaign["campaign_id"], limit=1000)
            ops.bench_claim(w, vw, 0, 0, rec, base_rec)
            if args.operation == "redeem":
                claim = captured["unkeyed"]
                for _ in range(args.n + 10):
                    claim.client()
                    claim.base()
                ops.bench_redeem(w, vw, 0, 0, rec, base_rec)
        variant = captured["keyed" if args.keyed else "unkeyed"]
        for _ in range(10):  # warm
            variant.handler()()
            variant.base()
        diem = profile(variant.handler, args.n)
        base = profile(lambda: variant.base, args.n)
        for label, stats in (("diem handler", diem), ("boto3 baseline", base)):
            rows = by_package(stats, args.n)
            total = sum(v for _, v in rows)
            print(f"\n{label}: {total:.2f} ms per request (profiled), by package (own time, ms/request):")
            for name, ms in rows[:12]:
                print(f"  {ms:7.2f}  {name}")
        for label, stats in (("diem handler", diem), ("boto3 baseline", base)):
            print(f"\n{label}: top functions by own time")
            stats.sort_stats("tottime").print_stats(12)
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
