"""Webhook endpoints: an operator (each one by its own subject) or a partner
registers, lists, deletes and rotates its own; anyone else's is not found.

An endpoint lives in its audience's partition (`operator`, or
`partner#<id>`), so the dispatcher finds whom an event goes to with one
Query; `owner` says whose it is. The secret is shown once, in the answer
that created it (an Idempotency-Key replay answers `secret: null`); rotating
keeps the previous one signing for `webhook_secret_grace_hours`.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from chalicelib import clock, config, store
from chalicelib.auth import Principal
from chalicelib.config import rules
from chalicelib.errors import NotFound, ValidationError
from chalicelib.events import types
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.store import Delivery, Webhook
from chalicelib.store.pages import key_names, page
from chalicelib.webhooks import keys, urls

LABEL = "webhook"
ENABLED, DISABLED = "enabled", "disabled"
MAX_ID_LENGTH = 64


def owner_of(who: Principal) -> tuple[str, str]:
    """(audience, owner) of a caller's endpoints."""
    return types.audience_of(who.role, who.subject), f"{who.role}:{who.subject}"


def body(item: Webhook) -> dict[str, Any]:
    return {
        "webhook_id": item.webhook_id,
        "url": item.url,
        "events": list(item.events or []),
        "status": item.status,
        "created_at": item.created_at,
        "disabled_at": item.disabled_at,
    }


# -- secrets -----------------------------------------------------------------


def _sealed(item: Webhook) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(item.secrets)
    return found


def signing_secrets(item: Webhook) -> list[str]:
    """The secrets that sign a delivery now: the current one and, for the
    grace period after a rotation, the previous one."""
    now = clock.iso(clock.now())
    sealer = keys.sealer()
    return [
        sealer.open(entry["sealed"], item.webhook_id)
        for entry in _sealed(item)
        if entry.get("until") is None or entry["until"] > now
    ]


# -- the use cases ---------------------------------------------------------------


def _checked_events(who: Principal, events: list[str]) -> list[str]:
    allowed = types.types_for(who.role)
    unknown = [e for e in events if e not in allowed]
    if unknown:
        raise ValidationError(f"events: {unknown[0][:60]!r} is not an event type this caller may receive.")
    if len(set(events)) != len(events):
        raise ValidationError("events must not repeat a type.")
    return events


def create(who: Principal, url: str, events: list[str], idem: Idempotency | None) -> Reply:
    """201 `{webhook_id, url, events, status, secret, created_at}`; nothing stored on a 400."""
    audience, owner = owner_of(who)
    events = _checked_events(who, events)
    urls.check(url, allow_local=config.settings().webhooks_allow_local)
    mine = [w for w in Webhook.query(audience, consistent_read=True) if w.owner == owner]
    if len(mine) >= rules().max_webhooks_per_owner:
        raise ValidationError(f"At most {rules().max_webhooks_per_owner} webhook endpoints per caller.")
    webhook_id = "wh_" + secrets.token_hex(12)
    secret = keys.new_secret()
    now = clock.iso(clock.now())
    item = Webhook(
        audience,
        webhook_id,
        owner=owner,
        url=url,
        events=events,
        status=ENABLED,
        secrets=json.dumps([{"sealed": keys.sealer().seal(secret, webhook_id), "until": None}]),
        created_at=now,
        updated_at=now,
    )
    op = store.put(item, condition=Webhook.webhook_id.does_not_exist(), label=LABEL)
    stored = Reply(201, {**body(item), "secret": None})
    return store.run(lambda _: store.Plan([op], Reply(201, {**stored.body, "secret": secret}), stored=stored), idem)


def list_own(who: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
    audience, owner = owner_of(who)
    return page(
        lambda **kw: Webhook.query(audience, filter_condition=Webhook.owner == owner, **kw),
        limit,
        cursor,
        {"audience": audience},
        body,
        keys=key_names(Webhook),
    )


def load_own(who: Principal, webhook_id: str) -> Webhook:
    """The caller's endpoint, else 404 (also for another caller's)."""
    audience, owner = owner_of(who)
    if not webhook_id or len(webhook_id) > MAX_ID_LENGTH:
        raise NotFound("No such webhook.")
    try:
        item = Webhook.get(audience, webhook_id, consistent_read=True)
    except Webhook.DoesNotExist:
        raise NotFound("No such webhook.") from None
    if item.owner != owner:
        raise NotFound("No such webhook.")
    return item


def delete(who: Principal, webhook_id: str, idem: Idempotency | None) -> Reply:
    """204; its pending deliveries then end `failed`."""

    def decide(_: store.Fresh) -> store.Plan:
        item = load_own(who, webhook_id)
        op = store.delete(Webhook, item.audience, item.webhook_id, condition=Webhook.owner == item.owner, label=LABEL)
        return store.Plan([op], Reply(204, {}))

    return store.run(decide, idem)


def rotate(who: Principal, webhook_id: str, idem: Idempotency | None) -> Reply:
    """201 `{secret}`: the new secret signs from now on, the current one for 24 h more."""
    secret = keys.new_secret()

    def decide(_: store.Fresh) -> store.Plan:
        item = load_own(who, webhook_id)
        now = clock.now()
        until = clock.iso(now + timedelta(hours=rules().webhook_secret_grace_hours))
        current = [e for e in _sealed(item) if e.get("until") is None]
        kept = [{**e, "until": until} for e in current[:1]]
        sealed = [{"sealed": keys.sealer().seal(secret, item.webhook_id), "until": None}, *kept]
        op = store.update(
            Webhook,
            item.audience,
            item.webhook_id,
            actions=[Webhook.secrets.set(json.dumps(sealed)), Webhook.updated_at.set(clock.iso(now))],
            condition=(Webhook.owner == item.owner) & (Webhook.updated_at == item.updated_at),
            label=LABEL,
        )
        # changed meanwhile (or deleted): decided again from a fresh read
        return store.Plan([op], Reply(201, {"secret": secret}), stored=Reply(201, {"secret": None}))

    return store.run(decide, idem)


def deliveries(who: Principal, webhook_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """The endpoint's deliveries, newest first."""
    item = load_own(who, webhook_id)
    return page(
        lambda **kw: Delivery.query(item.webhook_id, scan_index_forward=False, consistent_read=True, **kw),
        limit,
        cursor,
        {"webhook_id": item.webhook_id},
        delivery_body,
        keys=key_names(Delivery),
    )


def delivery_body(item: Delivery) -> dict[str, Any]:
    return {
        "event_id": item.event_id,
        "type": item.type,
        "status": item.status,
        "attempts": int(item.attempts or 0),
        "last_status_code": int(item.last_status_code) if item.last_status_code is not None else None,
        "next_attempt_at": item.next_attempt_at if item.status == "pending" else None,
        "created_at": item.created_at,
    }


# -- for the dispatcher and the sender ----------------------------------------------


def endpoints_for(audience: str, kind: str) -> list[Webhook]:
    """The enabled endpoints of an audience that take events of `kind`."""
    return [w for w in Webhook.query(audience, consistent_read=True) if w.status == ENABLED and kind in w.events]


def find(audience: str, webhook_id: str) -> Webhook | None:
    try:
        return Webhook.get(audience, webhook_id, consistent_read=True)
    except Webhook.DoesNotExist:
        return None


def disable(item: Webhook, reason: str) -> None:
    """Stop delivering to an endpoint (its receiver answered 410 Gone)."""
    now = clock.iso(clock.now())
    op = store.update(
        Webhook,
        item.audience,
        item.webhook_id,
        actions=[
            Webhook.status.set(DISABLED),
            Webhook.disabled_at.set(now),
            Webhook.disabled_reason.set(reason),
            Webhook.updated_at.set(now),
        ],
        condition=Webhook.status == ENABLED,
        label=LABEL,
    )
    done = Reply(200, {})
    store.run(lambda _: store.Plan([op], done, {LABEL: lambda old: done}))
