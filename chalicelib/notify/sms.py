"""The SMS sender interface and its adapters.

`SmsSender` is the one thing notifications need from an SMS channel: send one
text to one number, with a reference the gateway can deduplicate on. Adapters:
`HttpGateway` (the operator's SMS gateway, `DIEM_SMS_GATEWAY_URL`), `Sink`
(`make run` and the tests: keeps and prints what would have been sent).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutboundSms:
    to: str  # a normalised MSISDN (84...)
    text: str  # GSM 03.38 only
    reference: str  # unique per message: the gateway's deduplication key


class SmsRejected(Exception):
    """The gateway definitely did not send it (may be tried again)."""


class SmsUnknown(Exception):
    """It may or may not have been sent (a time-out after sending): never tried again."""


class SmsSender(Protocol):
    def send(self, sms: OutboundSms) -> None:
        """Send, or raise SmsRejected / SmsUnknown."""
        ...


class HttpGateway:
    """POST `{to, text, reference}` as JSON; 2xx is sent, any other answer rejected,
    no answer after the request went out unknown."""

    def __init__(self, url: str, timeout_seconds: float = 10.0) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds

    def send(self, sms: OutboundSms) -> None:
        import urllib3

        body = json.dumps({"to": sms.to, "text": sms.text, "reference": sms.reference}).encode()
        try:
            response = urllib3.request(
                "POST",
                self.url,
                body=body,
                headers={"content-type": "application/json"},
                timeout=urllib3.Timeout(total=self.timeout_seconds),
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:
            raise SmsRejected(f"gateway unreachable ({type(exc).__name__})") from None
        except urllib3.exceptions.HTTPError as exc:
            raise SmsUnknown(f"no answer from the gateway ({type(exc).__name__})") from None
        if not 200 <= response.status < 300:
            raise SmsRejected(f"gateway answered {response.status}")


class Sink:
    """Keeps every message (and hands it to `echo`, e.g. print): the local stand-in for a gateway."""

    def __init__(self, echo: Callable[[OutboundSms], None] | None = None) -> None:
        self.sent: list[OutboundSms] = []
        self.echo = echo
        self._lock = threading.Lock()

    def send(self, sms: OutboundSms) -> None:
        with self._lock:
            self.sent.append(sms)
        if self.echo is not None:
            self.echo(sms)


_local: SmsSender | None = None


def use(sender: SmsSender | None) -> None:
    """Register a local sender (a Sink); None forgets it."""
    global _local
    _local = sender


def sender() -> SmsSender | None:
    """The gateway if one is configured, else a registered local sender, else none (nothing is sent)."""
    from chalicelib import config

    url = config.settings().sms_gateway_url
    if url:
        return HttpGateway(url)
    return _local
