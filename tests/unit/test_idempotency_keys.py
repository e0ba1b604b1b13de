"""What an Idempotency-Key may be: 1 to 255 printable ASCII characters, no
space at either end; the OpenAPI document declares the same rule, so a
generated client (or the fuzzer) never sends a key the edge refuses."""

from __future__ import annotations

import pytest

from chalicelib import idempotency
from chalicelib.errors import ValidationError


@pytest.mark.parametrize("key", ["k", "till-42:redeem", "a b", "x" * 255, "~!@#$%^&*()"])
def test_keys_that_bind(key: str) -> None:
    bound = idempotency.key_for(key, "scope", {})
    assert bound is not None and len(bound.record_id) == 64


@pytest.mark.parametrize("key", ["", " ", " k", "k ", "x" * 256, "khóa", "k\tk", "k\x00"])
def test_keys_that_are_400(key: str) -> None:
    with pytest.raises(ValidationError, match="Idempotency-Key"):
        idempotency.key_for(key, "scope", {})


def test_the_document_declares_the_edges_rule() -> None:
    import app as app_module
    from chalicelib import wiring

    document = wiring.openapi_document(app_module.api.specs)
    headers = [
        p["schema"]
        for path in document["paths"].values()
        for op in path.values()
        for p in op.get("parameters", [])
        if p["name"] == "Idempotency-Key"
    ]
    assert headers and all(h["pattern"] == idempotency.KEY_PATTERN and h["maxLength"] == 255 for h in headers)
