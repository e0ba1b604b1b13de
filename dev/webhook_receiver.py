"""`python -m dev.webhook_receiver --port 9000 --secret whsec_...`: a webhook
receiver for trying diem's webhooks locally. Listens on 127.0.0.1, verifies
each delivery's Standard Webhooks signature with `standardwebhooks`, prints
the event and answers 204 (401 to a bad signature, which diem then retries).
Without --secret it prints what arrives and verifies nothing."""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def handler(secret: str | None) -> type[BaseHTTPRequestHandler]:
    from standardwebhooks import Webhook, WebhookVerificationError

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = 204
            if secret:
                try:
                    Webhook(secret).verify(body, headers)
                    verdict = "signature ok"
                except WebhookVerificationError as exc:
                    verdict, status = f"BAD SIGNATURE ({exc})", 401
            else:
                verdict = "not verified (no --secret)"
            event = json.loads(body or b"{}")
            print(
                f"{headers.get('webhook-id')} {event.get('type')} {verdict}: {json.dumps(event.get('data'))}",
                flush=True,
            )
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Receiver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.webhook_receiver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", help="the whsec_... secret POST /v1/webhooks answered with")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.secret))
    print(f"receiving on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
