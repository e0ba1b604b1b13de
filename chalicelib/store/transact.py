"""Batched reads and all-or-nothing writes.

Each write operation carries a `label`: what it means when its condition
fails (`"balance"`, `"stock"`, `"idempotency"` ...). When DynamoDB cancels a
transaction, `Cancelled` says which labels failed and with what item, so the
domain maps the cancellation to a precise error without another read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.store.binding import bind, client

M = TypeVar("M", bound=Model)
_FAIL_VALUES = "ALL_OLD"


@dataclass(frozen=True)
class Op:
    """One item of a TransactWriteItems request."""

    request: dict[str, Any]
    label: str


@dataclass
class Cancelled(Exception):
    """DynamoDB cancelled the transaction; `reasons` maps label -> (code, old item)."""

    reasons: dict[str, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)

    def failed(self, label: str) -> bool:
        """Whether the condition of the operation labelled `label` failed."""
        code, _ = self.reasons.get(label, ("", None))
        return code == "ConditionalCheckFailed"

    def old_item(self, label: str) -> dict[str, Any] | None:
        return self.reasons.get(label, ("", None))[1]

    @property
    def conflict(self) -> bool:
        """Another transaction touched one of our items at the same time."""
        return any(code == "TransactionConflict" for code, _ in self.reasons.values())

    def __str__(self) -> str:
        return f"transaction cancelled: {self.reasons}"


class InProgress(Exception):
    """The same client request token is being committed by another caller."""


class TokenReused(Exception):
    """The client request token was used within 10 minutes for different writes."""


def put(model: Model, *, condition: Condition | None = None, label: str = "") -> Op:
    bind()
    kwargs = model.get_save_kwargs_from_instance(condition=condition, return_values_on_condition_failure=_FAIL_VALUES)
    return Op({"Put": kwargs}, label or type(model).__name__)


def update(
    model_cls: type[Model],
    hash_key: Any,
    range_key: Any = None,
    *,
    actions: Sequence[Action],
    condition: Condition | None = None,
    label: str = "",
) -> Op:
    bind()
    hk, rk = model_cls._serialize_keys(hash_key, range_key)
    kwargs = model_cls._get_connection().get_operation_kwargs(
        hk,
        range_key=rk,
        actions=list(actions),
        condition=condition,
        return_values_on_condition_failure=_FAIL_VALUES,
    )
    return Op({"Update": kwargs}, label or model_cls.__name__)


def check(
    model_cls: type[Model],
    hash_key: Any,
    range_key: Any = None,
    *,
    condition: Condition,
    label: str,
) -> Op:
    bind()
    hk, rk = model_cls._serialize_keys(hash_key, range_key)
    kwargs = model_cls._get_connection().get_operation_kwargs(
        hk, range_key=rk, condition=condition, return_values_on_condition_failure=_FAIL_VALUES
    )
    return Op({"ConditionCheck": kwargs}, label)


def request_token(*parts: str) -> str:
    """A ClientRequestToken (<= 36 chars) derived from an idempotency key, so an
    SDK retry of a committed transaction is not applied twice by DynamoDB."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:36]


def commit(ops: Sequence[Op], token_seed: str | None = None) -> None:
    """Apply `ops` as one TransactWriteItems; raise `Cancelled` with the reasons.

    With a `token_seed` (an idempotency key, or "" when a condition pins the
    exact version the writes start from), the ClientRequestToken is derived
    from the seed and the writes: when the SDK retries after a timeout that hid
    the commit, DynamoDB answers success without applying it twice, while a
    recomputed attempt (fresh reads, different writes) gets a token of its own.
    """
    labels = [op.label for op in ops]
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in one transaction: {labels}")
    items = [op.request for op in ops]
    kwargs: dict[str, Any] = {"TransactItems": items}
    if token_seed is not None:
        kwargs["ClientRequestToken"] = request_token(token_seed, json.dumps(items, sort_keys=True, default=str))
    try:
        client().transact_write_items(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "TransactionCanceledException":
            reasons = exc.response.get("CancellationReasons") or []
            raise Cancelled(
                {
                    label: (reason.get("Code", ""), reason.get("Item"))
                    for label, reason in zip(labels, reasons, strict=False)
                    if reason.get("Code") not in (None, "None")
                }
            ) from exc
        if code == "TransactionInProgressException":
            raise InProgress() from exc
        if code == "IdempotentParameterMismatchException":
            raise TokenReused() from exc
        raise


def batch_get(
    keys: Iterable[tuple[type[M], Any, Any]], consistent: bool = True
) -> dict[tuple[type[M], Any, Any], M | None]:
    """Read items of several tables in one BatchGetItem (retrying unprocessed keys)."""
    bind()
    wanted = list(dict.fromkeys(keys))
    request: dict[str, dict[str, Any]] = {}
    lookup: dict[tuple[str, str], tuple[type[M], Any, Any]] = {}
    key_names: dict[str, list[str]] = {}
    for key in wanted:
        model_cls, hk, rk = key
        kwargs = model_cls.get_operation_kwargs_from_class(hk, rk)
        table, raw_key = kwargs["TableName"], kwargs["Key"]
        request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(raw_key)
        key_names[table] = sorted(raw_key)
        lookup[(table, _key_repr(raw_key))] = key
    found: dict[tuple[type[M], Any, Any], M | None] = dict.fromkeys(wanted)
    for chunk in _chunks(request, _BATCH_GET_LIMIT):
        while chunk:
            response = client().batch_get_item(RequestItems=chunk)
            for table, items in response.get("Responses", {}).items():
                for item in items:
                    key = lookup[(table, _key_repr({n: item[n] for n in key_names[table]}))]
                    found[key] = key[0].from_raw_data(item)
            chunk = response.get("UnprocessedKeys") or {}
    return found


_BATCH_GET_LIMIT = 100  # keys per BatchGetItem request


def _chunks(request: dict[str, dict[str, Any]], size: int) -> list[dict[str, dict[str, Any]]]:
    flat = [(table, key) for table, spec in request.items() for key in spec["Keys"]]
    chunks = []
    for start in range(0, len(flat), size):
        part: dict[str, dict[str, Any]] = {}
        for table, key in flat[start : start + size]:
            spec = request[table]
            part.setdefault(table, {"Keys": [], "ConsistentRead": spec["ConsistentRead"]})["Keys"].append(key)
        chunks.append(part)
    return chunks


def _key_repr(raw_key: dict[str, Any]) -> str:
    return repr(sorted((name, tuple(sorted(v.items()))) for name, v in raw_key.items()))
