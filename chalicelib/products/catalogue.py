"""The catalogue of network products (data packs, voice minutes, airtime)
priced in points, managed by marketers. A product is listed (the sparse
`listed` index) while it is active; an order reads it with the subscriber in
one BatchGetItem."""

from __future__ import annotations

import secrets
from typing import Any

from chalicelib import clock, store
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.store import Product
from chalicelib.store.pages import key_names, page

ACTIVE = "active"
LABEL = "product"


def body(item: Product) -> dict[str, Any]:
    return {
        "product_id": item.product_id,
        "name": item.name,
        "kind": item.kind,
        "sku": item.sku,
        "points_price": int(item.points_price),
        "validity_days": int(item.validity_days),
        "status": item.status,
        "created_at": item.created_at,
    }


def create_product(fields: dict[str, Any], idem: Idempotency | None) -> Reply:
    """A new active product (201); `fields` are ProductIn's."""
    item = Product(
        "prd_" + secrets.token_hex(10),
        name=fields["name"],
        kind=fields["kind"],
        sku=fields["sku"],
        points_price=fields["points_price"],
        validity_days=fields["validity_days"],
        status=ACTIVE,
        listed=ACTIVE,
        created_at=clock.iso(clock.now()),
    )
    op = store.put(item, condition=Product.product_id.does_not_exist(), label=LABEL)
    return store.run(lambda _: store.Plan([op], Reply(201, body(item))), idem)


def list_products(limit: int, cursor: str | None) -> dict[str, Any]:
    """The active catalogue, newest first."""
    return page(
        lambda **kw: Product.listed_index.query(ACTIVE, scan_index_forward=False, **kw),
        limit,
        cursor,
        {"listed": ACTIVE},
        body,
        keys=key_names(Product, "listed"),
    )


def orderable(item: Product | None) -> bool:
    return item is not None and item.status == ACTIVE


def data_packs(limit: int) -> list[Product]:
    """The newest active data packs (what the USSD menu offers): one Query of the listed catalogue."""
    found = Product.listed_index.query(ACTIVE, scan_index_forward=False, limit=limit * 2, page_size=limit * 2)
    return [item for item in found if item.kind == "data"][:limit]
