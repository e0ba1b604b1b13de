"""Table definitions derived from the models: used by the dev server, the
tests and `infra/` (which a test keeps equal to this)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.store import pynamo
from chalicelib.store.models import MODELS

if TYPE_CHECKING:
    from chalicelib.store.pynamo import BoundModel


def ttl_attribute(model: type[Model]) -> str | None:
    for attr in model.get_attributes().values():
        if isinstance(attr, TTLAttribute):
            return attr.attr_name
    return None


def stream_view(model: type[Model]) -> str | None:
    """What the model's change stream carries (None: the table has no stream)."""
    view = getattr(model.Meta, "stream_view_type", None)
    return view if isinstance(view, str) else None


def streamed_models() -> list[type[BoundModel]]:
    """The tables whose changes become events (chalicelib/events), in MODELS order."""
    return [model for model in MODELS if stream_view(model)]


def _key_schema(keys: list[dict[str, str]]) -> list[dict[str, str]]:
    ordered = sorted(keys, key=lambda k: k["KeyType"] != "HASH")
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def table_definition(model: type[BoundModel], prefix: str) -> dict[str, Any]:
    """The CreateTable request (boto3 shape) for one model."""
    schema = pynamo.schema_of(model)
    definition: dict[str, Any] = {
        "TableName": prefix + model.Meta.base_name,
        "KeySchema": _key_schema(schema["key_schema"]),
        "AttributeDefinitions": sorted(
            (
                {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                for a in schema["attribute_definitions"]
            ),
            key=lambda a: a["AttributeName"],
        ),
        "BillingMode": "PAY_PER_REQUEST",
    }
    for kind, field in (
        ("global_secondary_indexes", "GlobalSecondaryIndexes"),
        ("local_secondary_indexes", "LocalSecondaryIndexes"),
    ):
        indexes = [
            {
                "IndexName": index["index_name"],
                "KeySchema": _key_schema(index["key_schema"]),
                "Projection": {"ProjectionType": index["projection"]["ProjectionType"]},
            }
            for index in schema[kind]
        ]
        if indexes:
            definition[field] = sorted(indexes, key=lambda i: i["IndexName"])
    view = stream_view(model)
    if view:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    # dedupe attribute definitions (an attribute may key the table and an index)
    unique = {a["AttributeName"]: a for a in definition["AttributeDefinitions"]}
    definition["AttributeDefinitions"] = [unique[name] for name in sorted(unique)]
    return definition


def table_definitions(prefix: str) -> list[dict[str, Any]]:
    return [table_definition(model, prefix) for model in MODELS]


def create_tables(client: Any, prefix: str) -> list[str]:
    """Create the missing tables (and their TTL settings); return their names."""
    existing = set(client.list_tables().get("TableNames", []))
    paginated = client.get_paginator("list_tables")
    for page in paginated.paginate():
        existing.update(page.get("TableNames", []))
    created = []
    for model in MODELS:
        definition = table_definition(model, prefix)
        name = definition["TableName"]
        if name in existing:
            continue
        client.create_table(**definition)
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        ttl = ttl_attribute(model)
        if ttl:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})
        created.append(name)
    return created


def delete_tables(client: Any, prefix: str) -> None:
    for model in MODELS:
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=prefix + model.Meta.base_name)
