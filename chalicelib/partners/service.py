"""Partners and their API keys: a key is shown once and stored only as its
SHA-256; rotating gives a new key and leaves the old ones working for
`old_api_key_grace_hours`.

An idempotent replay of a key-issuing request answers with `api_key: null`:
the dedupe record keeps the response without the key, so no plaintext key is
ever stored; a caller that lost the key rotates again.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from chalicelib import clock, store
from chalicelib.auth import new_api_key
from chalicelib.config import rules
from chalicelib.errors import Conflict, NotFound
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.store import ApiKey, Partner

LABEL = "partner"
MAX_LIVE_KEYS = 20


def _with_key(ops: list[store.Op], stored: Reply, key: str) -> store.Plan:
    """A plan whose reply shows the new key once; the record keeps it without
    (a replay, or another request with this Idempotency-Key, never shows a key)."""
    return store.Plan(ops, Reply(stored.status, {**stored.body, "api_key": key}), stored=stored)


def create_partner(name: str, idem: Idempotency | None) -> Reply:
    """201 `{partner_id, name, api_key}`."""
    now = clock.iso(clock.now())
    partner_id = "p_" + secrets.token_hex(8)
    key, digest = new_api_key()
    ops = [
        store.put(
            Partner(partner_id, name=name, key_hashes=[digest], created_at=now),
            condition=Partner.partner_id.does_not_exist(),
            label=LABEL,
        ),
        store.put(
            ApiKey(digest, partner_id=partner_id, created_at=now),
            condition=ApiKey.key_hash.does_not_exist(),
            label="key",
        ),
    ]
    stored = Reply(201, {"partner_id": partner_id, "name": name, "api_key": None})
    return store.run(lambda _: _with_key(ops, stored, key), idem)


def rotate_key(partner_id: str, idem: Idempotency | None) -> Reply:
    """201 `{api_key}`; the partner's current keys expire in 24 h."""

    def decide(_: store.Fresh) -> store.Plan:
        try:
            partner = Partner.get(partner_id, consistent_read=True) if len(partner_id) <= 64 else None
        except Partner.DoesNotExist:
            partner = None
        if partner is None:
            raise NotFound("No such partner.")
        now = clock.now()
        found = store.batch_get((ApiKey, h, None) for h in partner.key_hashes or [])
        live = [k for k in found.values() if k is not None and (k.expires_at is None or k.expires_at > now)]
        if len(live) >= MAX_LIVE_KEYS:
            raise Conflict("Too many live keys; wait for rotated keys to expire.", "INVALID_STATE")
        grace = now + timedelta(hours=rules().old_api_key_grace_hours)
        key, digest = new_api_key()
        ops = [
            store.update(
                Partner,
                partner_id,
                actions=[Partner.key_hashes.set([*(k.key_hash for k in live), digest])],
                condition=Partner.key_hashes == list(partner.key_hashes or []),
                label=LABEL,
            ),
            store.put(
                ApiKey(digest, partner_id=partner_id, created_at=clock.iso(now)),
                condition=ApiKey.key_hash.does_not_exist(),
                label="key",
            ),
        ]
        for old in live:
            if old.expires_at is None or old.expires_at > grace:
                ops.append(
                    store.update(
                        ApiKey,
                        old.key_hash,
                        actions=[ApiKey.expires_at.set(grace)],
                        condition=ApiKey.key_hash.exists(),
                        label=f"old:{old.key_hash[:12]}",
                    )
                )
        return _with_key(ops, Reply(201, {"api_key": None}), key)

    return store.run(decide, idem)
