"""Dial the USSD menu in a terminal, as a basic phone would, against a running
`make run` (`make ussd MSISDN=0961234567`).

Each line typed is one input of the session; the helper sends the callback the
USSD centre would (form-encoded `sessionId`, `serviceCode`, `phoneNumber`, and
`text` = every input so far joined by `*`) and shows the screen. `END` ends the
session; Ctrl-D hangs up.

The gateway key is `--key` or DIEM_USSD_KEY (make run prints one); without
either, the helper registers a gateway of its own with an operator token signed
by DIEM_JWT_SECRET (the development default if unset), as make run's server
accepts. Local use only: it talks to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import TextIO
from urllib.parse import urlencode

SHORT_CODE = "*098#"
TIMEOUT_SECONDS = 30


def _post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)  # noqa: S310 (a local URL)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def register_gateway(base: str) -> str:
    """A USSD gateway key, registered with an operator token (the dev secret)."""
    from chalicelib import config
    from chalicelib.auth import mint_token

    secret = os.environ.get("DIEM_JWT_SECRET") or config.DEV_JWT_SECRET
    token = mint_token("operator", "make-ussd", 600, secret)
    body = json.dumps({"name": "make ussd (a terminal)", "channel": "ussd"}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, text = _post(f"{base}/v1/gateways", body, headers)
    if status != 201:
        raise SystemExit(f"could not register a gateway at {base} ({status}): {text}")
    return str(json.loads(text)["api_key"])


def dial(base: str, key: str, msisdn: str, inputs: Iterable[str], out: TextIO, prompt: Callable[[], None]) -> str:
    """One session: the first screen, then one screen per input, until `END`
    or the inputs run out. Returns the last screen."""
    session = "dev-" + secrets.token_hex(6)
    typed: list[str] = []
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Gateway-Key": key}
    answers = iter(inputs)
    while True:
        form = {"sessionId": session, "serviceCode": SHORT_CODE, "phoneNumber": msisdn, "text": "*".join(typed)}
        status, screen = _post(f"{base}/v1/channels/ussd", urlencode(form).encode(), headers)
        if status != 200:
            out.write(f"\n[{status}] {screen}\n")
            return screen
        kind, _, body = screen.partition(" ")
        out.write(f"\n+{'-' * 30}+\n{body}\n+{'-' * 30}+\n")
        if kind == "END":
            out.write("(session ended)\n")
            return screen
        prompt()
        typed_now = next(answers, None)
        if typed_now is None:
            out.write("\n(hung up)\n")
            return screen
        typed.append(typed_now.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.ussd", description=__doc__.split("\n\n")[0])
    parser.add_argument("msisdn", help="the number that dials, any accepted form (0961234567)")
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    parser.add_argument("--key", default=os.environ.get("DIEM_USSD_KEY"), help="a USSD gateway key")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    try:
        key = args.key or register_gateway(base)
    except urllib.error.URLError as exc:
        print(f"nothing answers at {base} ({exc.reason}): is `make run` running?", file=sys.stderr)
        return 1
    print(f"Dialling {SHORT_CODE} as {args.msisdn} on {base} (type an option and Enter; Ctrl-D hangs up)")

    def prompt() -> None:
        sys.stdout.write("> ")
        sys.stdout.flush()

    def lines() -> Iterable[str]:
        for line in sys.stdin:
            yield line.rstrip("\n")

    try:
        dial(base, key, args.msisdn, lines(), sys.stdout, prompt)
    except KeyboardInterrupt:
        print("\n(hung up)")
    except urllib.error.URLError as exc:
        print(f"\nthe server stopped answering ({exc.reason})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
