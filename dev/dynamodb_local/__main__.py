"""Serve DynamoDB Local on 127.0.0.1 until Ctrl-C.

Usage: ``python -m dev.dynamodb_local [--port N]``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from dev.dynamodb_local import start


def main(argv: list[str] | None = None) -> int:
    """Install, start and serve DynamoDB Local until interrupted; return exit code."""
    parser = argparse.ArgumentParser(prog="python -m dev.dynamodb_local", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    with start(args.port) as server:
        print(
            f"DynamoDB Local (in memory) at {server.endpoint}  (Ctrl-C to stop)",
            flush=True,
        )
        try:
            code = server.wait()
        except KeyboardInterrupt:
            print("\nstopping DynamoDB Local", flush=True)
            return 0
        print(
            f"DynamoDB Local exited with code {code}:\n{server.output()}",
            file=sys.stderr,
        )
        return code or 1


if __name__ == "__main__":
    sys.exit(main())
