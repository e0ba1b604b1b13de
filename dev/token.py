"""Mint a development JWT: `python -m dev.token subscriber 84961234567` (or `make token`)."""

from __future__ import annotations

import argparse
import os

from chalicelib import config
from chalicelib.auth import ROLES, mint_token
from chalicelib.subscribers import normalise_msisdn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.token", description=__doc__)
    parser.add_argument("role", choices=[r for r in ROLES if r != "partner"])
    parser.add_argument("sub", help="MSISDN for a subscriber, a staff id otherwise")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds (default 12 h)")
    args = parser.parse_args(argv)
    subject = normalise_msisdn(args.sub) if args.role == "subscriber" else args.sub
    secret = os.environ.get("DIEM_JWT_SECRET") or config.DEV_JWT_SECRET
    print(mint_token(args.role, subject, ttl_seconds=args.ttl, secret=secret))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
