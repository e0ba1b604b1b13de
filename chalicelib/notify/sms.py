"""Outbound SMS: one small interface (`SmsSender`), an HTTP implementation for
the operator's SMS centre (or, locally, a sink on 127.0.0.1), and a recording
one when nothing is configured.

Whoever sends (the SMS channel's replies, the notifications) builds an `Sms`
with a `ref` naming its cause (`sms-reply:<gateway>:<message id>`, the
notification's event id): the caller sends each ref once, and the SMS centre
may deduplicate on it. A message's text is never logged (it may carry a
voucher code); its ref is.

A send that fails says whether the message may have gone out: `SmsRejected`
(it did not: the centre refused it or was never reached, so it may be tried
again) or `SmsUnknown` (no answer after the request went out: never resent,
so a subscriber never gets one notification twice).
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chalicelib import config, endpoints, observability
from chalicelib.notify import gsm

if TYPE_CHECKING:
    from chalicelib.store import Subscriber

SEND_TIMEOUT_SECONDS = 5.0
RECORDED = 1_000


@dataclass(frozen=True)
class Sms:
    """One outbound message: a normalised MSISDN, GSM 03.38 text, and its cause."""

    to: str
    text: str
    ref: str


class SmsNotSent(Exception):
    """The SMS centre did not confirm that it took the message."""


class SmsRejected(SmsNotSent):
    """It definitely was not sent (refused, or the centre was never reached)."""


class SmsUnknown(SmsNotSent):
    """It may or may not have been sent (no answer after the request went out)."""


class SmsSender(Protocol):
    def send(self, sms: Sms) -> None:
        """Hand `sms` to the SMS centre; SmsRejected or SmsUnknown if it did not confirm."""


class RecordingSender:
    """Keeps the last messages in memory (no SMS centre configured): a deployed
    stage without DIEM_SMS_URL sends nothing, and says so in its logs."""

    def __init__(self, size: int = RECORDED) -> None:
        self._lock = threading.Lock()
        self.sent: collections.deque[Sms] = collections.deque(maxlen=size)

    def send(self, sms: Sms) -> None:
        _check(sms)
        with self._lock:
            self.sent.append(sms)
        observability.logger().info("SMS recorded, not sent (no DIEM_SMS_URL)", extra={"ref": sms.ref})


class HttpSender:
    """POSTs `{"to", "text", "ref"}` as JSON to `url`; any 2xx is taken, any other
    answer refused; no answer (a time-out, a dropped connection) is unknown."""

    def __init__(self, url: str, timeout: float | None = None) -> None:
        if not endpoints.allowed(url):
            raise ValueError("DIEM_SMS_URL must be https://, or http:// to a loopback address (a local sink)")
        self.url, self.timeout = url, timeout or SEND_TIMEOUT_SECONDS

    def send(self, sms: Sms) -> None:
        _check(sms)
        body = json.dumps({"to": sms.to, "text": sms.text, "ref": sms.ref}).encode()
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with endpoints.urlopen(request, self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:  # an answer, not a 2xx: refused
            raise SmsRejected(f"the SMS centre refused {sms.ref}: {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, ConnectionRefusedError | socket.gaierror):
                raise SmsRejected(f"the SMS centre was not reached for {sms.ref}") from None
            raise SmsUnknown(f"no answer from the SMS centre for {sms.ref}: {type(reason).__name__}") from None


def _check(sms: Sms) -> None:
    if not gsm.is_gsm(sms.text) or gsm.segments(sms.text) > 2:
        raise ValueError(f"{sms.ref}: an SMS is GSM 03.38 text of at most two segments")


_senders: dict[str | None, SmsSender] = {}
_senders_lock = threading.Lock()


def sender() -> SmsSender:
    """The configured sender (one per DIEM_SMS_URL, made on first use)."""
    url = config.settings().sms_url
    with _senders_lock:
        if url not in _senders:
            _senders[url] = HttpSender(url) if url else RecordingSender()
        return _senders[url]


def configured() -> bool:
    """Whether an SMS centre is configured (else messages are only recorded)."""
    return bool(config.settings().sms_url)


def notifications_allowed(subscriber: Subscriber) -> bool:
    """Whether notification SMS may go to this subscriber: not after `TC`, until `DK`."""
    return subscriber.sms_opt_out_at is None
