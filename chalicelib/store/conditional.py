"""One conditional change of one item through the kernel, for the state
machines of the events pipeline (a delivery's attempts, a notification's
sending): True if it was made, False if the item had moved meanwhile (its
condition failed), which the caller reads as "someone else has it"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.models import Model

from chalicelib.idempotency import Reply
from chalicelib.store.kernel import Plan, run
from chalicelib.store.transact import update

_DONE, _MOVED = Reply(200, {}), Reply(409, {})


def change(
    model_cls: type[Model], hash_key: Any, range_key: Any, *, actions: Sequence[Any], condition: Any, label: str
) -> bool:
    op = update(model_cls, hash_key, range_key, actions=actions, condition=condition, label=label)
    return run(lambda _: Plan([op], _DONE, {label: lambda old: _MOVED})).status == _DONE.status
