"""The engine contract suite: every DynamoDB behaviour diem relies on, asserted
directly with boto3 against `engine_endpoint`.

That is the embedded engine (moto 5.2.5 made atomic) in `make test`, or
`DIEM_TEST_DYNAMODB_ENDPOINT` (an AWS sandbox, another engine). Where moto
differs from DynamoDB's documented behaviour, a test asserts the documented
behaviour on any other endpoint and moto's measured behaviour on moto, so a moto
upgrade that closes the gap fails here and is noticed (docs/engine.md lists the
differences and how the product avoids depending on them).

Tables are made once per module (creating a table on AWS takes seconds); each
test works in partitions of its own (`uid`), so tests never see each other's
items, also on a shared sandbox.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from engine_contract import NO_RETRIES, create_table


@pytest.fixture(scope="session")
def engine_is_moto(engine: Any) -> bool:
    """Whether the endpoint is moto: the embedded engine (no endpoint given), or
    a moto server someone pointed `DIEM_TEST_DYNAMODB_ENDPOINT` at (moto answers
    through werkzeug; AWS and DynamoDB Local do not)."""
    if not os.environ.get("DIEM_TEST_DYNAMODB_ENDPOINT"):
        return True
    headers = engine.list_tables(Limit=1)["ResponseMetadata"].get("HTTPHeaders", {})
    return "werkzeug" in headers.get("server", "").lower()


@pytest.fixture(scope="session")
def raw(engine_client_factory: Callable[..., Any]) -> Any:
    """A client that never retries, for asserting the engine's exact answers."""
    return engine_client_factory(NO_RETRIES)


@pytest.fixture(scope="module")
def tables(engine: Any) -> Iterator[dict[str, str]]:
    """`main`: pk+sk with the sparse KEYS_ONLY index `by-due` (due, sk);
    `other`: pk only, for reads across tables."""
    run = uuid.uuid4().hex[:8]
    made = {
        "main": create_table(engine, f"diem-contract-{run}-main"),
        "other": create_table(engine, f"diem-contract-{run}-other", range_key=False, gsi=False),
    }
    yield made
    for name in made.values():
        with contextlib.suppress(ClientError):
            engine.delete_table(TableName=name)


@pytest.fixture
def main(tables: dict[str, str]) -> str:
    return tables["main"]


@pytest.fixture
def other(tables: dict[str, str]) -> str:
    return tables["other"]


@pytest.fixture
def uid() -> str:
    """A partition prefix no other test (nor an earlier run on a sandbox) uses."""
    return uuid.uuid4().hex[:12]
