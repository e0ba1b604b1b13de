"""The product's list cursors on the engine (`chalicelib.store.pages`): a cursor
is DynamoDB's LastEvaluatedKey, so a forged one reaches the engine as an
ExclusiveStartKey. DynamoDB refuses a key that does not fit the index (400,
mapped to "cursor is not valid."); moto 5.2.5 answers 500 (test_queries.py), so
the product must check a cursor's key names itself."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import ValidationError
from chalicelib.store import Voucher
from chalicelib.store.pages import encode, key_names, page

pytestmark = pytest.mark.engine

OWNER = "owner-cursors"


def _voucher(code: str, issued_at: str) -> None:
    Voucher(
        code,
        campaign_id="c1",
        partner_id="p1",
        msisdn="84961234567",
        owner_id=OWNER,
        shard=0,
        status="issued",
        title="t",
        issued_at=issued_at,
        expires_at="2027-01-01T00:00:00.000000Z",
        source="claim",
    ).save()


def _wallet_page(limit: int, cursor: str | None) -> dict[str, Any]:
    return page(
        lambda **kw: Voucher.by_owner.query(OWNER, scan_index_forward=False, **kw),
        limit,
        cursor,
        {"owner_id": OWNER},
        lambda v: v.code,
        keys=key_names(Voucher, "by-owner"),
    )


@pytest.fixture
def wallet(engine_tables: str) -> None:
    for day in (1, 2, 3):
        _voucher(f"CODE{day}", f"2026-11-0{day}T00:00:00.000000Z")


@pytest.mark.usefixtures("wallet")
def test_a_cursor_continues_where_the_page_stopped() -> None:
    first = _wallet_page(2, None)
    assert first["items"] == ["CODE3", "CODE2"] and first["next_cursor"]
    rest = _wallet_page(2, first["next_cursor"])
    assert rest == {"items": ["CODE1"], "next_cursor": None}


FORGED = [
    {"owner_id": {"S": OWNER}},  # the owner only: no sort key, no table key
    {"owner_id": {"S": OWNER}, "issued_at": {"S": "2026-11-02T00:00:00.000000Z"}},  # no table key
    {"owner_id": {"S": OWNER}, "code": {"S": "CODE2"}},  # no index sort key
]


@pytest.mark.usefixtures("wallet")
def test_a_cursor_whose_keys_do_not_fit_the_index_is_refused() -> None:
    """One test for the three shapes (each engine 500 costs botocore's retries)."""
    for forged in FORGED:
        with pytest.raises(ValidationError):
            _wallet_page(2, encode(forged))
