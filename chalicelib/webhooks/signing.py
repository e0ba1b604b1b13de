"""Standard Webhooks signatures (https://www.standardwebhooks.com), made by
the `standardwebhooks` package: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
keyed by each active secret's decoded bytes, space-separated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime


def signature(message_id: str, timestamp: int, body: str, secrets: Sequence[str]) -> str:
    from standardwebhooks import Webhook

    when = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(secret).sign(message_id, when, body) for secret in secrets)


def headers(message_id: str, timestamp: int, body: str, secrets: Sequence[str]) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(message_id, timestamp, body, secrets),
        "content-type": "application/json",
        "user-agent": "diem-webhooks/1",
    }
