"""Batched reads and the raw all-or-nothing write.

Each write operation carries a `label`: what it means when its condition
fails (`"balance"`, `"stock"`, `"idempotency"` ...). When DynamoDB cancels a
transaction, `Cancelled` says which labels failed and with what old item
(every write asks for `ReturnValuesOnConditionCheckFailure=ALL_OLD`), so the
kernel (`store.kernel`) maps a cancellation to a precise answer without
another read. Use cases never call `send` themselves: they hand the kernel a
plan.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from pynamodb.attributes import Attribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.store import pynamo
from chalicelib.store.binding import bind, client

M = TypeVar("M", bound=Model)
_FAIL_VALUES = "ALL_OLD"
# cancellation reasons that mean "try again" rather than "no"
RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingError"}
)
_AMBIGUOUS_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "TransactionInProgressException"})


@dataclass(frozen=True)
class Op:
    """One item of a TransactWriteItems request."""

    request: dict[str, Any]
    label: str


@dataclass
class Cancelled(Exception):
    """DynamoDB cancelled the transaction; `reasons` maps label -> (code, old item)
    for every item whose part failed."""

    reasons: dict[str, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)

    def failed(self, label: str) -> bool:
        """Whether the condition of the operation labelled `label` failed."""
        code, _ = self.reasons.get(label, ("", None))
        return code == "ConditionalCheckFailed"

    def old_item(self, label: str) -> dict[str, Any] | None:
        return self.reasons.get(label, ("", None))[1]

    def code(self, label: str) -> str | None:
        return self.reasons[label][0] if label in self.reasons else None

    @property
    def retryable(self) -> bool:
        """Every failed part is a stale read, a conflict or throttling."""
        return all(code in RETRYABLE_REASONS or code == "ConditionalCheckFailed" for code, _ in self.reasons.values())

    def __str__(self) -> str:
        return f"transaction cancelled: { {label: code for label, (code, _) in self.reasons.items()} }"


class Throttled(Exception):
    """DynamoDB refused the request for capacity, after the SDK's own retries."""


class Ambiguous(Exception):
    """The request may or may not have been applied (a lost answer, a server error)."""


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
    kwargs = pynamo.operation_kwargs(
        model_cls,
        hash_key,
        range_key,
        actions=actions,
        condition=condition,
        return_values_on_condition_failure=_FAIL_VALUES,
    )
    return Op({"Update": kwargs}, label or model_cls.__name__)


def assign(
    model_cls: type[Model],
    hash_key: Any,
    range_key: Any = None,
    *,
    values: Mapping[str, Any],
    expected: Mapping[str, Any],
    label: str,
) -> Op:
    """An update setting each attribute of `values` (None: removing it), on the
    condition that each attribute of `expected` holds its value (attributes by
    their model names).

    What `update` builds from PynamoDB's actions and conditions, written
    directly: the balance item's update is in every accrual and claim, and
    PynamoDB's expression objects cost more there than the rest of the plan."""
    bind()
    attributes = model_cls.get_attributes()
    names: dict[str, str] = {}
    placeholders: dict[str, Any] = {}
    assignments: list[str] = []
    removals: list[str] = []
    for n, (name, value) in enumerate(values.items()):
        attribute = attributes[name]
        names[f"#u{n}"] = attribute.attr_name
        if value is None:
            removals.append(f"#u{n}")
        else:
            placeholders[f":u{n}"] = {attribute.attr_type: attribute.serialize(value)}
            assignments.append(f"#u{n} = :u{n}")
    checks: list[str] = []
    for n, (name, value) in enumerate(expected.items()):
        attribute = attributes[name]
        names[f"#c{n}"] = attribute.attr_name
        placeholders[f":c{n}"] = {attribute.attr_type: attribute.serialize(value)}
        checks.append(f"#c{n} = :c{n}")
    clauses = [f"SET {', '.join(assignments)}"] if assignments else []
    if removals:
        clauses.append(f"REMOVE {', '.join(removals)}")
    if not clauses:
        raise ValueError("an update must set or remove at least one attribute")
    request: dict[str, Any] = {
        "TableName": model_cls.Meta.table_name,
        "Key": _raw_key(attributes.values(), hash_key, range_key),
        "UpdateExpression": " ".join(clauses),
        "ExpressionAttributeNames": names,
        "ReturnValuesOnConditionCheckFailure": _FAIL_VALUES,
    }
    if checks:
        request["ConditionExpression"] = " AND ".join(checks)
    if placeholders:
        request["ExpressionAttributeValues"] = placeholders
    return Op({"Update": request}, label)


def _raw_key(attributes: Iterable[Attribute[Any]], hash_key: Any, range_key: Any) -> dict[str, Any]:
    key = {}
    for attribute in attributes:
        if attribute.is_hash_key or (attribute.is_range_key and range_key is not None):
            value = hash_key if attribute.is_hash_key else range_key
            key[attribute.attr_name] = {attribute.attr_type: attribute.serialize(value)}
    return key


def check(
    model_cls: type[Model],
    hash_key: Any,
    range_key: Any = None,
    *,
    condition: Condition,
    label: str,
) -> Op:
    return _conditional("ConditionCheck", model_cls, hash_key, range_key, condition, label)


def _conditional(
    kind: str, model_cls: type[Model], hash_key: Any, range_key: Any, condition: Condition, label: str
) -> Op:
    bind()
    kwargs = pynamo.operation_kwargs(
        model_cls, hash_key, range_key, condition=condition, return_values_on_condition_failure=_FAIL_VALUES
    )
    return Op({kind: kwargs}, label)


def delete(
    model_cls: type[Model],
    hash_key: Any,
    range_key: Any = None,
    *,
    condition: Condition,
    label: str,
) -> Op:
    """Delete one item, only if `condition` holds (a webhook endpoint removed by its owner)."""
    return _conditional("Delete", model_cls, hash_key, range_key, condition, label)


def error_code(exc: BaseException) -> str:
    """The DynamoDB error code of a botocore or PynamoDB exception ('' if none)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    cause = getattr(exc, "cause_response_code", None)
    return str(cause or "")


def conditional_write(write: Callable[[], object]) -> bool:
    """Run one single-item write of a model (`item.save(condition=...)`,
    `item.update(..., condition=...)`); False if its condition failed."""
    try:
        write()
    except (PutError, UpdateError) as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def transient(exc: BaseException) -> bool:
    """Whether a read's failure is worth trying again: a timeout, a dropped
    connection, throttling or a server error (also wrapped by PynamoDB)."""
    seen: BaseException | None = exc
    for _ in range(4):  # PynamoDB wraps the botocore error as its `cause`
        if seen is None:
            return False
        if isinstance(seen, HTTPClientError | BotocoreConnectionError | Throttled):
            return True
        code = error_code(seen)
        if code in THROTTLING_CODES or code in _AMBIGUOUS_CODES:
            return True
        seen = getattr(seen, "cause", None) or seen.__cause__
    return False


def send(ops: Sequence[Op], token: str | None = None) -> None:
    """One TransactWriteItems of `ops`; raises `Cancelled` (with the reasons by
    label), `Throttled` or `Ambiguous`."""
    labels = [op.label for op in ops]
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in one transaction: {labels}")
    kwargs: dict[str, Any] = {"TransactItems": [op.request for op in ops]}
    if token is not None:
        kwargs["ClientRequestToken"] = token
    try:
        client().transact_write_items(**kwargs)
    except ClientError as exc:
        code = error_code(exc)
        if code == "TransactionCanceledException":
            reasons = exc.response.get("CancellationReasons") or []
            raise Cancelled(
                {
                    # botocore-stubs types `Item` as {key, value}: it is the old item, attribute name -> value
                    label: (str(reason.get("Code", "")), cast("dict[str, Any] | None", reason.get("Item")))
                    for label, reason in zip(labels, reasons, strict=False)
                    if reason.get("Code") not in (None, "None")
                }
            ) from exc
        if code in THROTTLING_CODES:
            raise Throttled(code) from exc
        if code in _AMBIGUOUS_CODES:
            raise Ambiguous(code) from exc
        raise
    except (HTTPClientError, BotocoreConnectionError) as exc:  # a timeout or a dropped connection
        raise Ambiguous(type(exc).__name__) from exc


def batch_get(
    keys: Iterable[tuple[type[M], Any, Any]],
    consistent: bool = True,
    optional: Collection[tuple[type[M], Any, Any]] = (),
) -> dict[tuple[type[M], Any, Any], M | None]:
    """Read items of several tables in one BatchGetItem, asking again (with a
    jittered backoff) for the keys DynamoDB left unprocessed, except those in
    `optional`: an item too hot to read now comes back None, as if absent (the
    caller can do without it: a claim reads other inventory shards)."""
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
        for round_ in range(_UNPROCESSED_ROUNDS + 1):
            if round_:  # keys left unprocessed (throttled): back off before asking again, as DynamoDB asks
                time.sleep(random.uniform(0, _UNPROCESSED_BACKOFF_SECONDS * 2**round_))
            response = client().batch_get_item(RequestItems=chunk)
            for table, items in response.get("Responses", {}).items():
                for item in items:
                    key = lookup[(table, _key_repr({n: item[n] for n in key_names[table]}))]
                    found[key] = key[0].from_raw_data(item)
            chunk = _still_wanted(response.get("UnprocessedKeys") or {}, lookup, optional)
            if not chunk:
                break
        else:
            raise Throttled("BatchGetItem left keys unprocessed")
    return found


_BATCH_GET_LIMIT = 100  # keys per BatchGetItem request
# a read left partly unprocessed is asked again this many times (jittered, growing
# waits: up to 20, 40, 80 ms), then the caller sees it as throttled
_UNPROCESSED_ROUNDS = 3
_UNPROCESSED_BACKOFF_SECONDS = 0.01


def _still_wanted(
    unprocessed: dict[str, dict[str, Any]],
    lookup: dict[tuple[str, str], Any],
    optional: Collection[Any],
) -> dict[str, dict[str, Any]]:
    """The unprocessed keys to ask for again: all but the optional ones."""
    if not optional:
        return unprocessed
    wanted: dict[str, dict[str, Any]] = {}
    for table, spec in unprocessed.items():
        keys = [k for k in spec.get("Keys") or [] if lookup[(table, _key_repr(k))] not in optional]
        if keys:
            wanted[table] = {**spec, "Keys": keys}
    return wanted


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
