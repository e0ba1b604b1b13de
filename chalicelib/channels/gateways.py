"""Channel gateways: the operator's USSD and SMS centres (or an aggregator),
each with one key for one channel, shown once and stored only as its SHA-256
(like partners' keys). A replay with the same Idempotency-Key answers
`api_key: null`: the dedupe record never holds a key."""

from __future__ import annotations

import secrets

from chalicelib import clock, store
from chalicelib.auth import new_gateway_key
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.store import Gateway


def create_gateway(name: str, channel: str, idem: Idempotency | None) -> Reply:
    """201 `{gateway_id, name, channel, api_key}`."""
    gateway_id = "gw_" + secrets.token_hex(8)
    key, digest = new_gateway_key()
    item = Gateway(digest, gateway_id=gateway_id, name=name, channel=channel, created_at=clock.iso(clock.now()))
    op = store.put(item, condition=Gateway.key_hash.does_not_exist(), label="gateway")
    stored = Reply(201, {"gateway_id": gateway_id, "name": name, "channel": channel, "api_key": None})
    shown = Reply(201, {**stored.body, "api_key": key})
    return store.run(lambda _: store.Plan([op], shown, stored=stored), idem)
