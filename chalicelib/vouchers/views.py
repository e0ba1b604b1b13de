"""How a voucher reads: a voucher past `expires_at` is `expired` on every read,
before the daily job has marked it."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from chalicelib.config import rules
from chalicelib.store import Voucher
from chalicelib.vouchers.codes import display


def effective_status(status: str, expires_at: str, now_iso: str) -> str:
    return "expired" if status == "issued" and expires_at <= now_iso else status


def expiry_due(code: str, expires_on: date) -> str:
    """The sparse `expiry-due` index key: `<local date>#<shard>`."""
    shard = hashlib.sha256(code.encode()).digest()[0] % rules().due_index_shards
    return f"{expires_on.isoformat()}#{shard}"


def wallet_item(item: Voucher, now_iso: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": display(item.code),
        "campaign_id": item.campaign_id,
        "title": item.title,
        "status": effective_status(item.status, item.expires_at, now_iso),
        "expires_at": item.expires_at,
        "issued_at": item.issued_at,
    }
    for name in ("value_vnd", "percent_off"):
        value = getattr(item, name)
        if value is not None:
            out[name] = int(value)
    return out


def partner_view(item: Voucher, now_iso: str) -> dict[str, Any]:
    """What a partner's till sees of its own voucher."""
    out = wallet_item(item, now_iso)
    del out["campaign_id"], out["issued_at"]
    return out
