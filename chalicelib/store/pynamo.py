"""The only module that touches PynamoDB's private API (checked against
PynamoDB 6.1.0; `tests/unit/test_pynamo_bridge.py` fails loudly if an upgrade
changes any of it):

- `Model._get_connection` (overridden by `BoundModel` to bind lazily, and
  called on the base class to reach the connection of a model),
- `Connection.connection._client` (one shared botocore client for every table),
- `Model._serialize_keys` and `Connection.get_operation_kwargs` (raw request
  items for TransactWriteItems),
- `Model._get_schema` (table definitions for infra/ and the engine).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

if TYPE_CHECKING:
    from typing import Protocol

    from pynamodb.models import MetaProtocol

    class BoundMeta(MetaProtocol, Protocol):
        """A model's Meta here: PynamoDB's settings and the table's name without the prefix."""

        base_name: str


class BoundModel(Model):
    """A model bound to the configured table prefix and endpoint on first use."""

    Meta: BoundMeta
    _binder: Callable[[], None] | None = None

    @classmethod
    def _get_connection(cls) -> Any:
        if BoundModel._binder is not None:
            BoundModel._binder()
        return super()._get_connection()


def set_binder(binder: Callable[[], None]) -> None:
    """What every model calls before its first request (`store.bind`)."""
    BoundModel._binder = binder


def share_client(model: type[Model], client: Any) -> None:
    """Make `model` send its requests through `client` (reset first so a new
    table name, host or region is picked up)."""
    model._connection = None
    # PynamoDB's own method, not BoundModel's override (which would bind again)
    Model._get_connection.__func__(model).connection._client = client  # type: ignore[attr-defined]


def operation_kwargs(
    model_cls: type[Model],
    hash_key: Any,
    range_key: Any = None,
    *,
    actions: Sequence[Action] | None = None,
    condition: Condition | None = None,
    return_values_on_condition_failure: str | None = None,
) -> dict[str, Any]:
    """The raw request of an UpdateItem or ConditionCheck on one item."""
    hk, rk = model_cls._serialize_keys(hash_key, range_key)
    kwargs: dict[str, Any] = model_cls._get_connection().get_operation_kwargs(
        hk,
        range_key=rk,
        actions=list(actions) if actions else None,
        condition=condition,
        return_values_on_condition_failure=return_values_on_condition_failure,
    )
    return kwargs


def schema_of(model: type[Model]) -> Mapping[str, Any]:
    """Key schema, attribute definitions and indexes of a model's table."""
    schema: Mapping[str, Any] = model._get_schema()
    return schema
